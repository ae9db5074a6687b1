"""`toolkit serve`'s contract through FastAPI's TestClient, the micro-batcher and the settings.

No port is opened here (tests/serving/test_http_server.py starts a real server).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from toolkit.core.errors import BundleError, ConfigError  # noqa: E402
from toolkit.serving.http import ServeSettings, create_app  # noqa: E402
from toolkit.serving.http.batcher import BatcherBusy, BatcherClosed, MicroBatcher  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "toolkit" / "serving" / "models" / "default"
TEXTS = [
    "A gripping, beautifully shot film with a superb cast.",
    "Two hours I will never get back; dull, predictable and badly acted.",
    "",
    "   ",
    "Ça commence mal, but the ending is wonderful \N{GRINNING FACE}.",
]


@pytest.fixture(scope="module")
def runtime():
    from toolkit.serving.runtime import Runtime

    return Runtime.load(BUNDLE)


@pytest.fixture
def client_for():
    """``client_for(**settings)`` -> a started TestClient; every one is closed (batcher stopped) afterwards."""
    opened = []

    def make(**settings):
        client = TestClient(create_app(BUNDLE, ServeSettings(**settings)))
        client.__enter__()
        opened.append(client)
        return client

    try:
        yield make
    finally:
        for client in opened:
            client.__exit__(None, None, None)


@pytest.fixture
def client(client_for):
    return client_for()


def metric_values(text: str) -> dict[tuple, float]:
    """``{(sample name, sorted label items): value}`` from Prometheus text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


# ---------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------
def test_score_texts_in_order_equal_the_runtime(client, runtime):
    response = client.post("/v1/score", json={"texts": TEXTS})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "default"
    assert body["labels"] == runtime.labels
    assert len(body["results"]) == len(TEXTS)
    expected = runtime.score(TEXTS)
    for row, result in zip(expected, body["results"]):
        got = np.array([result["probabilities"][label] for label in runtime.labels])
        np.testing.assert_allclose(got, row, atol=1e-6)
        assert result["label"] == runtime.labels[int(np.argmax(row))]
        assert "id" not in result


def test_single_text_and_ids_are_echoed(client, runtime):
    one = client.post("/v1/score", json={"text": TEXTS[0]}).json()["results"]
    assert len(one) == 1 and one[0]["label"] == runtime.predict(TEXTS[0])[0]["label"]
    ids = ["a", 7, "c"]
    results = client.post("/v1/score", json={"texts": TEXTS[:3], "ids": ids}).json()["results"]
    assert [r["id"] for r in results] == ids


def test_empty_list_gives_empty_results(client):
    response = client.post("/v1/score", json={"texts": []})
    assert response.status_code == 200 and response.json()["results"] == []


# ---------------------------------------------------------------------------
# malformed input: 422 naming the field
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("payload, field", [
    ({"text": 3}, "text"),
    ({"texts": "not a list"}, "texts"),
    ({"texts": ["ok", 5]}, "texts.1"),
    ({"texts": ["ok"], "ids": [None]}, "ids"),
    ({"txt": ["typo"]}, "txt"),
    ({"texts": ["a"], "explain": "yes"}, "explain"),
])
def test_wrong_types_are_422_naming_the_field(client, payload, field):
    response = client.post("/v1/score", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert body["message"].startswith(field + ":") or f"; {field}:" in body["message"], body
    assert any(".".join(str(x) for x in err["loc"][1:]) == field for err in body["detail"])


@pytest.mark.parametrize("payload, words", [
    ({}, "exactly one of 'text'"),
    ({"text": "a", "texts": ["b"]}, "exactly one of 'text'"),
    ({"texts": ["a", "b"], "ids": [1]}, "'ids' has 1 items but there are 2 texts"),
])
def test_inconsistent_requests_are_422(client, payload, words):
    response = client.post("/v1/score", json=payload)
    assert response.status_code == 422 and words in response.json()["message"]


def test_malformed_json_is_422(client):
    response = client.post("/v1/score", content=b'{"texts": ["a",', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["message"]


def test_explain_is_refused_until_supported(client):
    response = client.post("/v1/score", json={"texts": ["a"], "explain": True})
    assert response.status_code == 422 and "explain" in response.json()["detail"]


# ---------------------------------------------------------------------------
# limits: 413 naming the limit
# ---------------------------------------------------------------------------
def test_limits_give_413_naming_the_limit(client_for):
    client = client_for(max_texts=3, max_chars=50, max_body_bytes=2000, max_queue_docs=100)
    many = client.post("/v1/score", json={"texts": ["a"] * 4})
    assert many.status_code == 413 and "max_texts is 3" in many.json()["detail"]
    long = client.post("/v1/score", json={"texts": ["short", "x" * 51]})
    assert long.status_code == 413
    assert "texts[1] has 51 characters" in long.json()["detail"] and "max_chars is 50" in long.json()["detail"]
    big = client.post("/v1/score", json={"text": "word " * 1000})
    assert big.status_code == 413 and "max_body_bytes is 2000" in big.json()["detail"]

    def chunks():  # no Content-Length: counted while read
        for _ in range(10):
            yield b" " * 500

    chunked = client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and "max_body_bytes" in chunked.json()["detail"]
    ok = client.post("/v1/score", json={"texts": ["fine", "y" * 50]})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 2


# ---------------------------------------------------------------------------
# API key
# ---------------------------------------------------------------------------
def test_api_key_is_enforced(client_for, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key\n")
    client = client_for(api_key_file=str(key_file))
    payload = {"text": "fine"}
    missing = client.post("/v1/score", json=payload)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "API key" in missing.json()["detail"]
    assert client.post("/v1/score", json=payload, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/v1/score", json=payload, headers={"X-API-Key": "s3cret-ke"}).status_code == 401
    assert client.post("/v1/score", json=payload, headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
    assert client.post("/v1/score", json=payload, headers={"X-API-Key": "s3cret-key"}).status_code == 200
    assert client.get("/v1/model").status_code == 401
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "s3cret-key"}).status_code == 200
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


@pytest.mark.parametrize("content", ["", "  \n"])
def test_empty_api_key_file_is_refused(tmp_path, content):
    key_file = tmp_path / "key"
    key_file.write_text(content)
    with pytest.raises(ConfigError, match="is empty"):
        create_app(BUNDLE, ServeSettings(api_key_file=str(key_file)))


# ---------------------------------------------------------------------------
# metadata, probes, metrics, OpenAPI
# ---------------------------------------------------------------------------
def test_model_metadata(client_for):
    client = client_for(max_texts=10)
    info = client.get("/v1/model").json()
    assert info["labels"] == ["NEGATIVE", "POSITIVE"]
    assert info["architecture"]["name"] == "cnn"
    assert info["model_sha256"] == hashlib.sha256((BUNDLE / "model.onnx").read_bytes()).hexdigest()
    recorded = json.loads((BUNDLE / "bundle.json").read_text())
    assert info["calibration"] == recorded["calibration"] and info["bundle_id"] == recorded["bundle_id"]
    assert info["limits"]["max_texts"] == 10 and info["limits"]["batching"] is True
    from toolkit import __version__

    assert info["server_version"] == __version__


def test_probes_and_draining(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    client.app.state.service.begin_drain()
    assert client.get("/readyz").status_code == 503
    refused = client.post("/v1/score", json={"text": "late"})
    assert refused.status_code == 503 and "shutting down" in refused.json()["detail"]
    assert client.get("/healthz").status_code == 200


def test_metrics_in_prometheus_format_per_app(client_for):
    first, second = client_for(), client_for()  # two apps in one process: separate registries
    assert first.post("/v1/score", json={"texts": TEXTS[:2]}).status_code == 200
    assert first.post("/v1/score", json={"text": 1}).status_code == 422
    response = first.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = metric_values(response.text)
    assert values[("toolkit_http_requests_total", (("path", "/v1/score"), ("status", "200")))] == 1
    assert values[("toolkit_http_requests_total", (("path", "/v1/score"), ("status", "422")))] == 1
    assert values[("toolkit_documents_scored_total", ())] == 2
    assert values[("toolkit_batch_size_documents_count", ())] == 1
    assert values[("toolkit_batch_size_documents_sum", ())] == 2
    assert values[("toolkit_http_request_duration_seconds_count", (("path", "/v1/score"),))] == 2
    assert values[("toolkit_scoring_errors_total", ())] == 0
    assert first.get("/no/such/path").status_code == 404
    assert ("toolkit_http_requests_total", (("path", "other"), ("status", "404"))) in metric_values(first.get("/metrics").text)
    other = metric_values(second.get("/metrics").text)
    assert ("toolkit_http_requests_total", (("path", "/v1/score"), ("status", "200"))) not in other


def test_openapi_schema_and_docs(client):
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/v1/score"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ScoreRequest")
    assert {"texts", "text", "ids", "explain"} <= set(schema["components"]["schemas"]["ScoreRequest"]["properties"])
    assert {"/v1/model", "/healthz", "/readyz", "/metrics"} <= set(schema["paths"])
    assert "swagger" in client.get("/docs").text.lower()


# ---------------------------------------------------------------------------
# a failing batch fails only its own request; the batcher keeps running
# ---------------------------------------------------------------------------
def test_scoring_error_fails_only_that_request(client_for, runtime):
    client = client_for(max_wait_ms=50)
    service = client.app.state.service
    real = service.runtime.score

    def flaky(texts, batch_size=64):
        if any("BOOM" in t for t in texts):
            raise ValueError("tokenizer exploded\non two lines")
        return real(texts, batch_size=batch_size)

    service.runtime.score = flaky
    results = {}

    def call(name, texts):
        results[name] = client.post("/v1/score", json={"texts": texts})

    threads = [threading.Thread(target=call, args=(f"good{i}", [TEXTS[i]])) for i in range(3)]
    threads.append(threading.Thread(target=call, args=("bad", ["fine", "BOOM"])))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    bad = results["bad"]
    assert bad.status_code == 500
    assert bad.json()["detail"] == "scoring failed: ValueError: tokenizer exploded on two lines"
    for i in range(3):
        good = results[f"good{i}"]
        assert good.status_code == 200
        probs = good.json()["results"][0]["probabilities"]
        np.testing.assert_allclose([probs[lab] for lab in runtime.labels], runtime.score([TEXTS[i]])[0], atol=1e-6)
    assert client.post("/v1/score", json={"text": "still alive"}).status_code == 200
    values = metric_values(client.get("/metrics").text)
    assert values[("toolkit_scoring_errors_total", ())] == 1


# ---------------------------------------------------------------------------
# the micro-batcher on its own
# ---------------------------------------------------------------------------
def slow_echo(delay: float = 0.0, calls: list | None = None):
    """A score_fn whose row for text "k" is [k, -k]; records the batch sizes."""

    def score(texts):
        if calls is not None:
            calls.append(len(texts))
        time.sleep(delay)
        return np.array([[float(t), -float(t)] for t in texts], dtype=np.float32)

    return score


def test_batcher_gives_each_caller_its_own_rows_and_batches_them():
    calls: list[int] = []
    batcher = MicroBatcher(slow_echo(0.02, calls), max_batch_docs=16, max_wait_s=0.01).start()
    try:
        futures = {}
        lock = threading.Lock()

        def submit(k):
            texts = [str(100 * k + j) for j in range(3)]
            fut = batcher.submit(texts)
            with lock:
                futures[k] = (texts, fut)

        threads = [threading.Thread(target=submit, args=(k,)) for k in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for texts, fut in futures.values():
            np.testing.assert_array_equal(fut.result(10)[:, 0], [float(t) for t in texts])
    finally:
        assert batcher.stop(10)
    assert sum(calls) == 60 and max(calls) > 3  # several requests shared a call
    assert all(n <= 16 for n in calls)


def test_batcher_waits_only_while_more_requests_are_coming():
    calls: list[int] = []
    batcher = MicroBatcher(slow_echo(0.0, calls), max_batch_docs=64, max_wait_s=5.0,
                           more_coming=lambda: False).start()
    try:
        t0 = time.monotonic()
        assert batcher.submit(["1"]).result(10).shape == (1, 2)
        assert time.monotonic() - t0 < 2.5  # not held for max_wait_s
    finally:
        batcher.stop(10)


def test_lone_requests_are_not_held_for_max_wait(client_for):
    client = client_for(max_wait_ms=1000)
    t0 = time.monotonic()
    for text in TEXTS[:3]:
        assert client.post("/v1/score", json={"text": text}).status_code == 200
    assert time.monotonic() - t0 < 2.5  # three waits of 1 s would take 3 s
    assert client.app.state.service.state.arriving == 0


def test_batcher_large_request_alone_and_stop_drains():
    calls: list[int] = []
    batcher = MicroBatcher(slow_echo(0.05, calls), max_batch_docs=4, max_wait_s=0.0).start()
    big = batcher.submit([str(i) for i in range(10)])  # over max_batch_docs: scored alone, whole
    small = [batcher.submit([str(i)]) for i in range(5)]
    assert batcher.stop(10)  # returns once the queue is done
    assert big.result(0).shape == (10, 2) and all(f.result(0).shape == (1, 2) for f in small)
    assert calls[0] == 10 and sum(calls) == 15
    with pytest.raises(BatcherClosed):
        batcher.submit(["late"])


def test_batcher_busy_and_failures_do_not_kill_it():
    gate = threading.Event()

    def score(texts):
        gate.wait(10)
        if "bad" in texts:
            raise RuntimeError("boom")
        return np.zeros((len(texts), 2), dtype=np.float32)

    batcher = MicroBatcher(score, max_batch_docs=8, max_wait_s=0.0, max_queue_docs=4).start()
    try:
        first = batcher.submit(["a"])
        time.sleep(0.05)  # the worker holds `first`; the queue is empty again
        queued = [batcher.submit(["b", "c"]), batcher.submit(["bad", "d"])]
        with pytest.raises(BatcherBusy, match="max_queue_docs=4"):
            batcher.submit(["e"])
        gate.set()
        assert first.result(10).shape == (1, 2) and queued[0].result(10).shape == (2, 2)
        with pytest.raises(RuntimeError, match="boom"):
            queued[1].result(10)
        assert batcher.submit(["f"]).result(10).shape == (1, 2) and batcher.alive
    finally:
        gate.set()
        batcher.stop(10)


# ---------------------------------------------------------------------------
# settings, CLI, import boundary
# ---------------------------------------------------------------------------
def test_settings_round_trip_through_the_environment(tmp_path):
    settings = ServeSettings(port=9001, max_texts=7, batching=False, api_key_file=str(tmp_path / "k"))
    bundle, again = ServeSettings.from_env(settings.to_env(BUNDLE))
    assert again == settings and Path(bundle) == BUNDLE.resolve()
    with pytest.raises(ConfigError, match="api_key_file"):
        ServeSettings(api_key="inline").to_env(BUNDLE)
    with pytest.raises(ConfigError, match="max_texts must be an integer >= 1"):
        ServeSettings(max_texts=0)
    with pytest.raises(ConfigError, match="max_wait_ms"):
        ServeSettings(max_wait_ms=-1)


def test_bad_bundle_fails_at_creation(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        create_app(tmp_path / "missing")


def test_cli_errors_are_one_line(tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli.app import app

    runner = CliRunner()
    help_text = runner.invoke(app, ["serve", "--help"]).output
    for option in ("--port", "--workers", "--no-batching", "--max-batch", "--max-wait-ms", "--api-key-file",
                   "--max-texts", "--max-chars", "--max-body-bytes"):
        assert option in help_text
    empty = tmp_path / "key"
    empty.write_text("")
    result = runner.invoke(app, ["serve", str(BUNDLE), "--api-key-file", str(empty)])
    assert result.exit_code == 1 and "is empty" in result.output
    result = runner.invoke(app, ["serve", str(tmp_path / "nope"), "--port", "0"])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_serving_and_cli_imports_stay_light():
    code = (
        "import sys, toolkit.serving, toolkit.serving.runtime, toolkit.cli.app\n"
        "heavy = [m for m in ('fastapi', 'uvicorn', 'prometheus_client', 'starlette') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
