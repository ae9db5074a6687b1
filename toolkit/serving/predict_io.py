"""``toolkit predict --file``: score a JSONL, CSV or text-lines file into JSONL, in one process.

Records are read by :func:`toolkit.core.records.iter_records`; the output is
written to a temporary file beside the target and renamed into place. For
inputs too large for one process, see :mod:`toolkit.serving.scoring`
(``toolkit score``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from toolkit.core.errors import OutputExistsError
from toolkit.core.batching import DEFAULT_BATCH_SIZE
from toolkit.core.atomic import check_parent_writable, refuse_existing, temp_file
from toolkit.core.bundle import sha256_file
from toolkit.core.records import iter_records
from toolkit.core.records import text_field as text_field_value
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
    {label: p}}`` (a multi-label bundle: ``"labels": [...]``, those over their
    thresholds), in input order. The output is written to a temporary file
    and renamed into place. Returns a summary (documents, documents per label, seconds).
    """
    out_path = Path(out_path)
    if out_path.is_dir():
        raise OutputExistsError(f"--out {out_path} is a folder; give the path of the JSONL file to write")
    refuse_existing(out_path, overwrite)
    check_parent_writable(out_path, "--out")
    rt = bundle if isinstance(bundle, Runtime) else Runtime.load(bundle, threads=threads)
    in_path = Path(in_path)
    records = [(({"id": rec["id"]} if rec.get("id") not in (None, "") else {}),
                text_field_value(rec, text_field, in_path, lineno))
               for lineno, rec in iter_records(in_path, (text_field,), encoding=encoding)]
    start = time.perf_counter()
    counts = {label: 0 for label in rt.labels}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(out_path)  # .<name>.toolkit-tmp-<pid>-...: swept by the next run if this one is killed
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out, _progress(progress, len(records)) as advance:
            for begin in range(0, len(records), chunk_size):
                chunk = records[begin : begin + chunk_size]
                probs = rt.score([text for _, text in chunk], batch_size=batch_size)
                for offset, ((extra, _), rec) in enumerate(zip(chunk, rt.to_records(probs))):
                    for label in rec["labels"] if rt.multi_label else (rec["label"],):
                        counts[label] += 1
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


def bundle_report(bundle: str | os.PathLike, threads: int | None = None) -> dict[str, Any]:
    """What ``toolkit predict BUNDLE --info`` prints: the bundle checked whole (as
    :meth:`Runtime.load` checks it) and what it is, with its id, to tell two bundles apart."""
    rt = Runtime.load(bundle, threads=threads, verify=True)
    info = rt.info
    meta = info.meta
    return {
        "bundle": str(info.path),
        "name": info.name,
        "bundle_id": info.bundle_id,
        "bundle_id_recorded": info.bundle_id_recorded,
        "format_version": info.format_version,
        "checked": "bundle.json, its bundle id, every file's size and sha256, the tokenizer, vocabulary vs "
                   "model, labels vs model outputs" if info.bundle_id_recorded else
                   "every file's size and sha256, the tokenizer, vocabulary vs model, labels vs model outputs "
                   "(format 1: bundle.json itself carries no id; export again for one)",
        "labels": list(info.labels),
        "multi_label": info.multi_label,
        **({"thresholds": dict(zip(info.labels, info.thresholds))} if info.multi_label else {}),
        "tokenizer": {k: info.tokenizer.get(k) for k in ("name", "config", "distribution", "version")},
        "vocab_size": len(rt.vocab),
        "ngrams": info.ngrams,
        "length_policy": info.length_policy,
        "max_len": info.max_len,
        "min_len": info.min_len,
        "architecture": (meta.get("architecture") or {}).get("name"),
        "embedding": (meta.get("embedding") or {}).get("name"),
        "metrics": {k: (meta.get("metrics") or {}).get(k) for k in ("accuracy", "macro_f1")},
        "quantization": (meta.get("quantization") or {}).get("applied"),
        "exported_by": meta.get("exported_by"),
        "created": meta.get("created"),
        "files": {name: {"sha256": digest, "bytes": (meta.get("file_sizes") or {}).get(name)}
                  for name, digest in info.files.items()},
        "bundle_json_sha256": sha256_file(info.path / "bundle.json"),
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
