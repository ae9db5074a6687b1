"""A multi-label model's decisions: per-label calibration and thresholds, chosen on held-out documents.

A multi-label model gives each label its own probability; a label is predicted when its
probability reaches the label's threshold (``bundle.json["thresholds"]``, applied by the runtime,
the spaCy component's scorer, ``toolkit score`` and ``toolkit serve``).

Which held-out documents (:func:`toolkit.training.calibrate.heldout_predictions`, the same as the
calibration's): the dev set (``--dev-data``, or the records a split field marks ``dev``); else the
validation share (``training.validation_share > 0``, or the short-text rule's 10%); else, when a
calibration is fitted (``training.calibration`` is not ``"none"``), out-of-fold predictions of
``training.calibration_folds`` extra fits. When there are none of these (no dev set, no validation
share, calibration off), every threshold is :data:`DEFAULT_THRESHOLD` (0.5) and the record says so.

The rule (:func:`choose_thresholds`), per label, on the held-out probabilities after the
calibration (what the runtime serves): the threshold of :data:`GRID` (0.05, 0.10, ..., 0.95) with
the highest F1 of that label, ties going to the one nearest 0.5; a label whose held-out documents
all have it, or none do, keeps 0.5 (its F1 cannot rank thresholds).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from toolkit.core.errors import TrainingError

#: Thresholds tried for each label.
GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))
#: A label's threshold when there is nothing to choose it on.
DEFAULT_THRESHOLD = 0.5
RULE = ("per label, the threshold of 0.05, 0.10, ..., 0.95 with the best F1 on the held-out documents "
        "(calibrated probabilities; ties: nearest 0.5); 0.5 for a label the held-out documents all have or all lack")


def choose_thresholds(probs: np.ndarray, y: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """``{label: threshold}`` by the module's rule (``probs`` and the label matrix ``y``: [n, labels])."""
    from sklearn.metrics import f1_score

    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if probs.shape != y.shape or probs.shape[1:] != (len(labels),):
        raise TrainingError(f"choose_thresholds: probabilities {probs.shape} and labels {y.shape} must both be "
                            f"[n, {len(labels)}]")
    out = {}
    for c, label in enumerate(labels):
        if len(np.unique(y[:, c])) < 2:
            out[label] = DEFAULT_THRESHOLD
            continue
        scores = [f1_score(y[:, c], (probs[:, c] >= t).astype(np.int64), zero_division=0) for t in GRID]
        best = max(range(len(GRID)), key=lambda i: (round(float(scores[i]), 12), -abs(GRID[i] - 0.5), GRID[i]))
        out[label] = float(GRID[best])
    return out


def default_thresholds(labels: Sequence[str], why: str) -> dict[str, Any]:
    """The threshold record when there are no held-out documents: 0.5 for every label."""
    return {"thresholds": {label: DEFAULT_THRESHOLD for label in labels}, "chosen_on": f"default 0.5 ({why})", "n": 0}


def calibrate_and_choose(config: Any, train: Any, result: Any, progress: bool = False,
                         dev: Any = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any]]:
    """The calibration and thresholds of the trained multi-label ``result``: ``(record, heldout, decision)``.

    ``record``: the ``label-temperature`` calibration record (``None`` when ``training.calibration`` is
    ``"none"``); ``heldout``: its held-out metrics before and after; ``decision``: ``{"thresholds":
    {label: t}, "chosen_on", "n", "rule"}`` (see the module for which documents and the rule).
    """
    from toolkit.training.calibrate import (as_calibration, before_after, check_method, heldout_predictions,
                                              label_temperature_record)

    method = check_method(config)
    labels = list(result.prepared.labels)
    tr = config.training
    if method == "none" and dev is None and tr.validation_share <= 0:
        return None, None, default_thresholds(labels, "no dev set, no validation share and calibration off: "
                                                      "no held-out documents")
    probs, lengths, y, fitted_on = heldout_predictions(config, train, result, views=False, progress=progress, dev=dev)
    if len(y) == 0:
        raise TrainingError("multi-label thresholds: no held-out documents; raise training.validation_share, "
                            "pass --dev-data, or use training.calibration = \"none\" for 0.5 everywhere")
    record = heldout = None
    if method != "none":
        record = label_temperature_record(probs, y, labels, method)
        record.update(fitted_on=fitted_on, n=int(len(y)))
        heldout = before_after(probs, y, record, lengths)
        probs = as_calibration(record).apply(probs, lengths)
    decision = {"thresholds": choose_thresholds(probs, y, labels), "chosen_on": fitted_on, "n": int(len(y)),
                "rule": RULE}
    return record, heldout, decision


__all__ = ["DEFAULT_THRESHOLD", "GRID", "RULE", "calibrate_and_choose", "choose_thresholds", "default_thresholds"]
