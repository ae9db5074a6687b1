"""Option checks shared by the embedding providers (messages name the provider and option)."""

from __future__ import annotations

import os
from typing import Any

from toolkit.errors import EmbeddingError


def check_int(provider: str, name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EmbeddingError(f"embedding {provider!r}: option {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def check_float(provider: str, name: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > minimum:
        raise EmbeddingError(f"embedding {provider!r}: option {name!r} must be a number > {minimum}, got {value!r}")
    return float(value)


def check_bool(provider: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise EmbeddingError(f"embedding {provider!r}: option {name!r} must be true or false, got {value!r}")
    return value


def check_path(provider: str, name: str, value: Any, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise EmbeddingError(f"embedding {provider!r}: option {name!r} (a vector file) is required")
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise EmbeddingError(f"embedding {provider!r}: option {name!r} must be a file path, got {value!r}")
    return os.fspath(value)


def check_binary(provider: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise EmbeddingError(
            f"embedding {provider!r}: option 'binary' must be true, false or null (detect), got {value!r}"
        )
    return value
