"""Score review sets of any size: ``score_files`` on one process, on Ray, or on Spark.

    >>> from toolkit.serving.scoring import score_files
    >>> score_files("default", ["reviews/*.jsonl"], "scored/", engine="local", workers=2)

Inputs: JSONL, CSV or Parquet files (a list of files, folders or glob patterns).
Each input gets one output named after it (``OUT/<name>.parquet`` or ``.jsonl``):
a single file from the ``local`` engine, a folder of ``part-*`` files from the
``ray`` and ``spark`` engines (any Parquet or JSON reader takes either). Rows keep
the input's order within each output, and every input column is carried through
unchanged; the label and ``p_<LABEL>`` columns are appended (see
:mod:`toolkit.serving.scoring.core`). Outputs appear only when complete (written
under a temporary name beside them, ``.<name>.toolkit-tmp-<pid>-<host>-XXXX``, then
renamed; a killed run's are swept by the next run and by ``toolkit clean``);
``OUT/_SUCCESS`` is written when every input is done. ``resume=True`` skips inputs
whose output exists.

Nothing here imports pyarrow, Ray or PySpark until a function runs.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from toolkit.core.errors import InputError

ENGINES = ("local", "ray", "spark")
DEFAULT_BATCH_ROWS = 4096


@dataclass
class ScoreSummary:
    engine: str
    out: str
    labels: list[str]
    documents: int = 0
    files: dict[str, int] = field(default_factory=dict)  # output path -> rows, for the files scored now
    skipped: list[str] = field(default_factory=list)  # outputs that existed (--resume)
    seconds: float = 0.0

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "docs_per_s": round(self.docs_per_s, 1)}

    def render(self) -> str:
        skipped = f"; skipped {len(self.skipped)} finished" if self.skipped else ""
        return (f"scored {self.documents:,} documents from {len(self.files)} file(s) in {self.seconds:.1f}s "
                f"({self.docs_per_s:,.0f} docs/s, engine {self.engine}){skipped}; written: {self.out}")


def score_files(
    bundle: str | os.PathLike | None,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    engine: str = "local",
    text_field: str = "text",
    fmt: str = "parquet",
    label_column: str = "label",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    workers: int = 1,
    threads: int | None = None,
    concurrency: int | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    master: str = "local[2]",
    ship: str = "bytes",
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
) -> ScoreSummary:
    """Score every input file with ``bundle`` (a folder, or ``None``/"default" for the shipped model).

    ``batch_rows``: documents handed to a scorer at a time (a local chunk, a Ray
    ``map_batches`` batch, a Spark ``predict_batch_udf`` batch). ``workers``: local
    processes. ``concurrency``: Ray actors (default: the cluster's CPUs). ``address``:
    an existing Ray cluster (else a local one is started and stopped). ``master``: the
    Spark master. ``ship``: how Ray/Spark workers get the bundle: ``"bytes"`` (packed by
    the driver, unpacked to a temporary folder on each worker) or ``"path"`` (the path
    must exist on every worker). ``progress``: a bar on stderr (default: when it is a terminal).
    """
    from toolkit.serving.scoring import io
    from toolkit.serving.scoring.core import bundle_labels, output_columns, resolve_bundle

    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if ship not in ("bytes", "path"):
        raise InputError(f"unknown ship mode {ship!r}; use 'bytes' or 'path'")
    if batch_rows < 1 or workers < 1:
        raise InputError("--batch-size and --workers must be at least 1")
    bundle_path = resolve_bundle(bundle)
    labels = bundle_labels(bundle_path)
    out_dir = Path(out)
    jobs = io.discover(inputs, out_dir, fmt)
    reserved = output_columns(labels, label_column)
    columns = {job.source: io.check_input(job, text_field, reserved) for job in jobs}  # fail fast, before any work
    if engine == "ray" and fmt == "parquet":
        clash = next((src for src, names in columns.items() if "path" in names), None)
        if clash is not None:
            raise InputError(f"input file {clash} has a column 'path', which the ray engine uses for the file name; "
                             f"rename it, or use --format jsonl or another engine")
    todo, done = io.plan_outputs(jobs, out_dir, resume=resume, overwrite=overwrite)
    summary = ScoreSummary(engine=engine, out=str(out_dir), labels=labels, skipped=[str(j.out) for j in done])
    if overwrite:
        for job in todo:
            io.remove_output(job.out)  # an old output never survives next to a failed new one
    start = time.perf_counter()

    def finished(job: Any, rows: int) -> None:
        summary.files[str(job.out)] = rows
        summary.documents += rows

    common = dict(text_field=text_field, label_column=label_column, fmt=fmt)
    with Progress(progress, total_rows(todo)) as advance:
        if not todo:
            pass
        elif engine == "local":
            from toolkit.serving.scoring.local import score_local

            score_local(todo, bundle_path, advance, finished, chunk_rows=batch_rows, workers=workers,
                        threads=threads, **common)
        elif engine == "ray":
            from toolkit.serving.scoring.ray_engine import score_ray

            score_ray(todo, bundle_path, advance, finished, batch_rows=batch_rows, concurrency=concurrency,
                      address=address, num_cpus=num_cpus, ship=ship, show_progress=advance.enabled,
                      out_dir=out_dir, **common)
        else:
            from toolkit.serving.scoring.spark import score_spark

            score_spark(todo, bundle_path, advance, finished, batch_rows=batch_rows, master=master, ship=ship,
                        columns=columns, out_dir=out_dir, **common)
    summary.seconds = time.perf_counter() - start
    io.write_success(out_dir, {**summary.to_dict(), "inputs": [str(j.source) for j in jobs]})
    return summary


def total_rows(jobs: Sequence[Any]) -> int | None:
    """Rows to score when every input is Parquet (from the footers), else ``None`` (unknown)."""
    if not jobs or any(job.kind != "parquet" for job in jobs):
        return None
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(job.source).metadata.num_rows for job in jobs)


class Progress:
    """A rich bar on stderr: documents, docs/s, elapsed (and a bar when the total is known)."""

    def __init__(self, enabled: bool | None, total: int | None):
        self.enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
        self.total = total
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)
            speed = self._bar.tasks[0].speed
            self._bar.update(self._task, rate=f"{speed:,.0f} docs/s" if speed else "")

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

            self._bar = RichProgress(
                TextColumn("scoring"), BarColumn(), TextColumn("{task.completed:,.0f} docs"),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=Console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("scoring", total=self.total, rate="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None


__all__ = ["ENGINES", "ScoreSummary", "score_files"]
