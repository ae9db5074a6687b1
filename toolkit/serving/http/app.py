"""The HTTP service: :func:`create_app` builds a FastAPI app around one bundle.

    from toolkit.serving.http import ServeSettings, create_app
    app = create_app("toolkit/serving/models/default", ServeSettings(max_wait_ms=2))

Routes: ``POST /v1/score``, ``GET /v1/model``, ``GET /healthz``, ``GET /readyz``,
``GET /metrics``, plus FastAPI's ``/openapi.json`` and ``/docs``. The model is
loaded (and its checksums verified) when the app is created, so a bad bundle
fails before a port is bound; scoring runs on the micro-batcher's worker
thread, never on the event loop. See ``docs/serving-http.md``.

For ``uvicorn --workers N`` (an import string is needed) use
``toolkit.serving.http.app:app_from_env`` with ``factory=True``; it reads the
bundle and settings from the environment (:meth:`ServeSettings.to_env`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from typing import Any, Optional, Union

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator, model_validator

from toolkit.serving.http.batcher import BatcherBusy, BatcherClosed, MicroBatcher
from toolkit.serving.http.limits import GuardMiddleware, ServiceState, keys_match
from toolkit.serving.http.metrics import MetricsMiddleware, ServeMetrics
from toolkit.serving.http.settings import ServeSettings

logger = logging.getLogger("toolkit.serving.http")

ROUTES = ("/v1/score", "/v1/model", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")


# ---------------------------------------------------------------------------
# request and response bodies (they make the OpenAPI schema)
# ---------------------------------------------------------------------------
class ScoreRequest(BaseModel):
    """Texts to score: ``texts`` (a list) or ``text`` (one), not both."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["A gripping, beautifully shot film.", "Two hours I will never get back."]}],
    })

    texts: Optional[list[StrictStr]] = Field(None, description="Texts to score, answered in the same order.")
    text: Optional[StrictStr] = Field(None, description="One text to score (instead of `texts`).")
    ids: Optional[list[Any]] = Field(
        None, description="Optional caller ids (strings or integers), one per text, echoed back in the results.",
        json_schema_extra={"items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}})
    explain: StrictBool = Field(False, description="Token attributions; not supported by this server yet (422).")

    @field_validator("ids")
    @classmethod
    def _ids_are_str_or_int(cls, ids: Optional[list[Any]]) -> Optional[list[Any]]:
        for i, id_ in enumerate(ids or []):
            if isinstance(id_, bool) or not isinstance(id_, (str, int)):
                raise ValueError(f"ids[{i}] must be a string or an integer, got {type(id_).__name__}")
        return ids

    @model_validator(mode="after")
    def _one_of(self) -> "ScoreRequest":
        if (self.texts is None) == (self.text is None):
            raise ValueError("give exactly one of 'text' (a string) or 'texts' (a list of strings)")
        n = len(self.texts) if self.texts is not None else 1
        if self.ids is not None and len(self.ids) != n:
            raise ValueError(f"'ids' has {len(self.ids)} items but there are {n} texts; give one id per text")
        return self


class ScoreResult(BaseModel):
    id: Optional[Union[str, int]] = Field(None, description="The caller's id, when `ids` was given.")
    label: Optional[str] = Field(None, description="The most probable label (exclusive bundles).")
    labels: Optional[list[str]] = Field(None, description="Multi-label bundles: the labels whose probability "
                                                          "reaches their threshold, in label order (maybe none).")
    probabilities: dict[str, float] = Field(..., description="Probability of each label (a multi-label "
                                                             "bundle's are independent: they need not sum to 1).")


class ScoreResponse(BaseModel):
    model: str
    labels: list[str]
    results: list[ScoreResult]


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    labels: list[str]
    multi_label: bool = Field(False, description="Non-exclusive labels: one probability per label.")
    thresholds: Optional[dict[str, float]] = Field(None, description="Multi-label bundles: each label's threshold.")
    architecture: Optional[dict[str, Any]]
    embedding: Optional[str]
    tokenizer: dict[str, Any]
    length_policy: str
    max_len: int
    toolkit_version: Optional[str] = Field(None, description="The toolkit that made the bundle.")
    server_version: str = Field(..., description="The toolkit serving it.")
    format_version: int
    bundle_id: str = Field(..., description="The bundle's id: sha256 over bundle.json, which lists every file's "
                                            "sha256 (recorded from format 2; computed on reading for format 1).")
    model_sha256: str = Field(..., description="sha256 of model.onnx, as recorded in bundle.json (verified at start).")
    files: dict[str, str]
    metrics: Optional[dict[str, Any]]
    calibration: Optional[dict[str, Any]] = Field(None, description="Calibration recorded in bundle.json, else null.")
    limits: dict[str, Any]


class Status(BaseModel):
    status: str


# ---------------------------------------------------------------------------
# the service: runtime + batcher + metrics + state, one per app
# ---------------------------------------------------------------------------
class Service:
    """What one app serves; kept on ``app.state.service``."""

    def __init__(self, bundle_path: Any, settings: ServeSettings):
        from toolkit.serving.runtime import Runtime

        self.settings = settings
        self.api_key = settings.resolved_api_key()
        self.runtime = Runtime.load(bundle_path, threads=settings.threads, verify=settings.verify)
        self.info = self.runtime.info
        self.state = ServiceState()
        self.metrics = ServeMetrics(ROUTES)
        arch = (self.info.meta.get("architecture") or {}).get("name", "unknown")
        self.metrics.model_info.labels(self.info.name, arch, self.info.files.get("model.onnx", "")).set(1)
        self.runtime.empty_score  # noqa: B018 - runs the model once: a broken model fails here, not on a client
        self.batcher = self._new_batcher().start()
        self.state.ready = True

    def _new_batcher(self) -> MicroBatcher:
        s = self.settings
        batch = s.max_batch_docs

        def score(texts: list[str]) -> Any:
            return self.runtime.score(texts, batch_size=batch)

        return MicroBatcher(
            score, max_batch_docs=batch, max_wait_s=s.max_wait_ms / 1000.0, max_queue_docs=s.max_queue_docs,
            batching=s.batching, on_batch=self.metrics.on_batch, more_coming=lambda: self.state.arriving > 0,
        )

    def ensure_running(self) -> None:
        """Start a fresh batcher when the app is started again after a shutdown (tests reuse apps)."""
        if not self.batcher.alive:
            self.batcher = self._new_batcher().start()
        self.state.draining = False
        self.state.ready = True

    def begin_drain(self) -> None:
        """New requests get 503 from now on; in-flight ones finish."""
        self.state.draining = True
        self.state.ready = False

    async def shutdown(self) -> None:
        self.begin_drain()
        grace = self.settings.timeout_graceful_shutdown
        await asyncio.to_thread(self.batcher.stop, grace)

    def model_info(self) -> dict[str, Any]:
        from toolkit import __version__

        meta = self.info.meta
        arch = meta.get("architecture")
        emb = meta.get("embedding")
        return {
            "name": self.info.name,
            "labels": list(self.runtime.labels),
            "multi_label": self.runtime.multi_label,
            "thresholds": (dict(zip(self.runtime.labels, map(float, self.runtime.thresholds)))
                           if self.runtime.multi_label else None),
            "architecture": {"name": arch.get("name"), "config": arch.get("config")} if isinstance(arch, dict) else None,
            "embedding": emb.get("name") if isinstance(emb, dict) else None,
            "tokenizer": {"name": self.info.tokenizer["name"], "config": self.info.tokenizer.get("config", {})},
            "length_policy": self.info.length_policy,
            "max_len": self.info.max_len,
            "toolkit_version": meta.get("toolkit_version"),
            "server_version": __version__,
            "format_version": self.info.format_version,
            "bundle_id": self.info.bundle_id,
            "model_sha256": self.info.files.get("model.onnx", ""),
            "files": dict(self.info.files),
            "metrics": meta.get("metrics") if isinstance(meta.get("metrics"), dict) else None,
            "calibration": meta.get("calibration") if isinstance(meta.get("calibration"), dict) else None,
            "limits": self.settings.limits(),
        }


def _install_drain_on_signals(service: Service) -> None:
    """Chain a 'draining' flag before the server's own SIGTERM/SIGINT handlers.

    uvicorn installs its handlers (``Server.capture_signals``) before the
    lifespan starts, in each worker process, and restores the previous ones
    when it ends; wrapping them here makes /readyz and new requests answer 503
    from the moment the signal arrives, while uvicorn closes the listening
    socket and waits for in-flight requests.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # TestClient runs the lifespan in another thread; no signals there
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous) or previous is signal.default_int_handler:
            continue  # nobody is serving gracefully (not under uvicorn): leave the default behaviour

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            service.begin_drain()
            previous(signum, frame)

        signal.signal(sig, handler)


# ---------------------------------------------------------------------------
# the app
# ---------------------------------------------------------------------------
def _one_line(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            position = err.get("loc", ("body", "?"))[-1]
            parts.append(f"the request body is not valid JSON (error near character {position})")
            continue
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        where = ".".join(loc) if loc else "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(bundle_path: Any, settings: Optional[ServeSettings] = None) -> FastAPI:
    """A FastAPI app serving the bundle in ``bundle_path`` (loaded now; raises BundleError/ConfigError)."""
    from toolkit import __version__

    settings = settings or ServeSettings()
    service = Service(bundle_path, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.ensure_running()
        _install_drain_on_signals(service)
        try:
            yield
        finally:
            await service.shutdown()

    app = FastAPI(
        title="toolkit review sentiment",
        version=__version__,
        description=f"Scores texts with the bundle `{service.info.name}` (labels: {', '.join(service.runtime.labels)}).",
        lifespan=lifespan,
    )
    app.state.service = service

    bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer KEY` (when the server has a key).")
    header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: KEY` (same key).")

    async def require_key(
        credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer),
        x_api_key: Optional[str] = Depends(header_key),
    ) -> None:
        expected = service.api_key
        if expected is None:
            return
        provided = credentials.credentials if credentials is not None else x_api_key
        if not keys_match(provided, expected):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong API key; send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in err.items() if k in ("type", "loc", "msg")} for err in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors, "message": _one_line(errors)})

    @app.post("/v1/score", response_model=ScoreResponse, dependencies=[Depends(require_key)],
              responses={401: {"description": "API key missing or wrong"},
                         413: {"description": "Over a limit (body bytes, texts per request, characters per text)"},
                         422: {"description": "Malformed JSON or a field of the wrong type"},
                         503: {"description": "Draining or too busy; retry"}})
    async def score(body: ScoreRequest, request: Request) -> Response:
        """Labels and probabilities of each text, in the order given."""
        if body.explain:
            raise HTTPException(422, "explain: token attributions are not supported by this server yet; omit it")
        texts = body.texts if body.texts is not None else [body.text or ""]
        if len(texts) > settings.max_texts:
            raise HTTPException(413, f"{len(texts)} texts in one request; the limit max_texts is {settings.max_texts}")
        for i, text in enumerate(texts):
            if len(text) > settings.max_chars:
                raise HTTPException(413, f"texts[{i}] has {len(text)} characters; the limit max_chars is "
                                         f"{settings.max_chars}")
        probs = None
        if texts:
            try:
                future = service.batcher.submit(texts)
            except (BatcherBusy, BatcherClosed) as exc:
                raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
            finally:
                service.state.handed_over(request.scope)  # the batcher stops waiting for this one
            try:
                probs = await asyncio.wrap_future(future)
            except Exception as exc:  # noqa: BLE001 - this request fails alone, with one line
                message = " ".join(str(exc).split())[:300]
                raise HTTPException(500, f"scoring failed: {type(exc).__name__}: {message}") from None
            service.metrics.documents.inc(len(texts))
        records = service.runtime.to_records(probs) if probs is not None else []
        if body.ids is not None:
            records = [{"id": id_, **rec} for id_, rec in zip(body.ids, records)]
        return JSONResponse({"model": service.info.name, "labels": service.runtime.labels, "results": records})

    @app.get("/v1/model", response_model=ModelInfo, dependencies=[Depends(require_key)])
    async def model() -> dict[str, Any]:
        """The served bundle: labels, architecture, versions, checksums, calibration, limits."""
        return service.model_info()

    @app.get("/healthz", response_model=Status)
    async def healthz() -> dict[str, str]:
        """Alive (the process answers). Open without an API key."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=Status, responses={503: {"description": "Not ready, or draining"}})
    async def readyz() -> Response:
        """Ready to score: model loaded, batcher running, not draining. Open without an API key."""
        if service.state.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if not (service.state.ready and service.batcher.alive):
            return JSONResponse({"status": "not ready"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", dependencies=[Depends(require_key)], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def metrics() -> Response:
        """Prometheus metrics of this process (text format)."""
        service.metrics.queue_docs.set(service.batcher.queued_docs)
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    app.add_middleware(GuardMiddleware, state=service.state, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)  # added last: outermost
    return app


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` / ``workers > 1``: bundle and settings from the environment."""
    bundle, settings = ServeSettings.from_env()
    return create_app(bundle, settings)
