"""`toolkit score`'s temporary files, with real processes: a SIGKILLed run's work is removed by `toolkit clean`
and by the next run to the same --out; a run started beside a live one never removes the live run's work.

The run under test is the real command line in its own process, held (by a hook patched in before the
CLI starts) after its first written chunk until the test creates a gate file: its temporary output then
exists for as long as the test needs, on any machine, however fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from toolkit.core.atomic import TEMP_MARK  # noqa: E402
from toolkit.serving.runtime import Runtime  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "toolkit" / "serving" / "models" / "default"
WORDS = ["wonderful", "awful", "moving", "dull", "brilliant", "boring", "great", "terrible", "fine", "bad"]

#: `python -c HELD score ...`: toolkit's CLI with FileSink.write waiting, after the first chunk, for $GATE
#: (at most 120 s, so a process the test failed to kill cannot hang for ever).
HELD = """
import os, sys, time
from toolkit.serving.scoring import io

real_write = io.FileSink.write

def held_write(self, table):
    if self.rows:  # the temporary file exists: wait to be released
        deadline = time.monotonic() + 120
        while not os.path.exists(os.environ["GATE"]) and time.monotonic() < deadline:
            time.sleep(0.02)
    real_write(self, table)

io.FileSink.write = held_write
from toolkit.cli.app import main
main()
"""


def write_reviews(path: Path, n: int, offset: int = 0) -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    texts = [f"review {offset + i}: a {WORDS[i % 10]} and {WORDS[(i * 3 + 1) % 10]} film" for i in range(n)]
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": offset + i, "text": text}) + "\n")
    return texts


def env(gate: Path) -> dict[str, str]:
    return dict(os.environ, GATE=str(gate), PYTHONHASHSEED="0", TOOLKIT_LOAD_PLUGINS="")


def start_held(inputs: Path, out: Path, gate: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-c", HELD, "score", "default", str(inputs), "--out", str(out), "--batch-size", "100",
           "--no-progress"]
    return subprocess.Popen(cmd, env=env(gate), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def toolkit(*args: object, gate: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *map(str, args)], env=env(gate), capture_output=True,
                          text=True, timeout=timeout)


def temp_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if TEMP_MARK in p.name)


def wait_for_temp(out: Path, proc: subprocess.Popen, timeout: float = 120) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = temp_files(out)
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no temporary output appeared (exit {proc.poll()}): {stop(proc)}")


def stop(proc: subprocess.Popen) -> str:
    """Kill ``proc`` if it still runs; its stderr."""
    if proc.poll() is None:
        proc.kill()
    try:
        return proc.communicate(timeout=60)[1] or ""
    except subprocess.TimeoutExpired:
        return "(no output)"


def assert_scored(path: Path, texts: list[str], first_id: int = 0) -> None:
    table = pq.read_table(path)
    assert table.column("id").to_pylist() == list(range(first_id, first_id + len(texts)))
    probs = np.stack([table.column("p_NEGATIVE").to_numpy(), table.column("p_POSITIVE").to_numpy()], axis=1)
    assert np.abs(probs - Runtime.load(BUNDLE).score(texts)).max() <= 1e-6


@pytest.mark.parametrize("sweeper", ["toolkit clean", "the next run"])
def test_a_killed_runs_work_is_removed(tmp_path, sweeper):
    inputs = tmp_path / "in"
    texts = write_reviews(inputs / "sub" / "reviews.jsonl", 2000)  # output: OUT/sub/reviews.parquet
    out, gate = tmp_path / "out", tmp_path / "gate"  # the gate is never opened: the run is held until killed
    proc = start_held(inputs, out, gate)
    try:
        left = wait_for_temp(out, proc)
        proc.kill()  # SIGKILL: nothing in the process can clean up
        proc.wait(timeout=60)
    finally:
        stop(proc)
    assert [p.parent for p in left] == [out / "sub"]
    assert all(p.name.startswith(f".reviews.parquet.{TEMP_MARK}-{proc.pid}-") for p in left), left
    assert temp_files(out) == left and not (out / "sub" / "reviews.parquet").exists()

    if sweeper == "toolkit clean":
        dry = toolkit("clean", out, "--dry-run", gate=gate)
        assert dry.returncode == 0 and f"would remove: {left[0]}" in dry.stdout and temp_files(out) == left
        cleaned = toolkit("clean", out, gate=gate)
        assert cleaned.returncode == 0, cleaned.stderr
        assert "removed 1 leftover" in cleaned.stdout and temp_files(out) == []
    else:
        again = toolkit("score", "default", inputs, "--out", out, "--no-progress", gate=gate)
        assert again.returncode == 0, again.stderr
        assert temp_files(out) == []
        assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
            ["_SUCCESS", "sub/reviews.parquet"]
        assert_scored(out / "sub" / "reviews.parquet", texts)


def test_a_run_beside_a_live_one_never_removes_its_work(tmp_path):
    # Two inputs named alike in different folders: both runs write OUT/reviews.parquet, so the second one's
    # sweep looks at exactly the names the live run's temporary output has.
    texts = write_reviews(tmp_path / "big" / "reviews.jsonl", 2000)
    write_reviews(tmp_path / "small" / "reviews.jsonl", 30, offset=10_000)
    out, gate = tmp_path / "out", tmp_path / "gate"
    live = start_held(tmp_path / "big" / "reviews.jsonl", out, gate)
    try:
        work = wait_for_temp(out, live)
        second = toolkit("score", "default", tmp_path / "small" / "reviews.jsonl", "--out", out, "--no-progress",
                         gate=gate)
        assert second.returncode == 0, second.stderr
        assert live.poll() is None, stop(live)
        assert all(p.exists() for p in work), work  # the second run swept, and left the live run's work
        cleaned = toolkit("clean", out, gate=gate)  # the sweeping code in a third process
        assert cleaned.returncode == 0 and "removed 0 leftovers" in cleaned.stdout, cleaned.stdout
        assert live.poll() is None and all(p.exists() for p in work)
        gate.touch()
        _, stderr = live.communicate(timeout=180)
        assert live.returncode == 0, stderr
    finally:
        stop(live)
    assert temp_files(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "reviews.parquet"]
    assert_scored(out / "reviews.parquet", texts)  # the live run's whole output, renamed into place last
