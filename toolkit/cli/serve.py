"""`toolkit serve`: the model as an HTTP service (FastAPI + uvicorn; the ``serve`` extra).

A thin wrapper over :func:`toolkit.serving.http.run_server`; FastAPI, uvicorn
and prometheus-client are imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from toolkit.cli.common import cli_errors
from toolkit.core.errors import ConfigError


def serve_cmd(
    bundle: Path = typer.Argument(..., help="A bundle folder written by `toolkit export` (e.g. toolkit/serving/models/default)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", help="TCP port (0: any free port; the log says which)."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (each loads the model and batches for itself)."),
    batching: bool = typer.Option(True, "--batching/--no-batching", help="Micro-batch concurrent requests (off: one request per model call)."),
    max_batch_docs: int = typer.Option(64, "--max-batch", help="Most documents in one model call."),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", help="Longest wait for more requests to join a batch, ms."),
    max_queue_docs: int = typer.Option(8192, "--max-queue", help="Most documents waiting to be scored; past it: 503."),
    max_body_bytes: int = typer.Option(2 * 1024 * 1024, "--max-body-bytes", help="Largest request body; over it: 413."),
    max_texts: int = typer.Option(256, "--max-texts", help="Most texts in one request; over it: 413."),
    max_chars: int = typer.Option(100_000, "--max-chars", help="Most characters in one text; over it: 413."),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", help="File holding the API key clients must send (read at start)."),
    threads: int = typer.Option(1, "--threads", help="onnxruntime intra-op threads per worker (0: onnxruntime's default, one per core; more workers scale better)."),
    grace: float = typer.Option(30.0, "--graceful-timeout", help="Seconds in-flight requests get to finish on SIGTERM."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug, trace."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log one line per request."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the bundle's sha256 checks at start."),
) -> None:
    """Serve a bundle over HTTP: POST /v1/score, GET /v1/model, /healthz, /readyz, /metrics, /docs."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"`toolkit serve` needs the serve extra ({exc.name} is missing): pip install 'toolkit[serve]'") from exc
    from toolkit.serving.http import ServeSettings, run_server

    if threads < 0:
        raise ConfigError(f"--threads must be 0 (onnxruntime's default) or more, got {threads}")

    settings = ServeSettings(
        host=host, port=port, workers=workers, batching=batching, max_batch_docs=max_batch_docs,
        max_wait_ms=max_wait_ms, max_queue_docs=max_queue_docs, max_body_bytes=max_body_bytes,
        max_texts=max_texts, max_chars=max_chars, threads=threads or None, verify=not no_verify,
        api_key_file=str(api_key_file) if api_key_file is not None else None,
        timeout_graceful_shutdown=grace, log_level=log_level, access_log=access_log,
    )
    settings.resolved_api_key()  # an unreadable or empty key file fails now, with one line
    run_server(bundle, settings)


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to the main app."""
    app.command("serve")(cli_errors(serve_cmd))
