"""Ray across hosts: a head and a worker node in two namespaces, every command driven from a third.

The inputs, outputs and corpus are in the shared storage; the bundle is in the driver's own /tmp,
which no worker sees (it travels as bytes). Each test checks that nothing is left behind: no
toolkit temporary work in any host's /tmp nor in the shared storage, no toolkit process.
"""

from __future__ import annotations

import json
import shutil
import sys
import time

import pytest

from harness import (DAEMON_FILES, DEFAULT_BUNDLE, REPO, assert_clean, assert_no_job_processes, one_line_error,
                     ray_status, score_across_hosts, start_ray_node, toolkit)
from hosts import wait_for
TRAIN = ["--epochs", "2", "--batch-size", "16", "--embedding", "learned", "--set", "vocab.min_count=1",
         "--set", "training.max_len=40", "--set", "training.calibration=none",
         "--set", "training.short_text_words=0", "--quiet"]


def test_score_across_hosts_equals_predict(cluster, ray_cluster, review_texts, tmp_path):
    driver, address = ray_cluster["driver"], ray_cluster["address"]
    score_across_hosts(cluster, driver, review_texts, tmp_path, "scored-ray", "--engine", "ray", "--address", address)


def test_score_refuses_paths_the_workers_cannot_see(cluster, ray_cluster):
    driver, address = ray_cluster["driver"], ray_cluster["address"]
    shared_in = str(cluster.shared / "reviews" / "reviews.jsonl")
    shutil.copy(shared_in, driver.tmp / "mine.jsonl")
    shutil.copytree(DEFAULT_BUNDLE, driver.tmp / "bundle")
    try:
        t0 = time.monotonic()
        error = one_line_error(toolkit(driver, "score", "default", shared_in, "--engine", "ray", "--address",
                                       address, "--out", "/tmp/scored"))
        assert "output folder (--out) /tmp/scored does not exist on the cluster's node" in error, error
        assert list((driver.tmp / "scored").iterdir()) == []  # no marker, no temporary output left
        shutil.rmtree(driver.tmp / "scored")
        error = one_line_error(toolkit(driver, "score", "default", "/tmp/mine.jsonl", "--engine", "ray",
                                       "--address", address, "--out", str(cluster.shared / "scored-x")))
        assert "input file /tmp/mine.jsonl cannot be read on the cluster's node" in error, error
        error = one_line_error(toolkit(driver, "score", "/tmp/bundle", shared_in, "--engine", "ray", "--address",
                                       address, "--out", str(cluster.shared / "scored-x"), "--ship", "path",
                                       "--overwrite"))
        assert "bundle /tmp/bundle cannot be read on the cluster's node" in error and "--ship bytes" in error
        assert time.monotonic() - t0 < 120
    finally:
        (driver.tmp / "mine.jsonl").unlink()
        shutil.rmtree(driver.tmp / "bundle")
        shutil.rmtree(cluster.shared / "scored-x", ignore_errors=True)
    assert_clean(cluster)


@pytest.fixture(scope="module")
def corpus(cluster):
    sys.path.insert(0, str(REPO / "tests"))
    from corpora import learnable_corpus

    return learnable_corpus(cluster.shared / "corpus.jsonl", n_per_label=80)


def test_train_across_hosts_gives_an_exportable_folder_and_one_set_of_weights(cluster, ray_cluster, corpus):
    driver, address = ray_cluster["driver"], ray_cluster["address"]
    # One CPU on the head, one on the worker, none on the driver: the two workers are on two hosts.
    assert sorted(ray_status(driver, address).values()) == [0, 1, 1]
    # The model folder is written by the driver alone (here on its own disk); the checkpoints, written by
    # rank 0 on whichever host it runs and read back by the driver, go to the shared storage.
    checkpoints = cluster.shared / "checkpoints"
    result = toolkit(driver, "train", "--engine", "ray", "--workers", "2", "--address", address, "--data",
                     str(corpus), "--out", "/tmp/model", "--storage", str(checkpoints), *TRAIN, timeout=420)
    assert result.returncode == 0, result.stderr[-4000:]
    try:
        metrics = json.loads((driver.tmp / "model" / "metrics.json").read_text())
        assert metrics["workers"] == 2 and metrics["epochs_run"] == 2
        assert len(metrics["weight_hashes"]) == 2 and metrics["weight_hashes"][0] == metrics["weight_hashes"][1]
        exported = toolkit(driver, "export", "/tmp/model", "--out", "/tmp/model-bundle", timeout=300)
        assert exported.returncode == 0, exported.stderr[-4000:]
        assert (driver.tmp / "model-bundle" / "bundle.json").is_file()
        assert not checkpoints.exists()  # the run's checkpoints removed at the end
    finally:
        shutil.rmtree(driver.tmp / "model", ignore_errors=True)
        shutil.rmtree(driver.tmp / "model-bundle", ignore_errors=True)
    assert_clean(cluster)
    assert_no_job_processes(cluster)


def test_train_refuses_files_and_checkpoints_the_workers_cannot_see(cluster, ray_cluster, corpus):
    driver, address = ray_cluster["driver"], ray_cluster["address"]
    train = ["train", "--engine", "ray", "--workers", "2", "--address", address, *TRAIN]
    error = one_line_error(toolkit(driver, *train, "--data", str(corpus), "--out", "/tmp/model"))
    assert "checkpoint folder /tmp/.model.toolkit-tmp-" in error and "--storage" in error, error
    shutil.copy(corpus, driver.tmp / "mine.jsonl")
    try:
        error = one_line_error(toolkit(driver, *train, "--data", "/tmp/mine.jsonl", "--out",
                                       str(cluster.shared / "model-x")))
        assert "training file /tmp/mine.jsonl cannot be read on the cluster's node" in error, error
    finally:
        (driver.tmp / "mine.jsonl").unlink()
    assert not (driver.tmp / "model").exists() and not (cluster.shared / "model-x").exists()
    assert_clean(cluster)


def test_a_worker_host_that_dies_fails_the_run_in_one_line(cluster, ray_cluster, corpus):
    driver, worker, head, address = (ray_cluster[k] for k in ("driver", "worker", "head", "address"))
    out = cluster.shared / "killed"
    log = cluster.base / "logs" / "train-killed.log"
    proc = driver.start(["toolkit", "train", "--engine", "ray", "--workers", "2", "--address", address, "--data",
                         str(corpus), "--out", str(out), "--timeout", "300", *TRAIN, "--epochs", "40"],
                        "train-killed.log")
    try:
        wait_for(lambda: list(cluster.shared.glob(".killed.toolkit-tmp-*/*/checkpoint_*")) or proc.poll() is not None,
                 300, "the first checkpoint")
        assert proc.poll() is None, log.read_text()[-3000:]
        worker.crash()  # the machine goes down: every process at once
        proc.wait(timeout=360)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert proc.returncode != 0
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], "\n".join(lines[-30:])
    assert "data-parallel training failed" in errors[0]
    assert not out.exists()
    # The worker host is down; everything else is clean (the head's workers' scratch swept by the driver).
    assert not [p.name for p in cluster.shared.iterdir() if p.name.startswith(".killed.")]
    assert set(head.tmp_entries()) <= DAEMON_FILES and set(driver.tmp_entries()) <= DAEMON_FILES
    # The machine comes back: its node rejoins, and the next run sweeps what its dead workers left.
    start_ray_node(worker, head, 1)
    wait_for(lambda: len(ray_status(driver, address)) == 3, 120, "the worker node back")


def test_cross_validation_across_hosts(cluster, ray_cluster, corpus):
    """Tune's trials report to the driver and keep no checkpoints: its storage and the results may stay on
    the driver's own disk. The folder of the worker that died in the test before is swept by this run."""
    driver, address = ray_cluster["driver"], ray_cluster["address"]
    result = toolkit(driver, "train", "--cv", "3", "--engine", "ray", "--address", address, "--data", str(corpus),
                     "--out", "/tmp/cv", *TRAIN, "--epochs", "1", timeout=420)
    assert result.returncode == 0, result.stderr[-4000:]
    try:
        cv = json.loads((driver.tmp / "cv" / "cv.json").read_text())
        assert cv["engine"] == "ray" and sorted(f["fold"] for f in cv["folds"]) == [0, 1, 2]
        assert sum(f["n_test"] for f in cv["folds"]) == 160
    finally:
        shutil.rmtree(driver.tmp / "cv", ignore_errors=True)
    assert_clean(cluster)
    assert_no_job_processes(cluster)
