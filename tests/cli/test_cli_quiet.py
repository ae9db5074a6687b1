"""The training commands keep TensorFlow's native start-up lines off the terminal unless --verbose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpora import learnable_corpus

NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard")


def _toolkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TOOLKIT_VERBOSE")}
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@pytest.mark.slow
def test_train_and_export_print_no_tensorflow_noise_unless_verbose(tmp_path):
    data = learnable_corpus(tmp_path / "reviews.jsonl", n_per_label=20)
    common = ["--data", str(data), "--set", "training.epochs=1", "--set", "vocab.min_count=1", "--quiet"]
    quiet = _toolkit("train", "--out", str(tmp_path / "m"), *common, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "test accuracy" in quiet.stdout
    assert not [line for line in quiet.stderr.splitlines() if any(n in line for n in NOISE)], quiet.stderr

    exported = _toolkit("export", str(tmp_path / "m"), "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert not [line for line in exported.stderr.splitlines() if any(n in line for n in NOISE)], exported.stderr

    loud = _toolkit("--verbose", "train", "--out", str(tmp_path / "m2"), *common, cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert any(n in loud.stderr for n in NOISE), "--verbose should let TensorFlow's own lines through"
