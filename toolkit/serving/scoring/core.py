"""What every engine shares: the bundle as bytes, the runtime loaded once, score columns added to a table,
the paths a cluster's workers must see.

Output columns, after the input's own columns (unchanged, in their order):

* ``label`` (or ``--label-column``): the most probable label, as ``Runtime.to_records``; for a
  multi-label bundle a list of strings instead: the labels whose probability reaches their
  threshold (``bundle.json["thresholds"]``), in label order, possibly empty (the column keeps its
  name, so ``--label-column`` works alike);
* ``p_<LABEL>`` for each of the bundle's labels, in label order: float32 probabilities,
  the same numbers as ``Runtime.score``.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from toolkit.core.errors import BundleError, InputError, ScoringError, ToolkitError

BundleSource = Union[str, os.PathLike, bytes]
DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "models" / "default"


def resolve_bundle(bundle: str | os.PathLike | None) -> Path:
    """A bundle folder; ``None`` or ``"default"`` is the shipped default model."""
    if bundle is None or str(bundle) == "default":
        return DEFAULT_BUNDLE
    path = Path(bundle)
    if not (path / "bundle.json").is_file():
        raise BundleError(f"{path} is not a bundle folder (no bundle.json); give a folder written by `toolkit export`")
    return path


def probability_columns(labels: Sequence[str]) -> list[str]:
    return [f"p_{label}" for label in labels]


def output_columns(labels: Sequence[str], label_column: str = "label") -> list[str]:
    return [label_column, *probability_columns(labels)]


def bundle_labels(bundle: Path) -> list[str]:
    from toolkit.core.bundle import read_bundle

    return list(read_bundle(bundle, verify=False).labels)


def bundle_thresholds(bundle: Path) -> list[float] | None:
    """A multi-label bundle's per-label thresholds (label order), ``None`` for an exclusive bundle."""
    from toolkit.core.bundle import read_bundle

    return read_bundle(bundle, verify=False).thresholds


def pack_bundle(bundle: str | os.PathLike) -> bytes:
    """The bundle folder as bytes (a gzip tar), to ship to workers that cannot see the driver's disk."""
    path = Path(bundle)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for item in sorted(path.rglob("*")):
            if item.is_file():
                tar.add(item, arcname=str(item.relative_to(path)), recursive=False)
    return buffer.getvalue()


def cluster_needs(jobs: Sequence[Any], bundle: Path, ship: str, out_dir: Path | None) -> list[Any]:
    """The paths a cluster's workers use: each input (read), the bundle when sent by path, the output folder."""
    from toolkit.core.shared_storage import Need

    needs = [Need("input file", str(job.source.resolve())) for job in jobs]
    if ship == "path":
        needs.append(Need("bundle", str(Path(bundle).resolve()), hint="or send it with --ship bytes"))
    if out_dir is not None:
        needs.append(Need("output folder (--out)", str(Path(out_dir).resolve()), write=True))
    return needs


def load_runtime(source: BundleSource, threads: int | None = None) -> Any:
    """A ``Runtime`` from a bundle path or from :func:`pack_bundle` bytes.

    Bytes are unpacked into a temporary folder, loaded (checksums verified) and the
    folder removed at once: the runtime keeps the model, vocabulary and tokenizer in memory.
    """
    from toolkit.serving.runtime import Runtime

    if not isinstance(source, (bytes, bytearray, memoryview)):
        return Runtime.load(source, threads=threads)
    with tempfile.TemporaryDirectory(prefix="toolkit-bundle-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(bytes(source)), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        return Runtime.load(tmp, threads=threads)


def score_columns(probs: np.ndarray, labels: Sequence[str], label_column: str = "label",
                  thresholds: Sequence[float] | None = None) -> dict[str, Any]:
    """``{column: pyarrow array}`` for a [n, n_labels] probability array; ``thresholds`` (a multi-label
    bundle's): the label column lists the labels at or over their thresholds."""
    import pyarrow as pa

    probs = np.asarray(probs, dtype=np.float32)
    names = np.asarray(list(labels), dtype=object)
    if thresholds is not None:
        chosen = probs >= np.asarray(thresholds, dtype=np.float32)
        columns: dict[str, Any] = {label_column: pa.array([names[row].tolist() for row in chosen],
                                                          type=pa.list_(pa.string()))}
    else:
        columns = {label_column: pa.array(names[np.argmax(probs, axis=1)] if len(probs) else [], type=pa.string())}
    for i, name in enumerate(probability_columns(labels)):
        columns[name] = pa.array(probs[:, i], type=pa.float32())
    return columns


def with_scores(table: Any, probs: np.ndarray, labels: Sequence[str], label_column: str = "label",
                thresholds: Sequence[float] | None = None) -> Any:
    """``table`` with the label and probability columns appended (``thresholds``: see :func:`score_columns`)."""
    for name, array in score_columns(probs, labels, label_column, thresholds).items():
        table = table.append_column(name, array)
    return table


class TableScorer:
    """Loads the runtime once; scores pyarrow tables (used by the local worker processes and Ray actors)."""

    def __init__(self, bundle: BundleSource, text_field: str = "text", label_column: str = "label",
                 threads: int | None = None, batch_size: int = 64):
        self.runtime = load_runtime(bundle, threads=threads)
        self.labels = list(self.runtime.labels)
        self.thresholds = None if self.runtime.thresholds is None else self.runtime.thresholds.tolist()
        self.text_field = text_field
        self.label_column = label_column
        self.batch_size = batch_size

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.runtime.score(list(texts), batch_size=self.batch_size)

    def score_table(self, table: Any, source: str, first_row: int = 1) -> Any:
        from toolkit.serving.scoring.io import text_values

        texts = text_values(table, self.text_field, source, first_row)
        return with_scores(table, self.score(texts), self.labels, self.label_column, self.thresholds)


def toolkit_cause(exc: BaseException) -> ToolkitError | None:
    """The toolkit error behind an engine's wrapped exception, if there is one."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ToolkitError):
            return item
        stack += [getattr(item, "cause", None), item.__cause__, item.__context__]
    return None


def toolkit_error_in_text(exc: BaseException) -> ToolkitError | None:
    """A toolkit error raised in a worker and carried back only as text (Ray's and Spark's tracebacks)."""
    import re

    from toolkit.core import errors

    texts = []
    item: Any = exc
    for _ in range(10):
        if item is None:
            break
        texts.append(str(item))
        item = getattr(item, "cause", None) or item.__cause__
    found = re.search(r"toolkit\.core\.errors\.(\w+): \[E\d+\] ([^\n]*)", "\n".join(texts))
    cls = getattr(errors, found.group(1), None) if found else None
    if found is None or not (isinstance(cls, type) and issubclass(cls, ToolkitError)):
        return None
    return cls(found.group(2).strip())


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain (engines wrap the worker's error several times)."""
    seen = {id(exc)}
    while True:
        nxt = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
        if not isinstance(nxt, BaseException) or id(nxt) in seen:
            return exc
        seen.add(id(nxt))
        exc = nxt


def engine_failure(job: Any, engine: str, exc: BaseException) -> ToolkitError:
    cause = toolkit_cause(exc) or toolkit_error_in_text(exc)
    if cause is not None:
        if job is not None and isinstance(cause, InputError) and str(job.source) not in cause.message:
            return InputError(f"input file {job.source}: {cause.message}")
        return cause
    root = root_cause(exc)
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    reason = f"{type(root).__name__}: {lines[0] if lines else ''}"[:300]
    where = f"input file {job.source}" if job is not None else "a group of input files"
    return ScoringError(f"{engine} failed on {where}: {reason}; no output was written for it")
