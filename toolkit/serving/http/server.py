"""Run the app under uvicorn: what ``toolkit serve`` calls.

One worker (the default): the app is built here (model loaded and checked
before the port is bound) and run by ``uvicorn.Server``. ``workers > 1``:
uvicorn needs an import string, so the settings go into the environment
(:meth:`ServeSettings.to_env`) and each worker process builds its own app with
``toolkit.serving.http.app:app_from_env`` (each loads the model and runs its
own batcher; metrics are per process).

Shutdown: on SIGTERM or SIGINT uvicorn stops listening (new connections are
refused), the app answers 503 to requests on connections still open and on
``/readyz``, requests in flight finish (up to ``timeout_graceful_shutdown``
seconds), then the batcher finishes its queue and stops. A second Ctrl-C
forces the exit. uvicorn re-raises the signal once it has shut down; the CLI
turns SIGTERM into ``KeyboardInterrupt`` like Ctrl-C, and a server that was
serving and then shut down on a signal returns normally, so ``toolkit serve``
exits 0 (what systemd and container runtimes expect of a clean stop). A signal
during start-up still ends the command with status 130.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Optional

from toolkit.serving.http.settings import ServeSettings

logger = logging.getLogger("toolkit.serving.http")


def _grace(settings: ServeSettings) -> Optional[int]:
    grace = settings.timeout_graceful_shutdown
    return None if grace is None else int(math.ceil(grace))


def describe(bundle: Any, settings: ServeSettings) -> str:
    batching = (f"micro-batching up to {settings.max_batch_docs} documents / {settings.max_wait_ms:g} ms"
                if settings.batching else "micro-batching off")
    key = "API key required" if (settings.api_key or settings.api_key_file) else "no API key"
    return (f"serving {bundle} on http://{settings.host}:{settings.port} ({settings.workers} worker(s), "
            f"{batching}, {key})")


def run_server(bundle: Any, settings: Optional[ServeSettings] = None) -> None:
    """Serve ``bundle`` until SIGTERM/SIGINT (blocks)."""
    import uvicorn

    settings = settings or ServeSettings()
    common = dict(
        host=settings.host, port=settings.port, log_level=settings.log_level,
        timeout_graceful_shutdown=_grace(settings), lifespan="on", server_header=False, access_log=settings.access_log,
    )
    if settings.workers > 1:
        from toolkit.core.bundle import read_bundle

        read_bundle(bundle, verify=settings.verify)  # fail here, once, rather than in every worker
        settings.resolved_api_key()
        os.environ.update(settings.to_env(bundle))
        print(describe(bundle, settings), flush=True)
        try:
            uvicorn.run("toolkit.serving.http.app:app_from_env", factory=True, workers=settings.workers, **common)
        except KeyboardInterrupt:
            pass  # the supervisor stopped its workers on the signal: a clean stop
        return
    from toolkit.serving.http.app import create_app

    app = create_app(bundle, settings)
    print(describe(bundle, settings), flush=True)
    server = uvicorn.Server(uvicorn.Config(app, **common))
    try:
        server.run()
    except KeyboardInterrupt:
        if not (server.started and server.should_exit):
            raise  # interrupted while starting
        # uvicorn re-raised SIGTERM/SIGINT after its graceful shutdown: a clean stop
