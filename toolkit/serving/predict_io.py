"""``toolkit predict --file``: score a JSONL, CSV or text-lines file into JSONL, in one process.

Records are read by :func:`toolkit.serving.records.iter_records`; the output is
written to a temporary file beside the target and renamed into place. For
inputs too large for one process, see :mod:`toolkit.serving.scoring`
(``toolkit score``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from toolkit.errors import OutputExistsError
from toolkit.serving.batching import DEFAULT_BATCH_SIZE
from toolkit.serving.records import iter_records
from toolkit.serving.records import text_field as text_field_value
from toolkit.serving.runtime import Runtime


def predict_file(
    bundle: str | os.PathLike | Runtime,
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    text_field: str = "text",
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    encoding: str = "utf-8",
    chunk_size: int = 2048,
) -> dict[str, Any]:
    """Score every text of ``in_path`` and write JSONL to ``out_path``.

    Each output line: ``{"index": i, ["id": ...,] "label": ..., "probabilities":
    {label: p}}``, in input order. The output is written to a temporary file
    and renamed into place. Returns a summary (documents, label counts, seconds).
    """
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise OutputExistsError(f"{out_path} exists; pass --overwrite to replace it")
    rt = bundle if isinstance(bundle, Runtime) else Runtime.load(bundle, threads=threads)
    in_path = Path(in_path)
    records = [(({"id": rec["id"]} if rec.get("id") not in (None, "") else {}),
                text_field_value(rec, text_field, in_path, lineno))
               for lineno, rec in iter_records(in_path, (text_field,), encoding=encoding)]
    start = time.perf_counter()
    counts = {label: 0 for label in rt.labels}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out, _progress(progress, len(records)) as advance:
            for begin in range(0, len(records), chunk_size):
                chunk = records[begin : begin + chunk_size]
                probs = rt.score_texts([text for _, text in chunk], batch_size=batch_size)
                for offset, ((extra, _), rec) in enumerate(zip(chunk, rt.to_records(probs))):
                    counts[rec["label"]] += 1
                    out.write(json.dumps({"index": begin + offset, **extra, **rec}, ensure_ascii=False) + "\n")
                advance(len(chunk))
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {
        "documents": len(records),
        "labels": counts,
        "out": str(out_path),
        "seconds": round(time.perf_counter() - start, 3),
    }


class _progress:
    """A rich progress bar over ``total`` documents (or nothing), as a context manager."""

    def __init__(self, enabled: bool, total: int):
        self.enabled = enabled and total > 0
        self.total = total
        self._bar = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            transient=True, console=Console(stderr=True),
        )
        self._bar.__enter__()
        task = self._bar.add_task("scoring", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
