"""Shared pieces of the command line: one-line errors and ``key=value`` options.

Kept apart from ``toolkit.cli`` so that sub-apps (``toolkit.cli.embeddings``)
can use them without importing the main app.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Callable, List, Optional

import click
import typer

from toolkit.core.errors import ToolkitError

#: Set to 1 (or pass ``toolkit --debug``) to get the full traceback of an unexpected error.
DEBUG_ENV = "TOOLKIT_DEBUG"


#: The signal that asked this process to stop (set by ``toolkit.cli.app``'s handler), if any: an
#: error raised while the interruption unwinds (a native module's import turns it into an
#: ``ImportError``) is reported as the interruption it is.
interrupted_by: int | None = None


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line (white space runs collapsed), cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"Error: {one_line(message, limit=2000)}", err=True)
    raise typer.Exit(code)


def cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """The command line's one error boundary: every failure is one line on stderr and a non-zero exit.

    * a :class:`ToolkitError`: its message, exit code 1;
    * Ctrl-C or SIGTERM (turned into ``KeyboardInterrupt`` by ``toolkit.cli.app.main``): exit 130;
    * an operating-system error (missing file, no permission, disk full): what and which file, exit 1;
    * anything else (a bug, or a library failing): its type and message plus a hint to rerun with
      ``--debug`` (or ``TOOLKIT_DEBUG=1``) for the traceback, exit 2. With debugging on it propagates.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # typer's own exits and usage errors
        except ToolkitError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted; nothing was left half-written", code=130)
        except OSError as exc:
            if debug_enabled():
                raise
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            fail(f"{exc.strerror or exc}{where}")
        except SystemExit as exc:  # a library or plugin calling sys.exit() inside a command
            if debug_enabled():
                raise
            fail(f"unexpected exit ({exc.code!r}) inside toolkit {func.__name__.removesuffix('_cmd')}; "
                 f"rerun with --debug (or {DEBUG_ENV}=1) for the traceback", code=2)
        except Exception as exc:
            if interrupted_by is not None:
                fail("interrupted; nothing was left half-written", code=130)
            if debug_enabled():
                raise
            fail(f"unexpected {type(exc).__name__}: {one_line(exc, 300)}; this is a bug or an unsupported input: "
                 f"rerun with --debug (or {DEBUG_ENV}=1) for the traceback", code=2)

    return wrapper


def check_encoding_option(value: str, option: str = "--encoding") -> None:
    """Refuse an unknown text encoding before any work (serving commands: no training import)."""
    import codecs

    try:
        ok = bool(value) and bool(getattr(codecs.lookup(value), "_is_text_encoding", True))
    except LookupError:
        ok = False
    if not ok:
        from toolkit.core.errors import ConfigError

        raise ConfigError(f"{option} must be a text encoding Python knows (e.g. utf-8, latin-1), got {value!r}")


def check_output_file(path: "os.PathLike[str] | str", overwrite: bool, option: str = "--out") -> None:
    """Refuse, before any work, an output file path that cannot be written: a folder, an existing
    file without ``--overwrite``, or a parent folder that cannot be created or written."""
    from pathlib import Path

    from toolkit.core.errors import OutputExistsError
    from toolkit.core.atomic import check_parent_writable, refuse_existing

    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(f"{option} {path} is a folder; give the path of a file to write")
    refuse_existing(path, overwrite, what=option)
    check_parent_writable(path, option)


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
