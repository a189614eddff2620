"""The run folder's file names, shared by the trainer and the light readers of run folders."""

from __future__ import annotations

import subprocess
import sys

import pytest

from iter.training.files import predictions_file


def test_predictions_file_names_the_two_kept_splits():
    assert predictions_file("dev") == "predictions-dev.json"
    assert predictions_file("test") == "predictions-test.json"
    with pytest.raises(ValueError, match="not 'train'"):
        predictions_file("train")


def test_the_names_load_without_torch():
    # compare_runs.py and the sweep summaries read run folders; the names must not pull in
    # the trainer (and torch) to be shared with it.
    code = "import sys, iter.training.files; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
