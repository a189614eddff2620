"""A run records the version of the code it runs, not of the checkout at the time."""

from __future__ import annotations

import torch

from iter.training import environment


def test_commit_is_the_one_loaded_even_if_the_checkout_moves_on(monkeypatch):
    loaded = environment.code_version()
    # Later jobs of a multirun share the process, and so the code imported at its start.
    monkeypatch.setattr(
        environment, "_git", lambda *args: "f" * 40 if args[0] == "rev-parse" else ""
    )
    recorded = environment.run_environment(torch.device("cpu"))
    assert (recorded["git_commit"], recorded["git_dirty"]) == loaded
    assert recorded["git_commit"] != "f" * 40
