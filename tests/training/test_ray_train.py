"""Data-parallel training on Ray Train (2 local workers): model folder, identical weights, failures, errors."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from corpora import learnable_corpus, tiny_config

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when Ray is imported: bind 127.0.0.1
ray = pytest.importorskip("ray")


def test_clear_errors_for_cpus_and_addresses():
    from toolkit.core.errors import TrainingError
    from toolkit.training.distributed import RaySession

    with pytest.raises(TrainingError, match=r"--workers 64 needs 64 CPUs"):
        with RaySession(None, workers=64, num_cpus=2):
            pass
    t0 = time.perf_counter()
    with pytest.raises(TrainingError, match="did not answer within 2 s"):
        with RaySession("127.0.0.1:9", workers=1, connect_timeout=2):
            pass
    assert time.perf_counter() - t0 < 10
    with pytest.raises(TrainingError, match="HOST:PORT"):
        with RaySession("nonsense", workers=1):
            pass
    assert not ray.is_initialized()


def test_cli_refuses_more_workers_than_cpus(tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli.app import app

    data = learnable_corpus(tmp_path / "c.jsonl", n_per_label=10)
    result = CliRunner().invoke(app, ["train", "--engine", "ray", "--workers", "64", "--data", str(data),
                                      "--out", str(tmp_path / "m"), "--quiet"])
    assert result.exit_code == 1
    assert "--workers 64 needs 64 CPUs" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_ray_missing_names_the_extra(monkeypatch):
    import builtins

    from toolkit.core.errors import TrainingError
    from toolkit.training.distributed import import_ray

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(TrainingError, match=r"toolkit\[ray\]"):
        import_ray()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs, 127.0.0.1) for the module, always shut down."""
    from toolkit.training.distributed import RaySession

    with RaySession(None, workers=2, num_cpus=2):  # stops the Ray it started, even on failure
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        yield ray


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return learnable_corpus(tmp_path_factory.mktemp("corpus") / "c.jsonl", n_per_label=80)


@pytest.mark.slow
def test_two_workers_train_in_sync_and_write_an_exportable_folder(local_ray, corpus, tmp_path):
    from toolkit.training.distributed.ray_train import train_distributed
    from toolkit.training.export import export_model
    from toolkit.training.model_folder import read_model_dir

    out = tmp_path / "model"
    metrics = train_distributed(tiny_config(corpus, epochs=2), out, workers=2, progress=False, timeout=300,
                                storage=tmp_path / "ray")
    hashes = metrics["weight_hashes"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]  # both workers end with the same weights
    assert metrics["workers"] == 2 and metrics["epochs_run"] == 2 and metrics["accuracy"] > 0.7
    meta = read_model_dir(out)
    assert meta["training_engine"] == {"engine": "ray", "workers": 2}
    assert (out / "vocab.txt").read_text().splitlines()[:2] == ["<pad>", "<unk>"]
    bundle = export_model(out, tmp_path / "bundle")
    assert (bundle / "model.onnx").is_file() or any(bundle.glob("*.onnx"))
    assert not (tmp_path / "ray").exists()  # checkpoints removed after a successful run


def test_vocab_counted_on_ray_data_equals_the_local_count(local_ray, corpus):
    from toolkit.training.distributed.ray_data import count_vocab_ray
    from toolkit.training.streaming import count_vocab, resolve_sources

    config = tiny_config(corpus, **{"vocab.min_count": 2, "vocab.ngrams": 2})
    sources = resolve_sources(corpus)
    a = count_vocab_ray(config, sources, chunk_docs=30)
    b = count_vocab(config, sources)
    assert a.vocab.tokens == b.vocab.tokens
    np.testing.assert_array_equal(a.nb_weights(), b.nb_weights())


@pytest.mark.slow
def test_a_worker_that_dies_fails_the_run_with_its_error_quickly(local_ray, corpus, tmp_path):
    from toolkit.core.errors import TrainingError
    from toolkit.training.distributed.ray_train import train_distributed

    t0 = time.perf_counter()
    with pytest.raises(TrainingError) as info:
        train_distributed(tiny_config(corpus, epochs=2), tmp_path / "model", workers=2, progress=False,
                          timeout=240, storage=tmp_path / "ray", fault={"rank": 1, "epoch": 0, "step": 2})
    assert "\n" not in str(info.value) and "failed" in str(info.value)
    assert time.perf_counter() - t0 < 240
    assert not (tmp_path / "model").exists()  # nothing half-written
    assert not (tmp_path / "ray").exists() and not list(tmp_path.glob(".model.toolkit-tmp-*"))  # nor temp files


@pytest.mark.slow
def test_a_worker_that_dies_is_resumed_from_the_last_checkpoint(local_ray, corpus, tmp_path):
    from toolkit.training.distributed.ray_train import train_distributed

    # Killed in epoch 3 (epoch 1's checkpoint is registered by then; the last one may not be yet).
    metrics = train_distributed(tiny_config(corpus, epochs=3), tmp_path / "model", workers=2, progress=False,
                                timeout=300, storage=tmp_path / "ray", max_failures=1,
                                fault={"rank": 1, "epoch": 2, "step": 1})
    assert metrics["epochs_run"] == 3 and len(metrics["resumed_at_epochs"]) == 1
    assert metrics["resumed_at_epochs"][0] in (2, 3)  # restarted after epoch 1 or 2's checkpoint
    assert metrics["weight_hashes"][0] == metrics["weight_hashes"][1]
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["workers"] == 2


@pytest.mark.slow
def test_cli_trains_into_an_output_path_of_150_characters(corpus, tmp_path):
    """`toolkit train --engine ray` points $TMPDIR beside --out; Ray's session (and its AF_UNIX sockets, at
    most 107 bytes) must not follow it there. A fresh process: the module's own Ray is not reused."""
    import subprocess
    import sys
    from pathlib import Path

    room = 150 - len(str(tmp_path)) - len("/model") - 1
    out = tmp_path / ("p" * room) / "model"
    assert len(str(out)) == 150
    toolkit = Path(sys.executable).parent / "toolkit"
    result = subprocess.run([str(toolkit), "train", "--engine", "ray", "--workers", "2", "--data", str(corpus),
                             "--out", str(out), "--epochs", "1", "--batch-size", "16", "--set", "vocab.min_count=1",
                             "--set", "training.calibration=none", "--set", "training.short_text_words=0",
                             "--set", "training.max_len=40", "--quiet"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]  # no scratch or checkpoints left beside it
