"""Prometheus metrics of one app, in a registry of its own (not prometheus-client's global one).

A registry per app lets tests (and a process embedding several models) create
as many apps as they like without "Duplicated timeseries" errors. With
``--workers N > 1`` each worker process counts for itself and ``/metrics``
shows the worker that answered the scrape (prometheus-client's multiprocess
mode is not set up); scrape a single-worker server for exact totals.

Metric names (all prefixed ``toolkit_``):

========================================  =========  =============================================
``http_requests_total``                   counter    by ``path`` (known routes, else ``other``) and ``status``
``http_request_duration_seconds``         histogram  by ``path``; time from the first byte in to the response
``http_requests_in_progress``             gauge      by ``path``
``documents_scored_total``                counter    documents scored (successfully)
``batch_size_documents``                  histogram  documents per onnxruntime call
``batch_requests``                        histogram  requests per onnxruntime call
``batch_duration_seconds``                histogram  seconds per scoring call (tokenizing included)
``scoring_errors_total``                  counter    requests whose scoring raised
``queue_documents``                       gauge      documents waiting to be scored
``model_info``                            gauge = 1  labels: model name, architecture, sha256 of model.onnx
========================================  =========  =============================================
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServeMetrics:
    """The metrics of one app; :meth:`render` gives the Prometheus text format."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, known_paths: Iterable[str]):
        self.registry = CollectorRegistry(auto_describe=True)
        self.known_paths = frozenset(known_paths)
        r = self.registry
        self.requests = Counter("toolkit_http_requests", "HTTP requests answered, by path and status.",
                                ["path", "status"], registry=r)
        self.latency = Histogram("toolkit_http_request_duration_seconds", "HTTP request latency in seconds.",
                                 ["path"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_progress = Gauge("toolkit_http_requests_in_progress", "HTTP requests being handled, by path.",
                                 ["path"], registry=r)
        self.documents = Counter("toolkit_documents_scored", "Documents scored and answered (counted by the request handler).", registry=r)
        self.batch_docs = Histogram("toolkit_batch_size_documents", "Documents per onnxruntime call.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("toolkit_batch_requests", "Requests per onnxruntime call.",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("toolkit_batch_duration_seconds", "Seconds per scoring call, tokenizing included.",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("toolkit_scoring_errors", "Requests whose scoring raised an error.", registry=r)
        self.queue_docs = Gauge("toolkit_queue_documents", "Documents waiting to be scored.", registry=r)
        self.model_info = Gauge("toolkit_model_info", "The served model (value 1).",
                                ["model", "architecture", "model_sha256"], registry=r)

    def path_label(self, path: str) -> str:
        """Label for ``path``: itself when it is a known route, else ``other`` (bounded cardinality)."""
        return path if path in self.known_paths else "other"

    def on_batch(self, documents: int, requests: int, seconds: float, failed: int) -> None:
        """Hook for :class:`~toolkit.serving.http.batcher.MicroBatcher` (called on its worker thread)."""
        self.batch_docs.observe(documents)
        self.batch_requests.observe(requests)
        self.batch_seconds.observe(seconds)
        if failed:
            self.errors.inc(failed)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: counts every HTTP request by path and status and times it.

    Outermost, so requests refused by the other middleware (413, 503) are counted too.
    """

    def __init__(self, app: Any, metrics: ServeMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = self.metrics.path_label(scope.get("path", ""))
        status = {"code": 500}
        t0 = time.perf_counter()

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        gauge = self.metrics.in_progress.labels(path)
        gauge.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            gauge.dec()
            self.metrics.latency.labels(path).observe(time.perf_counter() - t0)
            self.metrics.requests.labels(path, str(status["code"])).inc()
