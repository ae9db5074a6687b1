"""Keras against ONNX on the same padded batches: scores, accuracy and the parity report."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from toolkit.core.batching import score_batches
from toolkit.core.bundle import INPUT_NAME, OUTPUT_NAME

#: Largest absolute difference of probabilities allowed between Keras and ONNX.
PARITY_TOLERANCE = 1e-4
PARITY_BATCH_SIZE = 64


def onnx_predict_fn(session: Any):
    def predict(batch: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]

    return predict


def score_ids(ids: list[list[int]], predict: Any, meta: dict[str, Any], batch_size: int) -> np.ndarray:
    """Probabilities of ``predict`` over ``ids``, batched as the runtime batches them (``meta``: model.json)."""
    return score_batches(
        ids, predict, policy=meta["length_policy"], max_len=meta["max_len"], min_len=meta.get("min_len", 1) or 1,
        batch_size=batch_size,
    )


def decisions(probs: np.ndarray, decide: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """What a model decides from its probabilities: ``decide(probs)`` (a multi-label model's bool [n, labels]:
    its labels over their thresholds), else the top label of each row."""
    return np.argmax(probs, axis=1) if decide is None else np.asarray(decide(probs))


def accuracy(probs: np.ndarray, labels: np.ndarray, decide: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """Share of documents decided right: the top label; with a label matrix ``labels`` (multi-label) every
    label right (``decide``: the labels over their thresholds, default each at 0.5)."""
    if np.ndim(labels) == 2:
        chosen = decisions(probs, decide) if decide is not None else probs >= 0.5
        return float(np.mean(np.all(chosen == (np.asarray(labels) > 0), axis=1)))
    return float(np.mean(decisions(probs, decide) == labels))


def parity_report(reference: np.ndarray, other: np.ndarray,
                  decide: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """How far ``other`` is from ``reference``: the largest and mean absolute difference, and the documents
    whose decision differs (the top label, or with ``decide`` any of a multi-label model's labels)."""
    diff = np.abs(reference.astype(np.float64) - other.astype(np.float64))
    agree = decisions(reference, decide) == decisions(other, decide)
    if agree.ndim == 2:
        agree = agree.all(axis=1)
    return {
        "n": int(len(reference)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "label_agreement": float(agree.mean()) if agree.size else 1.0,
        "labels_differing": int((~agree).sum()),
    }
