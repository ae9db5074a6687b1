"""`toolkit serve` as a real server on 127.0.0.1: parity with `toolkit predict`, batching, shutdown.

Each test starts the server in a subprocess on a free port and stops it in a
``finally``; the texts are made from the shipped bundle's vocabulary, so no
corpus is needed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "toolkit" / "serving" / "models" / "default"
LABELS = ["NEGATIVE", "POSITIVE"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(*extra: str, ready_timeout: float = 60.0):
    """`toolkit serve` on 127.0.0.1:<free port>; yields (base url, Popen); always stopped."""
    port = free_port()
    cmd = [sys.executable, "-m", "toolkit.cli", "serve", str(BUNDLE), "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log", *extra]
    env = dict(os.environ, TOOLKIT_LOAD_PLUGINS="")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited with {proc.returncode}: {proc.stdout.read()[-2000:]}")
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the server was not ready within {ready_timeout:.0f} s")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def synthetic_reviews(n: int, words: tuple[int, int] = (50, 400), seed: int = 0) -> list[str]:
    """Reviews made of the bundle's own vocabulary (ids 2..3001), plus a few fixed texts."""
    vocab = [line.rstrip("\n") for line in (BUNDLE / "vocab.txt").open(encoding="utf-8")][2:3002]
    vocab = [w for w in vocab if w and "_" not in w]  # unigrams only
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(*words)))) for _ in range(n)]
    return texts


FIXED = ["A gripping, beautifully shot film.", "Dull, predictable and badly acted.", "", "  ", "Ça va \N{GRINNING FACE}"]


@pytest.fixture(scope="module")
def server():
    with running_server() as (url, proc):
        yield url


def probs_of(result: dict) -> list[float]:
    return [result["probabilities"][label] for label in LABELS]


def test_scores_over_http_equal_toolkit_predict(server, tmp_path):
    texts = FIXED + synthetic_reviews(40)
    response = httpx.post(server + "/v1/score", json={"texts": texts}, timeout=60)
    assert response.status_code == 200
    http = response.json()["results"]

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "toolkit.cli", "predict", str(BUNDLE), "--file", str(src),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reference = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(reference) == len(http) == len(texts)
    for ref, got in zip(reference, http):
        np.testing.assert_allclose(probs_of(got), probs_of(ref), atol=1e-6)
        assert got["label"] == ref["label"]


def test_concurrent_callers_get_their_own_answers_batched_together(server):
    from toolkit.serving.runtime import Runtime

    rt = Runtime.load(BUNDLE)
    callers, rounds = 32, 3
    texts = synthetic_reviews(callers * 2, words=(200, 600), seed=1)
    expected = rt.score(texts)
    failures: list[str] = []
    barrier = threading.Barrier(callers)

    def caller(k: int) -> None:
        mine = [2 * k, 2 * k + 1]
        with httpx.Client(base_url=server, timeout=60) as client:
            barrier.wait()
            for r in range(rounds):
                ids = [f"caller{k}-round{r}-{i}" for i in mine]
                response = client.post("/v1/score", json={"texts": [texts[i] for i in mine], "ids": ids})
                if response.status_code != 200:
                    failures.append(f"{k}: status {response.status_code}")
                    continue
                results = response.json()["results"]
                if [res["id"] for res in results] != ids:
                    failures.append(f"{k}: ids {[res['id'] for res in results]} != {ids}")
                for i, res in zip(mine, results):
                    if np.abs(np.array(probs_of(res)) - expected[i]).max() > 1e-6:
                        failures.append(f"{k}: wrong probabilities for text {i}")

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures[:5]

    metrics = httpx.get(server + "/metrics", timeout=10).text
    count = float(re.search(r"^toolkit_batch_requests_count (\S+)$", metrics, re.M).group(1))
    single = float(re.search(r'^toolkit_batch_requests_bucket\{le="1.0"\} (\S+)$', metrics, re.M).group(1))
    assert count - single > 0, "no onnxruntime call gathered more than one request"
    docs_count = float(re.search(r"^toolkit_batch_size_documents_count (\S+)$", metrics, re.M).group(1))
    up_to_two = float(re.search(r'^toolkit_batch_size_documents_bucket\{le="2.0"\} (\S+)$', metrics, re.M).group(1))
    assert docs_count - up_to_two > 0, "no onnxruntime call held more than one request's 2 documents"


def test_sigterm_lets_in_flight_requests_finish_and_refuses_new_ones():
    heavy = synthetic_reviews(200, words=(600, 1200), seed=2)
    n_requests = 6
    with running_server("--graceful-timeout", "60") as (url, proc):
        answers: list[tuple[int, int, float]] = []

        def slow_request() -> None:
            try:
                response = httpx.post(url + "/v1/score", json={"texts": heavy}, timeout=120)
                answers.append((response.status_code, len(response.json().get("results", [])), time.monotonic()))
            except httpx.HTTPError as exc:
                answers.append((-1, 0, time.monotonic()))
                print("slow request failed:", repr(exc))

        threads = [threading.Thread(target=slow_request) for _ in range(n_requests)]
        for t in threads:
            t.start()
        in_flight = 0
        deadline = time.monotonic() + 20
        while in_flight < n_requests and time.monotonic() < deadline:
            metrics = httpx.get(url + "/metrics", timeout=10).text
            match = re.search(r'^toolkit_http_requests_in_progress\{path="/v1/score"\} (\S+)$', metrics, re.M)
            in_flight = int(float(match.group(1))) if match else 0
            if answers:
                break
            time.sleep(0.01)
        assert in_flight >= 1, "no request was in flight"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            late = httpx.post(url + "/v1/score", json={"text": "too late"}, timeout=10)
            assert late.status_code == 503
            print("new request after SIGTERM: 503")
        except httpx.ConnectError:
            print("new request after SIGTERM: connection refused")  # the listening socket is closed
        for t in threads:
            t.join(120)
        assert proc.wait(timeout=60) == 0  # a clean stop
    print(f"in flight at SIGTERM: {in_flight}; answers after it: {[round(at - sent, 2) for _, _, at in answers]}")
    assert len(answers) == n_requests
    # Requests the server had started when SIGTERM came finish with their whole answer; one the server had not
    # started yet (still in the socket's queue when an early answer ended the wait above) gets 503, never a
    # broken connection or a partial answer.
    assert all(status in (200, 503) for status, _, _ in answers), answers
    finished = [(status, n, at) for status, n, at in answers if status == 200]
    assert all(n == len(heavy) for _, n, _ in finished), answers
    assert len(finished) >= in_flight, f"{in_flight} requests were in progress at SIGTERM: {answers}"
    assert any(at > sent for _, _, at in finished), "every request had finished before SIGTERM; nothing was in flight"


def test_two_workers_serve_through_the_environment_factory(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("k-123\n")
    texts = FIXED[:2]
    with running_server("--workers", "2", "--api-key-file", str(key_file), "--max-texts", "5") as (url, proc):
        assert httpx.post(url + "/v1/score", json={"texts": texts}, timeout=30).status_code == 401
        response = httpx.post(url + "/v1/score", json={"texts": texts}, headers={"X-API-Key": "k-123"}, timeout=30)
        assert response.status_code == 200 and len(response.json()["results"]) == 2
        limits = httpx.get(url + "/v1/model", headers={"Authorization": "Bearer k-123"}, timeout=30).json()["limits"]
        assert limits["max_texts"] == 5  # the settings reached the worker processes
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
