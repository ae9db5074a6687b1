"""One reader of text records (JSONL, CSV/TSV, text lines), shared by corpora and prediction.

:func:`iter_records` streams ``(line number, record)`` pairs from a file, one
line (or CSV row) at a time, so memory does not grow with the file. It checks
what every caller needs (valid JSON objects, a header, the required fields)
and raises one-line errors that name the file, the line and the field, as the
caller's error class (a corpus loader passes :class:`~toolkit.core.errors.CorpusError`,
prediction :class:`~toolkit.core.errors.InputError`). Serving half: stdlib only.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

from toolkit.core.errors import InputError, ToolkitError

#: File suffix -> record format.
RECORD_FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".csv": "csv", ".tsv": "tsv",
    ".txt": "txt", ".text": "txt",
}


def record_format(path: Path, allowed: Sequence[str] = ("jsonl", "csv", "tsv", "txt"),
                  error: type[ToolkitError] = InputError) -> str:
    """The format of ``path`` by its suffix, refused when not in ``allowed``."""
    kind = RECORD_FORMATS.get(path.suffix.lower())
    if kind not in allowed:
        suffixes = sorted(s for s, k in RECORD_FORMATS.items() if k in allowed)
        raise error(f"{path}: unknown format {path.suffix or '(no suffix)'!r}; use one of {', '.join(suffixes)}")
    return kind


def iter_records(
    path: str | os.PathLike,
    required: Sequence[str] = ("text",),
    *,
    encoding: str = "utf-8",
    error: type[ToolkitError] = InputError,
    encoding_error: type[ToolkitError] | None = None,
    field_hint: str = "--text-field",
    encoding_hint: str = "--encoding",
    allowed: Sequence[str] = ("jsonl", "csv", "tsv", "txt"),
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for every record of a JSONL, CSV/TSV or text-lines file.

    JSONL: one JSON object per line, blank lines skipped. CSV/TSV: a header row,
    then one record per row (its line number is the row's first line). Text
    lines: ``{required[0]: line}`` for every line, blank ones included (so output
    line *i* is input line *i*). Every record holds the ``required`` fields;
    their values are not checked here (see :func:`text_field`).
    """
    path = Path(path)
    if not path.exists():
        raise error(f"input file {path} does not exist")
    if not path.is_file():
        raise error(f"{path} is not a file")
    kind = record_format(path, allowed, error)
    try:
        with open(path, encoding=encoding, newline="" if kind in ("csv", "tsv") else None) as fh:
            if kind == "txt":
                field = required[0] if required else "text"
                for lineno, line in enumerate(fh, start=1):
                    yield lineno, {field: line.rstrip("\n")}
            elif kind == "jsonl":
                yield from _jsonl(path, fh, required, error, field_hint)
            else:
                yield from _csv(path, fh, kind, required, error, field_hint)
    except UnicodeDecodeError as exc:
        raise (encoding_error or error)(
            f"{path} is not valid {encoding} (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}); "
            f"pass the right encoding with {encoding_hint} (for example {encoding_hint} latin-1)"
        ) from exc
    except LookupError as exc:
        raise error(f"unknown text encoding {encoding!r} ({encoding_hint}); use e.g. utf-8 or latin-1") from exc
    except csv.Error as exc:
        raise error(f"{path}: malformed CSV: {exc}") from exc
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from exc


def _missing_field(path: Path, where: str, record_fields: Sequence[str], field: str, what: str, hint: str) -> str:
    have = ", ".join(repr(k) for k in record_fields) or "none"
    return f"{path}{where}: no {what} {field!r} ({what}s present: {have}); choose it with {hint}"


def _jsonl(path, fh, required, error, field_hint) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}, line {lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(record, dict):
            raise error(f"{path}, line {lineno}: expected a JSON object, got {type(record).__name__}")
        for field in required:
            if field not in record:
                raise error(_missing_field(path, f", line {lineno}", list(record), field, "field", field_hint))
        yield lineno, record


def _csv(path, fh, kind, required, error, field_hint) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    # strict: an unterminated quote or text after a closing quote is an error, not a silently merged record
    reader = csv.DictReader(fh, delimiter="\t" if kind == "tsv" else ",", strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise error(f"{path}, line {reader.line_num}: malformed {kind.upper()} header ({exc})") from exc
    if not header:
        raise error(f"{path} is empty: expected a header row naming {', '.join(repr(f) for f in required)}")
    for field in required:
        if field not in header:
            raise error(_missing_field(path, " header", header, field, "column", field_hint))
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise error(f"{path}, line {start}: malformed {kind.upper()} record ({exc}); check its quotes") from exc
        yield start, row
        start = reader.line_num + 1


def text_field(record: dict[str, Any], field: str, path: str | os.PathLike, lineno: int, *,
               error: type[ToolkitError] = InputError, none_as_empty: bool = False) -> str:
    """The string in ``record[field]``; anything else is an error naming the file, line and field."""
    value = record.get(field)
    if value is None and none_as_empty:
        return ""
    if not isinstance(value, str):
        raise error(f"{path}, line {lineno}: field {field!r} must be a string, got "
                    f"{'null' if value is None else type(value).__name__}")
    return value


__all__ = ["RECORD_FORMATS", "iter_records", "record_format", "text_field"]
