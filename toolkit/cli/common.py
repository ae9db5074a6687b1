"""Shared pieces of the command line: one-line errors and ``key=value`` options.

Kept apart from ``toolkit.cli`` so that sub-apps (``toolkit.cli.embeddings``)
can use them without importing the main app.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, List, Optional

import typer

from toolkit.errors import ToolkitError


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn toolkit errors into one line on stderr and exit code 1; Ctrl-C into 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ToolkitError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted; nothing was left half-written", code=130)
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}")

    return wrapper


def parse_options(pairs: Optional[List[str]], what: str) -> dict[str, Any]:
    """``key=value`` pairs -> dict; values parsed as JSON when they can be (``true``, ``3``)."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ToolkitError(f"{what} option {pair!r} must look like key=value")
        key, raw = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options
