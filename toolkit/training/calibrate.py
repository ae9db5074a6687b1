"""Calibration at training time: fit one temperature on held-out predictions, measure it.

After :func:`toolkit.training.loop.fit` has trained the model, :func:`calibrate`
fits a temperature ``T`` (``training.calibration = "temperature"``, the default)
on predictions for documents the model did not train on:

* a dev set (``--dev-data``, or the documents a split field marks ``dev``;
  :mod:`toolkit.training.splits`): the final model's predictions on it, no extra fit;
* ``training.validation_share > 0``: the validation split the loop held out;
* otherwise (the default config trains on the whole training split):
  out-of-fold predictions. The training split is cut into
  ``training.calibration_folds`` stratified, seeded folds; a model with the same
  config is fitted on all folds but one and scores the one left out. Each
  document gets one held-out score; ``T`` is fitted on all of them. This costs
  ``calibration_folds`` extra fits; the final model is the one trained on
  everything and is not changed (its accuracy is the same as without calibration).

``T`` minimises the log loss of ``softmax(log(p) / T)``
(:func:`scipy.optimize.minimize_scalar`, bounded, over ``log T``). The serving
half applies it (:mod:`toolkit.core.calibration`).

``training.calibration = "length-temperature"`` fits ``T(n) = exp(a + b log n)``
instead (``n``: the text's model ids; :func:`scipy.optimize.minimize`,
Nelder-Mead) on the same held-out documents, each also scored as its first line
and as a random 20-word window (:func:`short_views`), so that one record
calibrates single sentences as well as whole reviews.

Metrics (scikit-learn where it has them): log loss (:func:`sklearn.metrics.log_loss`),
Brier score (:func:`sklearn.metrics.brier_score_loss` on the probability
matrix: with two labels, the mean squared error of the positive label's
probability), and the top-label expected calibration error: the confidence
(highest probability) of each document is put in one of 10 equal-width bins
over [0, 1]; ECE = sum over bins of |accuracy - mean confidence| x share of
documents in the bin. The reliability diagram uses
:func:`sklearn.calibration.calibration_curve` (10 uniform bins) on the last
label's probability (``POSITIVE`` for the polarity labels), or on the top-label
confidence with more than two labels.

Multi-label models (non-exclusive labels, a sigmoid probability per label; the label
array ``y`` is then a label matrix [documents, labels]) get one temperature per label
(``label-temperature``: ``sigmoid(logit(p) / T_label)``, :func:`fit_label_temperatures`),
whichever softmax method is configured (the record says which was asked for), fitted on
the same held-out documents without the short views. Their metrics are per label and
averaged: ECE is each label's binary ECE (10 equal-width bins of its probability against
its 0/1 outcome) averaged over the labels, Brier the mean squared error over every
(document, label), log loss the mean binary log loss, accuracy the share of right
decisions at 0.5. The reliability diagram pools every (document, label) probability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from toolkit.core.errors import TrainingError
from toolkit.core.options import check_int
from toolkit.core.calibration import LOG_T_RANGE, Calibration

CALIBRATION_METHODS = ("none", "temperature", "length-temperature")
N_BINS = 10
WINDOW_WORDS = 20
#: Bounds of the temperature search (T in [e^-3, e^3] ~ [0.05, 20]); the runtime clips the same way.
LOG_T_BOUNDS = LOG_T_RANGE
RELIABILITY_PNG = "reliability.png"


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-38, 1.0))


def _nll(log_p: np.ndarray, y: np.ndarray, t: float) -> float:
    z = log_p / t
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def fit_temperature(probs: np.ndarray, y: Sequence[int]) -> float:
    """The temperature minimising the log loss of ``softmax(log(probs) / T)`` on labels ``y``."""
    from scipy.optimize import minimize_scalar

    probs = np.asarray(probs)
    y = np.asarray(y, dtype=np.int64)
    if probs.ndim != 2 or len(probs) != len(y) or len(y) == 0:
        raise TrainingError(f"fit_temperature: need probabilities [n, labels] and n labels, got {probs.shape}, {y.shape}")
    log_p = _log_probs(probs)
    res = minimize_scalar(lambda s: _nll(log_p, y, float(np.exp(s))), bounds=LOG_T_BOUNDS, method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(res.x))


def _binary_ece(p: np.ndarray, outcome: np.ndarray, n_bins: int) -> float:
    """ECE of probabilities ``p`` of a 0/1 ``outcome``: |observed rate - mean p| per equal-width bin,
    weighted by the bin's share."""
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += abs(outcome[mask].mean() - p[mask].mean()) * mask.mean()
    return float(ece)


def expected_calibration_error(probs: np.ndarray, y: Sequence[int], n_bins: int = N_BINS) -> float:
    """Top-label ECE over ``n_bins`` equal-width confidence bins on [0, 1] (the last bin includes 1);
    for a label matrix ``y`` (multi-label) each label's binary ECE, averaged over the labels."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    if len(y) == 0:
        return 0.0
    if y.ndim == 2:
        return float(np.mean([_binary_ece(probs[:, c], y[:, c].astype(np.float64), n_bins)
                              for c in range(y.shape[1])]))
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += abs(correct[mask].mean() - conf[mask].mean()) * mask.mean()
    return float(ece)


def calibration_metrics(probs: np.ndarray, y: Sequence[int]) -> dict[str, float]:
    """Accuracy, top-label ECE (10 bins), Brier score, log loss and the error share above 0.99 confidence
    (for a label matrix ``y``, the multi-label figures of :func:`multilabel_calibration_metrics`)."""
    from sklearn.metrics import brier_score_loss, log_loss

    if np.ndim(y) == 2:
        return multilabel_calibration_metrics(probs, y)
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 rows sum to 1 only within ~1e-7
    y = np.asarray(y, dtype=np.int64)
    labels = list(range(probs.shape[1]))
    conf = probs.max(axis=1)
    wrong = probs.argmax(axis=1) != y
    confident = conf > 0.99
    return {
        "n": int(len(y)),
        "accuracy": float((~wrong).mean()) if len(y) else 0.0,
        "ece": expected_calibration_error(probs, y),
        "brier": float(brier_score_loss(y, probs, labels=labels)),
        "log_loss": float(log_loss(y, np.clip(probs, 1e-15, 1.0), labels=labels)),
        "share_above_099": float(confident.mean()) if len(y) else 0.0,
        "wrong_above_099": float(wrong[confident].mean()) if confident.any() else 0.0,
    }


def multilabel_calibration_metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Calibration of independent per-label probabilities ``probs`` against the label matrix ``y``: the
    share of right decisions at 0.5, the per-label binary ECE averaged (and each label's, ``ece_per_label``
    in column order), the Brier score and log loss over every (document, label), and the share of
    decisions made with confidence max(p, 1 - p) above 0.99 and their error share."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(y) == 0:
        return {"n": 0, "accuracy": 0.0, "ece": 0.0, "ece_per_label": [], "brier": 0.0, "log_loss": 0.0,
                "share_above_099": 0.0, "wrong_above_099": 0.0}
    p = np.clip(probs, 1e-15, 1 - 1e-15)
    wrong = (probs >= 0.5) != (y > 0)
    confident = np.maximum(probs, 1.0 - probs) > 0.99
    return {
        "n": int(len(y)),
        "accuracy": float((~wrong).mean()),
        "ece": expected_calibration_error(probs, y),
        "ece_per_label": [_binary_ece(probs[:, c], y[:, c], N_BINS) for c in range(y.shape[1])],
        "brier": float(np.mean((probs - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "share_above_099": float(confident.mean()),
        "wrong_above_099": float(wrong[confident].mean()) if confident.any() else 0.0,
    }


def fit_label_temperatures(probs: np.ndarray, y: np.ndarray) -> list[float]:
    """One temperature per label (column), each minimising the binary log loss of ``sigmoid(logit(p) / T)``
    against its column of the label matrix ``y`` (bounded like :func:`fit_temperature`); a label whose
    held-out documents all have it, or all lack it, keeps T = 1 (nothing to fit it on)."""
    from scipy.optimize import minimize_scalar

    from toolkit.core.calibration import logits_of

    probs = np.asarray(probs)
    y = np.asarray(y, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != y.shape or len(y) == 0:
        raise TrainingError(f"fit_label_temperatures: need probabilities and a label matrix of one shape [n, labels], "
                            f"got {probs.shape}, {y.shape}")
    z = logits_of(probs).astype(np.float64)
    temps = []
    for c in range(y.shape[1]):
        if len(np.unique(y[:, c])) < 2:
            temps.append(1.0)
            continue

        def loss(s: float, c: int = c) -> float:
            scaled = z[:, c] / np.exp(s)
            # binary log loss from logits, stable: log(1 + e^-|x|) + max(x, 0) - y x
            return float(np.mean(np.logaddexp(0.0, scaled) - y[:, c] * scaled))

        res = minimize_scalar(loss, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-4})
        temps.append(float(np.exp(res.x)))
    return temps


def before_after(probs: np.ndarray, y: Sequence[int], calibration: Any, lengths: Any = None) -> dict[str, Any]:
    """``{"before": metrics, "after": metrics}`` of raw and calibrated probabilities.

    ``calibration``: a :class:`~toolkit.core.calibration.Calibration`, a record, or one temperature
    (``None``: none); ``lengths``: model ids per text (``length-temperature`` needs them).
    """
    cal = as_calibration(calibration)
    return {"before": calibration_metrics(probs, y), "after": calibration_metrics(cal.apply(probs, lengths), y)}


def as_calibration(calibration: Any) -> Calibration:
    if isinstance(calibration, Calibration):
        return calibration
    if calibration is None or isinstance(calibration, (int, float)):
        return Calibration(temperature=calibration)
    return Calibration.from_record(calibration, where="calibration record")


def fit_length_temperature(probs: np.ndarray, y: Sequence[int], lengths: Sequence[int]) -> tuple[float, float]:
    """``(a, b)`` of ``T(n) = exp(a + b log n)`` minimising the log loss (``n``: model ids per text)."""
    from scipy.optimize import minimize

    y = np.asarray(y, dtype=np.int64)
    log_p = _log_probs(probs)
    ln = np.log(np.maximum(np.asarray(lengths, dtype=np.float64), 1.0))

    def nll(params: np.ndarray) -> float:
        t = np.exp(np.clip(params[0] + params[1] * ln, *LOG_T_BOUNDS))[:, None]
        z = log_p / t
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    start = [np.log(fit_temperature(probs, y)), 0.0]
    res = minimize(nll, x0=start, method="Nelder-Mead", options={"xatol": 1e-5, "fatol": 1e-8, "maxiter": 2000})
    return float(res.x[0]), float(res.x[1])


def short_views(corpus, seed: int = 0) -> dict[str, Any]:
    """Shorter versions of each document with its label: its first line, and a random window of 20 words."""
    import random

    from toolkit.training.corpus import Document

    rng = random.Random(seed)

    def window(text: str) -> str:
        words = text.split()
        start = rng.randrange(max(1, len(words) - WINDOW_WORDS + 1))
        return " ".join(words[start:start + WINDOW_WORDS])

    first = [next((line for line in d.text.splitlines() if line.strip()), d.text) for d in corpus]
    return {"first": corpus.subset([Document(t, d.label, d.source, d.fold) for d, t in zip(corpus, first)], "first"),
            "window20": corpus.subset([Document(window(d.text), d.label, d.source, d.fold) for d in corpus], "window20")}


def score_heldout(result, corpus, labels: list[str], views: bool, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(probs, lengths, y)`` of the model in ``result`` on ``corpus`` (and its short views), in ``labels`` order."""
    from toolkit.training.evaluation import evaluate_fit

    parts = [corpus] + (list(short_views(corpus, seed).values()) if views else [])
    from toolkit.training.corpus import Corpus

    index = [result.prepared.labels.index(label) for label in labels]
    out = []
    for part in parts:
        scored = evaluate_fit(result, part)
        lengths = np.array([min(len(x), result.max_len) for x in scored.ids])
        if result.prepared.multi_label:  # the label matrix, columns in ``labels`` order
            y = Corpus(part.documents, labels=list(labels), multi_label=True).label_matrix.astype(np.int64)
        else:
            y = np.array([labels.index(d.label) for d in part], dtype=np.int64)
        out.append((np.asarray(scored.probs)[:, index], lengths, y))
    return out


def heldout_predictions(config, train, result, views: bool, progress: bool = False, dev=None):
    """Held-out ``(probs, lengths, y)`` and a description: the predictions of ``result`` on ``dev``
    when given, else on its validation split when ``training.validation_share > 0``, else out-of-fold
    predictions of ``calibration_folds`` extra fits."""
    from toolkit.training.corpus import stratified_folds, stratified_holdout
    from toolkit.training.loop import fit

    tr = config.training
    labels = list(train.labels)
    docs = train.documents
    if dev is not None:
        parts = score_heldout(result, dev, labels, views, tr.seed)
        fitted_on = f"the dev set ({len(dev)} documents of {dev.name})"
    elif tr.validation_share > 0:
        _, val_idx = stratified_holdout(train.strata, tr.validation_share, tr.seed)
        parts = score_heldout(result, train.subset([docs[i] for i in val_idx], "validation"), labels, views, tr.seed)
        fitted_on = f"validation split ({tr.validation_share:g} of the training split)"
    else:
        k = check_int(tr.calibration_folds, "calibration_folds", minimum=2, subject="training.calibration_folds",
                      hint='or set training.calibration = "none"', error=TrainingError)
        folds = stratified_folds(train.strata, k, tr.seed)
        parts = []
        for f in range(k):
            rest = train.subset([docs[i] for i in np.flatnonzero(folds != f)], f"{train.name}-calibration-train-{f}")
            fold_result = fit(config, rest, progress=False)
            held = train.subset([docs[i] for i in np.flatnonzero(folds == f)], f"{train.name}-calibration-{f}")
            parts += score_heldout(fold_result, held, labels, views, tr.seed + f)
            if progress:
                print(f"calibration fold {f + 1}/{k}: {len(held)} held-out documents, "
                      f"{fold_result.train_seconds:.0f}s", flush=True)
        fitted_on = f"out-of-fold predictions, {k} folds of the training split"
    if views:
        fitted_on += ", each document also as its first line and a 20-word window"
    probs, lengths, y = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return probs, lengths, y, fitted_on


def calibrate(config, train, result, progress: bool = False,
              dev=None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Fit the calibration of ``config.training.calibration`` for the trained ``result`` (on ``dev``,
    the user's dev set, when given: see :func:`heldout_predictions`).

    Returns ``(record, heldout)``: the record for ``model.json`` / ``bundle.json``
    (``None`` for ``"none"``) and the held-out metrics before and after.
    """
    method = check_method(config)
    if method == "none":
        return None, None
    multi_label = result.prepared.multi_label
    probs, lengths, y, fitted_on = heldout_predictions(
        config, train, result, views=method == "length-temperature" and not multi_label, progress=progress, dev=dev)
    if len(y) == 0:
        raise TrainingError("calibration: no held-out documents; raise training.validation_share or use "
                            "training.calibration = \"none\"")
    if multi_label:
        record = label_temperature_record(probs, y, result.prepared.labels, method)
    elif method == "temperature":
        record = {"method": method, "temperature": round(fit_temperature(probs, y), 6)}
    else:
        a, b = fit_length_temperature(probs, y, lengths)
        record = {"method": method, "a": round(a, 6), "b": round(b, 6),
                  "length": "model ids (unigrams and n-grams) of the text, at most max_len"}
    record.update(fitted_on=fitted_on, n=int(len(y)))
    return record, before_after(probs, y, record, lengths)


def check_method(config) -> str:
    """``training.calibration``, refused unless it is one of :data:`CALIBRATION_METHODS`."""
    method = config.training.calibration
    if method not in CALIBRATION_METHODS:
        raise TrainingError(f"unknown training.calibration {method!r}; choose one of {', '.join(CALIBRATION_METHODS)}")
    return method


def label_temperature_record(probs: np.ndarray, y: np.ndarray, labels: Sequence[str], method: str) -> dict[str, Any]:
    """The ``label-temperature`` record of a multi-label model (``method``: the configured one)."""
    temps = fit_label_temperatures(probs, y)
    record: dict[str, Any] = {"method": "label-temperature",
                              "temperatures": {label: round(t, 6) for label, t in zip(labels, temps)}}
    if method != "temperature":
        record["requested"] = method
        record["why"] = "a multi-label model's labels are independent: one temperature per label"
    return record


def cross_fitted_calibration(folds: Sequence[dict[str, tuple]], method: str = "temperature",
                             labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Calibration of k-fold cross-validation without extra fits: the out-of-fold predictions of
    fold *i* are calibrated by the record fitted on the out-of-fold predictions of the other folds
    (full documents for ``temperature``; full documents and their short views for ``length-temperature``;
    full documents and a temperature per label for a multi-label model, whose ``y`` is a label matrix).

    ``folds``: per fold, ``{view: (probs, lengths, y)}`` with views ``full`` (and ``first``, ``window20``).
    ``labels``: the label of each column (names a ``label-temperature`` record's temperatures).
    Returns ``{"method", "fitted_on", "records": [per fold], view: {"before", "after"}}`` over all documents.
    """
    multi_label = bool(folds) and np.ndim(folds[0]["full"][2]) == 2
    views = ["full"] if multi_label else (list(folds[0]) if folds else ["full"])
    scaled: dict[str, list[np.ndarray]] = {v: [] for v in views}
    records = []
    for i, fold in enumerate(folds):
        others = [f for j, f in enumerate(folds) if j != i]
        record = None
        if method != "none" and others:
            used = ["full"] if method == "temperature" else views
            p, n, y = (np.concatenate([f[v][c] for f in others for v in used]) for c in range(3))
            if multi_label:
                names = list(labels) if labels is not None else [str(c) for c in range(y.shape[1])]
                record = label_temperature_record(p, y, names, method)
            elif method == "temperature":
                record = {"method": method, "temperature": round(fit_temperature(p, y), 6)}
            else:
                a, b = fit_length_temperature(p, y, n)
                record = {"method": method, "a": round(a, 6), "b": round(b, 6)}
        records.append(record)
        cal = as_calibration(record)
        for v in views:
            scaled[v].append(cal.apply(fold[v][0], fold[v][1]))
    report: dict[str, Any] = {"method": "label-temperature" if multi_label and method != "none" else method,
                              "fitted_on": "out-of-fold predictions of the other folds", "records": records}
    for v in views:
        y = np.concatenate([f[v][2] for f in folds])
        report[v] = {"before": calibration_metrics(np.concatenate([f[v][0] for f in folds]), y),
                     "after": calibration_metrics(np.concatenate(scaled[v]), y)}
    return report


def reliability_plot(probs: np.ndarray, y: Sequence[int], calibration: Any, labels: list[str], out: Path,
                     title: str = "", lengths: Any = None) -> None:
    """Reliability diagram (10 uniform bins) before and after calibration, written to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    cal = as_calibration(calibration)
    y = np.asarray(y)
    multi_label = y.ndim == 2  # every (document, label) probability against its 0/1 outcome
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    after = (f"after (T={cal.temperature:.2f})" if cal.temperature is not None else
             "after (T by length)" if cal.length_ab is not None else "after (T per label)" if cal.active else None)
    for name, p, style in (("before", np.asarray(probs), "-o"), (after, None, "-s")):
        if name is None:
            continue
        if p is None:
            p = cal.apply(probs, lengths)
        if multi_label:
            target, score = y.ravel().astype(int), p.ravel()
        elif p.shape[1] == 2:
            target, score = (y == 1).astype(int), p[:, 1]
        else:
            target, score = (p.argmax(axis=1) == y).astype(int), p.max(axis=1)
        frac, mean = calibration_curve(target, score, n_bins=N_BINS, strategy="uniform")
        ece = expected_calibration_error(p, y)
        ax.plot(mean, frac, style, label=f"{name}: ECE {ece:.3f}")
    binary = len(labels) == 2 or multi_label
    what = "probability of each label" if multi_label else f"P({labels[1]})" if len(labels) == 2 else \
        "top-label confidence"
    ax.set_xlabel(f"predicted {what}")
    ax.set_ylabel("observed frequency" if binary else "accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(title or "reliability (test split)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


__all__ = ["CALIBRATION_METHODS", "before_after", "calibrate", "calibration_metrics", "check_method",
           "cross_fitted_calibration", "expected_calibration_error", "fit_label_temperatures",
           "fit_length_temperature", "heldout_predictions", "label_temperature_record",
           "multilabel_calibration_metrics", "short_views", "fit_temperature", "reliability_plot"]
