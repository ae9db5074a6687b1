"""toolkit.core.atomic's one of each: the temporary-work scheme and its sweeps, write_json, refuse_existing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.core.atomic import (TEMP_MARK, refuse_existing, sweep_folder, sweep_stale, temp_path, temp_prefix,
                                 write_json)
from toolkit.core.errors import FetchError, OutputExistsError


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leftover(target: Path, pid: int, host: str | None = None) -> Path:
    """What a toolkit process ``pid`` (of ``host``, default this one) left beside ``target``."""
    name = temp_prefix(target).replace(f"-{os.getpid()}-", f"-{pid}-") + "abcd1234"
    if host is not None:
        name = f".{target.name}.{TEMP_MARK}-{pid}-{host}-abcd1234"
    path = target.parent / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("half")
    return path


# ---------------------------------------------------------------------------
# temporary work
# ---------------------------------------------------------------------------
def test_temp_path_names_work_in_the_scheme_creates_nothing_and_sweeps_dead_work(tmp_path):
    target = tmp_path / "reviews.parquet"
    stale = leftover(target, dead_pid())
    path = temp_path(target, ".part")
    assert path.parent == tmp_path and path.name.startswith(temp_prefix(target)) and path.suffix == ".part"
    assert not path.exists() and not stale.exists()
    assert temp_path(target) != temp_path(target)  # a new name each time


def test_sweeps_remove_only_dead_processes_work_of_this_host(tmp_path):
    target = tmp_path / "out" / "a.parquet"
    dead = leftover(target, dead_pid())
    live = leftover(target, os.getpid())
    other_host = leftover(target, dead_pid(), host="otherhost")
    other_target = leftover(tmp_path / "out" / "b.parquet", dead_pid())
    assert sweep_stale(target, dry_run=True) == [dead] and dead.exists()
    assert sweep_stale(target) == [dead] and not dead.exists()
    assert live.exists() and other_host.exists() and other_target.exists()


def test_sweep_folder_looks_in_sub_folders_but_not_into_hidden_ones(tmp_path):
    nested = leftover(tmp_path / "sub" / "deeper" / "x.parquet", dead_pid())
    top = leftover(tmp_path / "y.jsonl", dead_pid())
    hidden = leftover(tmp_path / ".git" / "z", dead_pid())
    live = leftover(tmp_path / "sub" / "w.parquet", os.getpid())
    assert sweep_folder(tmp_path, dry_run=True) == sorted([nested, top]) and nested.exists()
    assert sweep_folder(tmp_path) == sorted([nested, top])
    assert not nested.exists() and not top.exists() and hidden.exists() and live.exists()


# ---------------------------------------------------------------------------
# write_json
# ---------------------------------------------------------------------------
def test_write_json_bytes_are_those_model_json_always_had(tmp_path):
    # model.json's sha256 is recorded in the bundles exported from it: its bytes must not change.
    data = {"labels": ["NÉGATIF", "POSITIVE"], "max_len": 400, "nested": {"b": [1.5, None, True]}, "a": "\u2028"}
    write_json(tmp_path / "model.json", data)
    raw = (tmp_path / "model.json").read_bytes()
    assert raw == (json.dumps(data, indent=2) + "\n").encode("ascii")
    assert json.loads(raw) == data
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]  # written beside, renamed into place


def test_write_json_leaves_the_old_file_whole_when_it_fails(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"accuracy": 0.9})
    with pytest.raises(TypeError):
        write_json(path, {"accuracy": object()})
    assert json.loads(path.read_text()) == {"accuracy": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


# ---------------------------------------------------------------------------
# refuse_existing
# ---------------------------------------------------------------------------
def test_refuse_existing_says_what_to_do(tmp_path):
    path = tmp_path / "runs"
    refuse_existing(path, overwrite=False)  # absent: fine
    path.mkdir()
    refuse_existing(path, overwrite=True)
    with pytest.raises(OutputExistsError) as info:
        refuse_existing(path, overwrite=False, what="output folder")
    assert str(info.value).endswith(f"output folder {path} exists; pass --overwrite to replace it")
    with pytest.raises(OutputExistsError, match=r"exists; pass --overwrite to replace it, or choose another --out$"):
        refuse_existing(path, overwrite=False, another="--out")
    with pytest.raises(OutputExistsError, match=r"\(1 of 2 outputs exist\); pass --resume to skip finished inputs "
                                                r"or --overwrite to replace them$"):
        refuse_existing(path, False, problem="exists (1 of 2 outputs exist)", or_pass="--resume to skip finished "
                        "inputs", replace="them")
    with pytest.raises(FetchError, match="is not a folder; pass --overwrite"):
        refuse_existing(path, False, problem="is not a folder", error=FetchError)


def test_refuse_existing_counts_a_broken_link(tmp_path):
    link = tmp_path / "out.jsonl"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        refuse_existing(link, overwrite=False)
