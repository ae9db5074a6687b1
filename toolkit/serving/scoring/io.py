"""Files in and out for ``toolkit score``: discovery, streaming readers, atomic writers, resume.

Readers yield pyarrow tables of at most ``chunk_rows`` rows, so memory stays
bounded whatever the file size:

* Parquet: ``pyarrow.parquet.ParquetFile.iter_batches``;
* CSV: ``pyarrow.csv.open_csv`` (a streaming reader; the text column is read as
  text, the other columns' types are inferred from the first block);
* JSONL: the standard library, line by line, so an error names its line; the
  first chunk fixes the columns and their types, later lines are held to them.

One output per input, named after it (``reviews.jsonl`` -> ``OUT/reviews.parquet``;
inputs found under a folder keep their sub-folders). Outputs are written under a
temporary name next to the target (``.reviews.parquet.toolkit-tmp-<pid>-<host>-XXXX``,
:func:`toolkit.core.atomic.temp_path`) and renamed into place; ``OUT/_SUCCESS`` is
written only when every input is done. What a killed run left is swept by the next
run to the same outputs and by ``toolkit clean OUT``; a live run's work never is.
pyarrow is imported inside functions.
"""

from __future__ import annotations

import glob as globmod
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from toolkit.core.atomic import refuse_existing, remove_path, sweep_stale, temp_path, write_json
from toolkit.core.errors import InputError, OutputNotWritableError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
OUTPUT_FORMATS = ("parquet", "jsonl")
SUCCESS = "_SUCCESS"
#: The target a grouped Ray write names its temporary folder after (``OUT/.ray-group.toolkit-tmp-...``).
GROUP_NAME = "ray-group"


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes."""

    source: Path
    kind: str  # jsonl | csv | parquet
    out: Path

    @property
    def name(self) -> str:
        return str(self.source)


def _kind(path: Path) -> str | None:
    return FORMATS.get(path.suffix.lower())


def discover(inputs: Sequence[str | os.PathLike], out_dir: Path, fmt: str) -> list[Job]:
    """Jobs for files, folders (searched recursively for known suffixes) and glob patterns, in a stable order."""
    if fmt not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {fmt!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    if not inputs:
        raise InputError("no input given; pass files, folders or glob patterns")
    out_dir = Path(out_dir).resolve()
    found: list[tuple[Path, Path]] = []  # (file, relative output stem)
    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if _kind(p) and not _hidden(p.relative_to(path)))
            files = [p for p in files if out_dir not in p.resolve().parents]
            if not files:
                raise InputError(f"folder {path} holds no {'/'.join(sorted(FORMATS))} files")
            found += [(p, p.relative_to(path).with_suffix("")) for p in files]
        elif path.exists() or os.path.islink(path):
            if _kind(path) is None:
                raise InputError(f"input file {path}: unknown format {path.suffix!r}; name it "
                                 f"{', '.join(sorted(FORMATS))}")
            found.append((path, Path(path.stem)))
        elif globmod.has_magic(text):
            files = sorted(Path(p) for p in globmod.glob(text, recursive=True) if _kind(Path(p)))
            if not files:
                raise InputError(f"pattern {text!r} matches no {'/'.join(sorted(FORMATS))} files")
            found += [(p, Path(p.stem)) for p in files if out_dir not in p.resolve().parents]
        else:
            raise InputError(f"input {text} does not exist")
    jobs: list[Job] = []
    seen: dict[Path, Path] = {}
    for source, stem in found:
        out = out_dir / stem.with_name(f"{stem.name}.{fmt}")
        if out in seen:
            if seen[out].resolve() == source.resolve():
                continue
            raise InputError(f"inputs {seen[out]} and {source} would both write {out}; score them into "
                             f"different --out folders or rename one")
        seen[out] = source
        jobs.append(Job(source, _kind(source) or "", out))
    return jobs


def _hidden(rel: Path) -> bool:
    return any(part.startswith((".", "_")) for part in rel.parts)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def read_chunks(job: Job, text_field: str, chunk_rows: int) -> Iterator[tuple[Any, int]]:
    """``(pyarrow.Table, first_row)`` chunks of an input file; ``first_row`` is 1-based."""
    readers = {"jsonl": _jsonl_chunks, "csv": _csv_chunks, "parquet": _parquet_chunks}
    row = 1
    try:
        for table in readers[job.kind](job.source, text_field, chunk_rows):
            if table.num_rows:
                yield table, row
                row += table.num_rows
    except InputError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"input file {job.source}: cannot be read as {job.kind.upper()}: {_one_line(exc)}") from exc
    if row == 1:
        raise InputError(f"input file {job.source} is empty (no records); remove it from the input")


def check_input(job: Job, text_field: str, reserved: Sequence[str] = ()) -> list[str]:
    """Read the first records of a file; raise on the errors that show there. Returns its column names."""
    for table, _ in read_chunks(job, text_field, 64):
        names = list(table.column_names)
        if text_field not in names:
            raise InputError(f"input file {job.source}: no column {text_field!r} (columns: {', '.join(names)}); "
                             f"use --text-field")
        clash = [n for n in reserved if n in names]
        if clash:
            raise InputError(f"input file {job.source}: column {clash[0]!r} is also an output column; rename it "
                             f"or pass --label-column")
        text_values(table, text_field, job.source, 1)
        return names
    raise AssertionError("unreachable")  # read_chunks raises on an empty file


def text_values(table: Any, text_field: str, source: Path | str, first_row: int) -> list[str]:
    """The text column as a list of str; a missing column, a non-text type or a null is an error."""
    import pyarrow as pa

    if text_field not in table.column_names:
        raise InputError(f"input file {source}: no column {text_field!r} (columns: "
                         f"{', '.join(table.column_names)}); use --text-field")
    column = table.column(text_field)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InputError(f"input file {source}: column {text_field!r} holds {column.type}, not text "
                         f"(first value {column[0].as_py()!r:.40})")
    if column.null_count:
        import pyarrow.compute as pc

        index = pc.index(pc.is_null(column), True).as_py()
        where = f", row {first_row + index}" if first_row else ""
        raise InputError(f"input file {source}{where}: {text_field!r} is null, not text")
    return column.to_pylist()


def _parquet_chunks(path: Path, text_field: str, rows: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=rows):
            yield pa.Table.from_batches([batch])


def _csv_chunks(path: Path, text_field: str, rows: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=1 << 20),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(column_types={text_field: pa.string()}, strings_can_be_null=False),
    )
    pending: list[Any] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _jsonl_chunks(path: Path, text_field: str, rows: int) -> Iterator[Any]:
    schema = None
    records: list[dict] = []
    first_line = 1
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"input file {path}, line {lineno}: not a JSON line ({_one_line(exc)})") from exc
            if not isinstance(obj, dict):
                raise InputError(f"input file {path}, line {lineno}: expected a JSON object, got {type(obj).__name__}")
            text = obj.get(text_field)
            if not isinstance(text, str):
                what = "missing" if text_field not in obj else f"{type(text).__name__} {text!r:.40}, not text"
                hint = "; use --text-field" if text_field not in obj else ""
                raise InputError(f"input file {path}, line {lineno}: field {text_field!r} is {what}{hint}")
            if schema is not None:
                extra = [key for key in obj if key not in schema.names]
                if extra:
                    raise InputError(f"input file {path}, line {lineno}: field {extra[0]!r} does not appear in the "
                                     f"first {rows} records; put every field in the first records")
            if not records:
                first_line = lineno
            records.append(obj)
            if len(records) >= rows:
                table = _records_table(records, schema, path, first_line, lineno)
                schema = table.schema
                yield table
                records = []
    if records:
        yield _records_table(records, schema, path, first_line, lineno)


def _records_table(records: list[dict], schema: Any, path: Path, first: int, last: int) -> Any:
    import pyarrow as pa

    names = list(schema.names) if schema is not None else list(dict.fromkeys(k for r in records for k in r))
    arrays = []
    for name in names:
        values = [r.get(name) for r in records]
        try:
            arrays.append(pa.array(values, type=schema.field(name).type if schema is not None else None))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise InputError(f"input file {path}, lines {first}-{last}: field {name!r} does not hold one type "
                             f"({_one_line(exc)})") from exc
    return pa.Table.from_arrays(arrays, names=names)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def remove_output(path: Path) -> None:
    """Remove an output (a file, or an engine's folder of parts) that is to be replaced."""
    if not remove_path(path):
        raise OutputNotWritableError(f"cannot remove {path} to replace it; remove it yourself or choose another --out")


def plan_outputs(jobs: list[Job], out_dir: Path, resume: bool, overwrite: bool) -> tuple[list[Job], list[Job]]:
    """``(to_do, done)``. Removes the success marker and what killed runs left for these outputs
    (:func:`toolkit.core.atomic.sweep_stale`: never a live run's work); refuses to overwrite by accident."""
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = [job for job in jobs if job.out.exists()]
    if existing and not resume:
        refuse_existing(existing[0].out, overwrite, problem=f"exists ({len(existing)} of {len(jobs)} outputs exist)",
                        or_pass="--resume to skip finished inputs", replace="them")
    remove_output(out_dir / SUCCESS)
    for job in jobs:
        sweep_stale(job.out)
    for parent in {job.out.parent for job in jobs}:
        sweep_stale(parent / GROUP_NAME)
    if resume:
        return [j for j in jobs if not j.out.exists()], existing
    return jobs, []


def write_success(out_dir: Path, summary: dict) -> None:
    write_json(out_dir / SUCCESS, summary)


class FileSink:
    """Write tables to one Parquet or JSONL file under a temporary name; ``commit`` renames it into place."""

    def __init__(self, target: Path, fmt: str):
        self.target = target
        self.fmt = fmt
        self.tmp = temp_path(target)
        self.rows = 0
        self._writer: Any = None
        self._fh: Any = None

    def __enter__(self) -> "FileSink":
        self.target.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, table: Any) -> None:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, table.schema)
            self._writer.write_table(table)
        else:
            if self._fh is None:
                self._fh = open(self.tmp, "w", encoding="utf-8", newline="\n")
            self._fh.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in table.to_pylist()))
        self.rows += table.num_rows

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._close()
        finally:
            if exc_type is None and self.rows:
                os.replace(self.tmp, self.target)
            else:
                remove_path(self.tmp)


def count_rows(path: Path, fmt: str) -> int:
    """Rows in an output file or folder of parts (Parquet: from the footers; JSONL: lines)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))) \
        if path.is_dir() else [path]
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(p).metadata.num_rows for p in files if p.suffix == ".parquet")
    total = 0
    for p in files:
        with open(p, "rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return total
