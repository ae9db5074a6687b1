"""Request limits, draining and the API-key comparison: what guards the service's door.

:class:`GuardMiddleware` is plain ASGI (no Starlette ``BaseHTTPMiddleware``, so
no extra task per request). For each HTTP request it:

1. answers 503 while the server is draining (after SIGTERM/SIGINT), except on
   ``/healthz``, ``/readyz`` and ``/metrics``, which answer for themselves;
2. counts scoring requests from their first byte until the handler hands them
   to the batcher (:attr:`ServiceState.arriving`, read by the batcher to decide
   whether to wait for more);
3. for requests with a body, answers 413 when ``Content-Length`` is over
   ``max_body_bytes``, or when the body read so far passes it (chunked uploads
   without a length), before the framework parses any of it; the body is
   read once, then replayed to the app.

Limits on texts per request and characters per text are checked by the
``/v1/score`` handler (it knows the parsed request), also with 413.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional

#: Paths that stay open while draining (probes and scrapes answer for themselves).
DRAIN_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass
class ServiceState:
    """Mutable state shared by the middleware, the routes and the server."""

    ready: bool = False
    draining: bool = False
    #: Scoring requests received (body being read, parsed or checked) but not yet handed to the
    #: batcher: while there are some, the batcher waits for them to fill the batch.
    arriving: int = 0

    def handed_over(self, scope: dict) -> None:
        """The request of ``scope`` has reached the batcher, or will never (called at most once)."""
        if scope.pop(ARRIVING_KEY, False):
            self.arriving -= 1


#: Scope key set on a scoring request while it counts in :attr:`ServiceState.arriving`.
ARRIVING_KEY = "toolkit.arriving"


def keys_match(provided: Optional[str], expected: str) -> bool:
    """Constant-time comparison of a client's key with the server's (``hmac.compare_digest``)."""
    if provided is None:
        return False
    return hmac.compare_digest(provided.encode("utf-8"), expected.encode("utf-8"))


async def send_json(send: Any, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send a whole ``{"detail": ...}`` JSON response through raw ASGI ``send``."""
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            *headers,
        ],
    })
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Draining (503) and body-size (413) checks; see the module docstring."""

    def __init__(self, app: Any, state: ServiceState, max_body_bytes: int, scoring_path: str = "/v1/score"):
        self.app = app
        self.state = state
        self.max_body_bytes = max_body_bytes
        self.scoring_path = scoring_path

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.state.draining and scope.get("path") not in DRAIN_OPEN_PATHS:
            await send_json(send, 503, "the server is shutting down; retry on another instance",
                            [(b"connection", b"close"), (b"retry-after", b"1")])
            return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if scope.get("path") != self.scoring_path:
            await self._guard_body(scope, receive, send)
            return
        self.state.arriving += 1
        scope[ARRIVING_KEY] = True
        try:
            await self._guard_body(scope, receive, send)
        finally:
            self.state.handed_over(scope)

    async def _guard_body(self, scope: dict, receive: Any, send: Any) -> None:
        limit = self.max_body_bytes
        length = _content_length(scope)
        if length == -1:
            await send_json(send, 400, "the Content-Length header is not a non-negative integer",
                            [(b"connection", b"close")])
            return
        if length is not None and length > limit:
            await _too_large(send, f"{length} bytes", limit)
            return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away; nothing to answer
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                await _too_large(send, f"over {limit} bytes", limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as the server's would

        await self.app(scope, replay, send)


async def _too_large(send: Any, size: str, limit: int) -> None:
    await send_json(
        send, 413,
        f"request body is {size}; the limit max_body_bytes is {limit} (send fewer or shorter texts per request)",
        [(b"connection", b"close")],
    )


def _content_length(scope: dict) -> Optional[int]:
    """The request's Content-Length: None when absent, -1 when malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None
