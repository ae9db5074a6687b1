"""Length policy, padding and batch planning: one module for the runtime, export and training.

A model's length policy says how a batch of id lists becomes one int array:

* ``fixed``: post-padded with 0 and post-truncated to exactly ``max_len``
  (needed by models with a Flatten); batches in input order.
* ``dynamic``: padded to the longest document of the batch, capped at
  ``max_len`` and at least ``min_len`` wide (models with a global pooling).
  Documents are sorted by length into buckets (:func:`plan_batches`) and the
  scores come back in input order.

Serving half: numpy only.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from toolkit.core.contracts import LENGTH_POLICIES
from toolkit.core.errors import BundleError, ConfigError, VocabError
from toolkit.core.options import check_int

__all__ = [
    "DEFAULT_BATCH_SIZE", "LENGTH_POLICIES", "MAX_PADDING", "MIN_BUCKET_CELLS", "batch_width", "check_policy",
    "empty_width", "pad", "pad_dynamic", "pad_fixed", "plan_batches", "score_batches",
]
#: Documents per model call unless the caller says otherwise.
DEFAULT_BATCH_SIZE = 64

PredictFn = Callable[[np.ndarray], np.ndarray]


def check_policy(policy: Any, where: str = "length policy") -> str:
    """``policy`` if it is one of :data:`LENGTH_POLICIES`, else a one-line error naming ``where``."""
    if policy not in LENGTH_POLICIES:
        raise ConfigError(f"unknown {where} {policy!r}; use one of {', '.join(LENGTH_POLICIES)}")
    return policy


def pad_fixed(sequences: Sequence[Sequence[int]], max_len: int) -> np.ndarray:
    """Post-pad with 0 and post-truncate to exactly ``max_len`` (the Keras seed's policy)."""
    if max_len < 1:
        raise VocabError(f"max_len must be >= 1, got {max_len!r}")
    out = np.zeros((len(sequences), max_len), dtype=np.int32)
    for i, seq in enumerate(sequences):
        seq = seq[:max_len]
        out[i, : len(seq)] = seq
    return out


def pad_dynamic(sequences: Sequence[Sequence[int]], max_len: int, min_len: int = 1) -> np.ndarray:
    """Post-pad to the longest sequence in the batch, capped at ``max_len``.

    ``min_len`` keeps the width at least that long (a convolution of width k
    needs k positions).
    """
    longest = max((len(s) for s in sequences), default=0)
    return pad_fixed(sequences, max(min(longest, max_len), min_len, 1))


def pad(sequences: Sequence[Sequence[int]], max_len: int, policy: str = "fixed", min_len: int = 1) -> np.ndarray:
    if policy == "fixed":
        return pad_fixed(sequences, max_len)
    if policy == "dynamic":
        return pad_dynamic(sequences, max_len, min_len=min_len)
    raise VocabError(f"unknown length policy {policy!r}; use one of {', '.join(LENGTH_POLICIES)}")


def batch_width(longest: int, policy: str, max_len: int, min_len: int = 1) -> int:
    """Width a batch whose longest document has ``longest`` ids is padded to."""
    if policy == "fixed":
        return max_len
    if policy == "dynamic":
        return max(min(longest, max_len), min_len, 1)
    raise ConfigError(f"unknown length policy {policy!r}; use one of {', '.join(LENGTH_POLICIES)}")


#: Dynamic policy: a bucket is cut before its padding would exceed this share of its real ids ...
MAX_PADDING = 0.25
#: ... unless the whole bucket is at most this many ids (small calls: per-call costs dominate).
MIN_BUCKET_CELLS = 8192
def plan_batches(
    lengths: Sequence[int],
    batch_size: int,
    policy: str,
    max_len: int,
    min_len: int = 1,
) -> list[tuple[np.ndarray, int]]:
    """Split documents (given by their lengths) into batches: ``[(indices, width), ...]``.

    Fixed policy: batches of ``batch_size`` in input order, each ``max_len``
    wide. Dynamic policy: indices sorted by length (stable) and cut into
    buckets of at most ``batch_size`` documents, each as wide as its longest
    document (capped at ``max_len``, at least ``min_len``). A bucket is also cut
    early when adding the next (longer) document would make its padding more
    than ``MAX_PADDING`` of its real ids, unless it stays within
    ``MIN_BUCKET_CELLS`` ids: reviews of 300 to 2,700 words batched 64 at a time
    would otherwise spend about half of the model's work on padding.
    """
    check_int(batch_size, "batch_size", minimum=1, subject="batch_size")
    lengths = np.asarray(lengths, dtype=np.int64)
    if policy != "dynamic":
        batches = []
        for start in range(0, len(lengths), batch_size):
            idx = np.arange(start, min(start + batch_size, len(lengths)))
            longest = int(lengths[idx].max()) if len(idx) else 0
            batches.append((idx, batch_width(longest, policy, max_len, min_len)))
        return batches
    order = np.argsort(lengths, kind="stable")
    widths = [batch_width(int(n), policy, max_len, min_len) for n in lengths[order].tolist()]
    real = np.minimum(lengths[order], max_len).tolist()
    batches = []
    start = 0
    while start < len(order):
        stop, total = start + 1, real[start]
        while stop < len(order) and stop - start < batch_size:
            cells = (stop + 1 - start) * widths[stop]  # sorted: the next document is the widest
            if cells > MIN_BUCKET_CELLS and cells > (1 + MAX_PADDING) * (total + real[stop]):
                break
            total += real[stop]
            stop += 1
        batches.append((order[start:stop], widths[stop - 1]))
        start = stop
    return batches


def empty_width(policy: str, max_len: int, min_len: int = 1) -> int:
    """Width of the all-padding row that scores an empty document."""
    return max_len if policy == "fixed" else max(min_len, 1)


def score_batches(
    id_lists: Sequence[Sequence[int]],
    predict: PredictFn,
    *,
    policy: str,
    max_len: int,
    min_len: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dtype: Any = np.int32,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Score id lists with ``predict(int array [b, width]) -> [b, n_labels]``, in input order.

    The one batching routine of the toolkit: the runtime scores with it, and
    export runs it over the Keras model and the ONNX model to compare them on
    identical inputs. Ids beyond ``max_len`` are dropped; empty documents get
    the score of one all-padding row (see :func:`empty_width`).
    ``progress(n)`` is called after each batch of ``n`` documents.
    """
    ids = [seq[:max_len] for seq in id_lists]
    n = len(ids)
    lengths = [len(seq) for seq in ids]
    empty = [i for i, length in enumerate(lengths) if length == 0]
    full = [i for i, length in enumerate(lengths) if length > 0]
    out: np.ndarray | None = None

    def store(rows: Sequence[int] | np.ndarray, probs: np.ndarray) -> None:
        nonlocal out
        probs = np.asarray(probs, dtype=np.float32)
        if probs.ndim != 2 or probs.shape[0] != (len(rows) if len(rows) else 1):
            raise BundleError(f"the model returned an array of shape {probs.shape}; expected [batch, n_labels]")
        if out is None:
            out = np.zeros((n, probs.shape[1]), dtype=np.float32)
        out[rows] = probs

    if empty:
        row = np.zeros((1, empty_width(policy, max_len, min_len)), dtype=dtype)
        probs = np.asarray(predict(row), dtype=np.float32)
        store(empty, np.repeat(probs, len(empty), axis=0))
        if progress:
            progress(len(empty))
    for idx, width in plan_batches([lengths[i] for i in full], batch_size, policy, max_len, min_len):
        rows = [full[i] for i in idx]
        arr = pad_fixed([ids[i] for i in rows], width).astype(dtype, copy=False)
        store(rows, predict(arr))
        if progress:
            progress(len(rows))
    if out is None:  # no documents at all
        return np.zeros((0, 0), dtype=np.float32)
    return out
