"""`toolkit serve`: the model as an HTTP service (FastAPI + uvicorn, the ``serve`` extra).

Importing this package imports FastAPI and prometheus-client; nothing else in
:mod:`toolkit.serving` imports it, so ``import toolkit.serving`` stays light.

    from toolkit.serving.http import ServeSettings, create_app, run_server
    app = create_app("toolkit/serving/models/default", ServeSettings())   # for TestClient, or any ASGI server
    run_server("toolkit/serving/models/default", ServeSettings(port=8000))  # blocks; what `toolkit serve` runs

Modules: ``settings`` (ServeSettings), ``batcher`` (MicroBatcher: requests ->
one onnxruntime call, on a worker thread), ``limits`` (413 / 503 middleware, the
API-key comparison), ``metrics`` (Prometheus, a registry per app), ``app``
(routes and the app factory), ``server`` (uvicorn).
"""

from __future__ import annotations

from toolkit.serving.http.app import app_from_env, create_app
from toolkit.serving.http.server import run_server
from toolkit.serving.http.settings import ServeSettings

__all__ = ["ServeSettings", "app_from_env", "create_app", "run_server"]
