"""Settings of the HTTP service: one dataclass, checked once, passable to worker processes.

The CLI (``toolkit serve``) builds a :class:`ServeSettings` from its options; tests
build one directly and hand it to :func:`toolkit.serving.http.app.create_app`.
With ``--workers N > 1`` uvicorn starts N processes that each build their own
app from an import string, so the settings travel through two environment
variables (:data:`ENV_BUNDLE` and :data:`ENV_SETTINGS`, JSON). The API key
itself never goes into the environment: only the path of its file does, and
each worker reads the file when it starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Optional

from toolkit.core.errors import ConfigError
from toolkit.core.options import check_float, check_int

ENV_BUNDLE = "TOOLKIT_SERVE_BUNDLE"
ENV_SETTINGS = "TOOLKIT_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    """What ``toolkit serve`` can be told; every field but ``api_key`` has a CLI option (``--help``).

    Micro-batching: requests that arrive while the model is busy, or within
    ``max_wait_ms`` of the first one while more are arriving (an adaptive wait:
    a lone request is not held back), are scored in one onnxruntime call of at
    most ``max_batch_docs`` documents (a request is never split; one larger
    than that is scored alone). ``batching=False`` scores each request on its
    own (for comparison). ``max_queue_docs`` bounds the documents waiting to be
    scored; past it new requests get 503 (busy) instead of piling up.

    Limits (over-limit requests get 413 naming the limit): ``max_body_bytes``
    of request body, ``max_texts`` per request, ``max_chars`` per text.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    batching: bool = True
    max_batch_docs: int = 64
    max_wait_ms: float = 2.0
    max_queue_docs: int = 8192
    max_body_bytes: int = 2 * 1024 * 1024
    max_texts: int = 256
    max_chars: int = 100_000
    # onnxruntime intra-op threads per worker. 1 by default: onnxruntime's own pool (one thread per core)
    # spin-waits between calls and took the cores the event loop needs (1.8 vs 1.0 ms of CPU per request
    # at concurrency 64 on 2 cores); use workers for more cores. None: onnxruntime's default.
    threads: Optional[int] = 1
    verify: bool = True  # check the bundle's sha256 checksums at start
    api_key_file: Optional[str] = None
    api_key: Optional[str] = None  # set directly by tests / embedding code; never exported to the environment
    timeout_graceful_shutdown: Optional[float] = 30.0
    log_level: str = "info"
    access_log: bool = True  # uvicorn's one line per request (off for load tests)

    def __post_init__(self) -> None:
        check_int(self.port, "port", minimum=0, maximum=65535, subject="port")
        for name in ("workers", "max_batch_docs", "max_queue_docs", "max_body_bytes", "max_texts", "max_chars"):
            check_int(getattr(self, name), name, minimum=1, subject=name)
        check_int(self.threads, "threads", minimum=1, optional=True, subject="threads")
        check_float(self.max_wait_ms, "max_wait_ms", minimum=0, maximum=1000, subject="max_wait_ms (milliseconds)")
        if self.max_queue_docs < self.max_texts:
            raise ConfigError(
                f"max_queue_docs ({self.max_queue_docs}) must be at least max_texts ({self.max_texts}), "
                f"or a full request could never be queued"
            )
        if self.api_key is not None and not self.api_key:
            raise ConfigError("api_key is empty; give a non-empty key or none")
        check_float(self.timeout_graceful_shutdown, "timeout_graceful_shutdown", minimum=0, optional=True,
                    subject="timeout_graceful_shutdown (seconds)")

    # -- the API key -------------------------------------------------------------
    def resolved_api_key(self) -> Optional[str]:
        """The key clients must send: ``api_key``, else the content of ``api_key_file``, else None."""
        if self.api_key is not None:
            return self.api_key
        if self.api_key_file is None:
            return None
        return read_api_key_file(self.api_key_file)

    # -- through the environment (uvicorn workers) -------------------------------
    def to_env(self, bundle: str | os.PathLike) -> dict[str, str]:
        """Environment variables from which :meth:`from_env` rebuilds these settings (no key inside)."""
        data = {k: v for k, v in asdict(self).items() if k != "api_key"}
        if self.api_key is not None:
            raise ConfigError("settings with an inline api_key cannot be passed to worker processes; use api_key_file")
        return {ENV_BUNDLE: str(Path(bundle).resolve()), ENV_SETTINGS: json.dumps(data)}

    @classmethod
    def from_env(cls, environ: Optional[dict[str, str]] = None) -> tuple[str, "ServeSettings"]:
        """``(bundle_path, settings)`` from :data:`ENV_BUNDLE` and :data:`ENV_SETTINGS`."""
        environ = os.environ if environ is None else environ
        bundle = environ.get(ENV_BUNDLE)
        if not bundle:
            raise ConfigError(f"{ENV_BUNDLE} is not set; start the server with `toolkit serve BUNDLE`")
        raw = environ.get(ENV_SETTINGS, "{}")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{ENV_SETTINGS} is not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{ENV_SETTINGS} must be a JSON object, got {type(data).__name__}")
        return bundle, cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ServeSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown serve setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    def limits(self) -> dict[str, Any]:
        """The limits and batching settings, as shown by ``GET /v1/model``."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_texts": self.max_texts,
            "max_chars": self.max_chars,
            "batching": self.batching,
            "max_batch_docs": self.max_batch_docs if self.batching else 1,
            "max_wait_ms": self.max_wait_ms if self.batching else 0.0,
            "max_queue_docs": self.max_queue_docs,
        }


def read_api_key_file(path: str | os.PathLike) -> str:
    """The API key in ``path``: its content without surrounding white space; an empty file is refused."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"API key file {path} does not exist; write the key into it or drop --api-key-file") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"API key file {path} is a folder; pass the file that holds the key") from exc
    except PermissionError as exc:
        raise ConfigError(f"API key file {path} cannot be read (permission denied)") from exc
    try:
        key = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"API key file {path} is not UTF-8 text (byte {exc.start})") from exc
    if not key:
        raise ConfigError(f"API key file {path} is empty; write the key into it (one line) or drop --api-key-file")
    if any(ch.isspace() for ch in key) or not key.isprintable():
        raise ConfigError(f"API key file {path}: the key must be one line of printable characters without spaces")
    return key
