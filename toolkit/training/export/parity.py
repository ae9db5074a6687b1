"""Keras against ONNX on the same padded batches: scores, accuracy and the parity report."""

from __future__ import annotations

from typing import Any

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


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def parity_report(reference: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    diff = np.abs(reference.astype(np.float64) - other.astype(np.float64))
    agree = np.argmax(reference, axis=1) == np.argmax(other, axis=1)
    return {
        "n": int(len(reference)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "label_agreement": float(agree.mean()) if agree.size else 1.0,
        "labels_differing": int((~agree).sum()),
    }
