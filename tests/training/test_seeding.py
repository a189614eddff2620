"""seed_everything: seeded generators and, when asked, deterministic kernels (CUDA's included)."""

from __future__ import annotations

import os
import random

import pytest
import torch

from iter.training.run import seed_everything


@pytest.fixture
def restore_torch_flags(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    mem_efficient = torch.backends.cuda.mem_efficient_sdp_enabled()
    yield
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cuda.enable_mem_efficient_sdp(mem_efficient)


def test_deterministic_switches_off_the_nondeterministic_cuda_kernels(restore_torch_flags):
    seed_everything(3, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cuda.mem_efficient_sdp_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    # A later job of the same process (a multirun) that does not ask for determinism gets the
    # fast kernels back.
    seed_everything(3, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cuda.mem_efficient_sdp_enabled()


def test_a_workspace_the_user_set_is_kept(restore_torch_flags, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    seed_everything(1, deterministic=True)

    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_same_seed_same_draws(restore_torch_flags):
    seed_everything(7, deterministic=False)
    first = (random.random(), torch.rand(3))
    seed_everything(7, deterministic=False)
    second = (random.random(), torch.rand(3))
    assert first[0] == second[0] and torch.equal(first[1], second[1])
