"""Classification metrics of a trained model on labelled documents (scikit-learn's implementations).

Every model gets accuracy, macro-F1, per-label precision / recall / F1 / support and the
confusion matrix (rows: true label, columns: predicted, both in the model's label order).
Labels that have an order (star ratings: see :func:`label_values`) also get the ordinal view:
the mean absolute error in label units, the share of documents off by at most one step, and how
many are off by each number of steps.

Multi-label models (non-exclusive labels, one probability per label: :func:`multilabel_metrics`)
get what spaCy's ``textcat_multilabel`` scorer reports (micro and macro precision / recall / F1,
per-label F1 and ROC AUC, the macro AUC) and more: ``accuracy`` is the exact-match share (every
label of the document right), the samples-F1 and the Hamming loss, and per label its threshold
and counts (tp, fp, fn, tn). A label is predicted when its probability reaches its threshold.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from toolkit.core.errors import TrainingError


def label_values(labels: Sequence[str]) -> list[float]:
    """The numbers ordered labels stand for ("1", "2", "4", "5" -> 1.0, 2.0, 4.0, 5.0), in label order.

    Raises:
        TrainingError: a label is not a number, or the labels are not in increasing order.
    """
    values = []
    for label in labels:
        try:
            value = float(label)
        except ValueError:
            raise TrainingError(f"ordered labels must be numbers (star ratings such as 1 ... 5); "
                                f"label {label!r} is not") from None
        if not np.isfinite(value):
            raise TrainingError(f"ordered labels must be finite numbers; label {label!r} is not")
        values.append(value)
    if any(b <= a for a, b in zip(values, values[1:])):
        raise TrainingError(f"ordered labels must be in increasing order, got {list(labels)}")
    return values


def order_labels(labels: Sequence[str]) -> list[str]:
    """Numeric labels sorted by value ("10" after "9"); the labels of an ordered corpus."""
    return sorted(labels, key=lambda label: label_values([label])[0])


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: list[str],
                           ordered: bool = False) -> dict[str, Any]:
    """Metrics of label indices ``y_pred`` against ``y_true`` (indices into ``labels``).

    ``ordered``: the labels are numbers in increasing order; adds ``ordinal`` (see the module).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    index = list(range(len(labels)))
    cm = confusion_matrix(y_true, y_pred, labels=index) if len(y_true) else np.zeros((len(labels),) * 2, np.int64)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=index, zero_division=0) if len(y_true) else (np.zeros(len(labels)),) * 4
    per_label = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])}
        for i, label in enumerate(labels)
    }
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f1)) if len(labels) else 0.0,
        "per_label": per_label,
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
        "n_test": int(len(y_true)),
    }
    if ordered:
        out["ordinal"] = ordinal_metrics(y_true, y_pred, labels)
    return out


def multilabel_metrics(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str],
                       thresholds: Sequence[float] | None = None) -> dict[str, Any]:
    """Metrics of probabilities ``probs`` [n, labels] against the label matrix ``y_true`` [n, labels] (1:
    the document has the label), a label predicted when its probability is >= its threshold (default 0.5).

    Keys: ``accuracy`` (exact match), ``micro_precision`` / ``micro_recall`` / ``micro_f1``,
    ``macro_precision`` / ``macro_recall`` / ``macro_f1``, ``samples_f1``, ``hamming_loss``, ``macro_auc``
    (as spaCy computes it: the sum of the labels' ROC AUC over the number of labels, a label with only one
    class in ``y_true`` counting 0), ``per_label`` (precision, recall, f1, support, auc or None,
    threshold, tp, fp, fn, tn), ``thresholds``, ``labels``, ``n_test`` and ``multi_label: true``.
    """
    from sklearn.metrics import (accuracy_score, f1_score, hamming_loss, multilabel_confusion_matrix,
                                 precision_recall_fscore_support, roc_auc_score)

    labels = list(labels)
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1, len(labels))
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(labels))
    cut = np.full(len(labels), 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    y_pred = (probs >= cut).astype(np.int64)
    n = len(y_true)
    zeros = np.zeros(len(labels))
    precision, recall, f1, _ = (precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
                                if n else (zeros,) * 4)
    counts = multilabel_confusion_matrix(y_true, y_pred) if n else np.zeros((len(labels), 2, 2), np.int64)
    aucs: list[float | None] = [
        float(roc_auc_score(y_true[:, i], probs[:, i])) if len(np.unique(y_true[:, i])) == 2 else None
        for i in range(len(labels))]

    def averaged(average: str) -> tuple[float, float, float]:
        if not n:
            return 0.0, 0.0, 0.0
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        return float(p), float(r), float(f)

    micro, macro = averaged("micro"), averaged("macro")
    per_label = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(y_true[:, i].sum()), "auc": aucs[i], "threshold": float(cut[i]),
                "tp": int(counts[i, 1, 1]), "fp": int(counts[i, 0, 1]), "fn": int(counts[i, 1, 0]),
                "tn": int(counts[i, 0, 0])}
        for i, label in enumerate(labels)
    }
    return {
        "multi_label": True,
        "accuracy": float(accuracy_score(y_true, y_pred)) if n else 0.0,
        "micro_precision": micro[0], "micro_recall": micro[1], "micro_f1": micro[2],
        "macro_precision": macro[0], "macro_recall": macro[1], "macro_f1": macro[2],
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", zero_division=0)) if n else 0.0,
        "hamming_loss": float(hamming_loss(y_true, y_pred)) if n else 0.0,
        "macro_auc": float(sum(a for a in aucs if a is not None) / len(labels)) if labels else 0.0,
        "per_label": per_label,
        "thresholds": {label: float(t) for label, t in zip(labels, cut)},
        "labels": labels,
        "n_test": int(n),
    }


def ordinal_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """The ordinal view of predictions over ordered numeric labels.

    ``mae``: mean absolute error in label units (predicting 4 stars for a 1-star review costs 3);
    ``mae_steps``: the same in steps of the label scale (1 -> 4 is two steps among 1, 2, 4, 5);
    ``within_one_step``: share of documents predicted at most one step away; ``off_by_steps``:
    documents per distance in steps (0 = correct).
    """
    from sklearn.metrics import mean_absolute_error

    values = np.asarray(label_values(labels))
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if not len(y_true):
        return {"mae": 0.0, "mae_steps": 0.0, "within_one_step": 0.0, "off_by_steps": {}}
    steps = np.abs(y_true - y_pred)
    return {
        "mae": float(mean_absolute_error(values[y_true], values[y_pred])),
        "mae_steps": float(steps.mean()),
        "within_one_step": float((steps <= 1).mean()),
        "off_by_steps": {str(d): int((steps == d).sum()) for d in range(len(labels))},
    }


def check_ordered(labels: Sequence[str], where: str) -> None:
    """Refuse ``ordered`` labels that are not increasing numbers, naming ``where`` the setting came from."""
    try:
        label_values(labels)
    except TrainingError as exc:
        raise TrainingError(f"{where}: {exc.message}") from None
