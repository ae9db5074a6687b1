"""The linear path: naive-Bayes-scaled binary n-gram logistic regression over the model's vocabulary ids.

NBSVM's features (Wang & Manning 2012): each distinct vocabulary id of a document (unigrams and the
vocabulary's n-grams) counts once, scaled by its naive-Bayes weight
(:func:`nb_token_weights`, also the fixed bag weights of the ``cnn`` architecture); scikit-learn's ``LogisticRegression`` fits them,
with the regularisation ``C`` chosen by an inner stratified cross-validation on the training
documents only (``LogisticRegressionCV``, log-loss). The NB scale is folded into the weights, so
the fitted model is a table ``weights`` [vocab_size, n_labels] and a ``bias`` [n_labels]: a
document's logits are the sum of the rows of its distinct ids plus the bias, which the Keras/ONNX
graph computes exactly (:mod:`toolkit.training.ensemble`).

scikit-learn and scipy are imported inside the functions (the ``train`` extra).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from toolkit.core.errors import TrainingError

#: The inverse regularisation strengths tried by the inner cross-validation.
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Inner folds for choosing C (fewer when a label has fewer documents).
INNER_FOLDS = 5


def nb_token_weights(ids: Sequence[Sequence[int]], labels: Sequence[int], vocab_size: int, n_labels: int,
                     alpha: float = 1.0) -> np.ndarray:
    """Naive-Bayes weight of each vocabulary id: the magnitude of its log-count ratio (Wang & Manning 2012).

    For label *c*, ``p`` counts the documents of *c* that hold the id and ``q`` those of the other
    labels (each once per document, plus ``alpha``); the ratio is ``log((p / |p|_1) / (q / |q|_1))``.
    The weight is its largest magnitude over the labels (with two labels both are the same), 0 for
    padding. float32 [vocab_size]. ``labels``: a label index per document, or for non-exclusive labels
    the label matrix [documents, n_labels] (then ``q`` counts the documents without *c*).
    """
    if len(ids) != len(labels):
        raise TrainingError(f"nb_token_weights: {len(ids)} documents but {len(labels)} labels")
    counts = np.zeros((n_labels, vocab_size), dtype=np.float64)
    matrix = np.ndim(labels) == 2
    for doc, label in zip(ids, labels):
        rows = np.flatnonzero(label) if matrix else int(label)
        distinct = np.unique(np.asarray(doc, dtype=np.int64))
        if matrix:
            counts[np.ix_(rows, distinct)] += 1.0
        else:
            counts[rows, distinct] += 1.0
    if matrix:  # documents holding each id, once each, whatever their labels
        total = np.zeros(vocab_size, dtype=np.float64)
        for doc in ids:
            total[np.unique(np.asarray(doc, dtype=np.int64))] += 1.0
    else:
        total = counts.sum(axis=0)
    weights = np.zeros(vocab_size, dtype=np.float64)
    for c in range(n_labels):
        p = counts[c] + alpha
        q = total - counts[c] + alpha
        weights = np.maximum(weights, np.abs(np.log(p / p.sum()) - np.log(q / q.sum())))
    weights[0] = 0.0
    return weights.astype(np.float32)


@dataclass(frozen=True)
class LinearModel:
    """A fitted linear path: logits = sum of ``weights`` rows of the distinct ids + ``bias``."""

    weights: np.ndarray  # float32 [vocab_size, n_labels], NB scale folded in; row 0 (padding) is 0
    bias: np.ndarray  # float32 [n_labels]
    C: float | list[float]  # one per label for a multi-label model (a binary regression each)
    inner_folds: int | list[int]
    multi_label: bool = False

    def logits(self, ids: Sequence[Sequence[int]], max_len: int | None = None) -> np.ndarray:
        """float64 [n, n_labels] logits of encoded documents (each cut to ``max_len`` ids first, as the
        model sees them)."""
        x = bag_matrix(ids, self.weights.shape[0], max_len)
        return np.asarray(x @ self.weights.astype(np.float64)) + self.bias.astype(np.float64)

    def record(self) -> dict:
        record = {"method": "nb-logistic-regression", "C": self.C, "inner_folds": self.inner_folds,
                  "C_grid": list(C_GRID)}
        if self.multi_label:
            record["per_label"] = "one binary regression per label (C and inner folds per label, in label order)"
        return record


def bag_matrix(ids: Sequence[Sequence[int]], vocab_size: int, max_len: int | None = None):
    """scipy CSR [n, vocab_size]: 1 where the document holds the id (padding id 0 left out)."""
    from scipy import sparse

    rows, cols = [], []
    for i, doc in enumerate(ids):
        distinct = np.unique(np.asarray(doc[:max_len] if max_len else doc, dtype=np.int64))
        distinct = distinct[distinct > 0]
        rows.append(np.full(len(distinct), i, dtype=np.int64))
        cols.append(distinct)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sparse.csr_matrix((np.ones(len(col)), (row, col)), shape=(len(ids), vocab_size))


def _chosen_C(x, y: np.ndarray, seed: int) -> tuple[float, int]:
    """``(C, inner folds)``: the strength of :data:`C_GRID` with the best log-loss by inner stratified CV
    on ``(x, y)``, else 1.0 (scikit-learn's default) when a class has fewer than two documents."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    present = np.unique(y)
    folds = int(min(INNER_FOLDS, np.bincount(y)[present].min()))
    if folds < 2:
        return 1.0, 0
    inner = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # scikit-learn 1.8's notices of future defaults (l1_ratios, attributes)
        warnings.simplefilter("ignore", FutureWarning)
        search = LogisticRegressionCV(Cs=list(C_GRID), cv=inner, scoring="neg_log_loss", max_iter=5000,
                                      random_state=seed).fit(x, y)
    return float(np.atleast_1d(search.C_)[0]), folds


def fit_linear(ids: Sequence[Sequence[int]], labels: Sequence[int], vocab_size: int, n_labels: int,
               nb_weights: np.ndarray, max_len: int | None = None, seed: int = 0,
               C: float | None = None) -> LinearModel:
    """Fit the linear path on encoded training documents (``labels``: indices into the model's labels,
    or the label matrix [documents, n_labels] of non-exclusive labels: :func:`fit_linear_multilabel`).
    ``C`` given: that strength (for a label matrix, one per label), without the inner cross-validation (it
    was chosen on a part of these documents)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    if np.ndim(labels) == 2:
        return fit_linear_multilabel(ids, labels, vocab_size, nb_weights, max_len, seed, C=C)
    y = np.asarray(labels, dtype=np.int64)
    if len(y) != len(ids):
        raise TrainingError(f"fit_linear: {len(ids)} documents but {len(y)} labels")
    present = np.unique(y)
    if len(present) < 2:
        raise TrainingError("the linear path needs training documents of at least two labels")
    scale = np.asarray(nb_weights, dtype=np.float64)
    x = bag_matrix(ids, vocab_size, max_len).multiply(scale[None, :]).tocsr()
    with threadpool_limits(1):  # one BLAS/OpenMP thread: see fit_linear_multilabel
        C, folds = _chosen_C(x, y, seed) if C is None else (float(C), 0)
        clf = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit(x, y)
    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: scikit-learn keeps one row, the logit of its second class
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    full = np.zeros((n_labels, vocab_size))
    bias = np.zeros(n_labels)
    full[present] = coef
    bias[present] = intercept
    bias[np.setdiff1d(np.arange(n_labels), present)] = -30.0  # a label never seen: never predicted
    weights = (full * scale[None, :]).T  # the NB scale folded in: [vocab_size, n_labels]
    weights[0] = 0.0
    return LinearModel(weights.astype(np.float32), bias.astype(np.float32), C, folds)


def fit_linear_multilabel(ids: Sequence[Sequence[int]], label_matrix: np.ndarray, vocab_size: int,
                          nb_weights: np.ndarray, max_len: int | None = None, seed: int = 0,
                          C: Sequence[float] | None = None) -> LinearModel:
    """The linear path of non-exclusive labels: one binary logistic regression per label on the same
    NB-scaled features (its ``C`` by its own inner CV, or ``C[label]`` when given), its logit = the label's
    column; a label that all or none of the documents have gets a constant logit of +30 or -30. The fits run with one BLAS/OpenMP thread
    (threadpoolctl, scikit-learn's own dependency): on a busy machine the libraries' spinning threads made
    each small fit about 100 times slower (3 s instead of 0.03 s for 300 documents, measured here)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    y_all = np.asarray(label_matrix, dtype=np.int64)
    if len(y_all) != len(ids):
        raise TrainingError(f"fit_linear: {len(ids)} documents but {len(y_all)} label rows")
    scale = np.asarray(nb_weights, dtype=np.float64)
    x = bag_matrix(ids, vocab_size, max_len).multiply(scale[None, :]).tocsr()
    n_labels = y_all.shape[1]
    coef = np.zeros((n_labels, vocab_size))
    bias = np.zeros(n_labels)
    strengths, inner = [], []
    with threadpool_limits(1):
        for c in range(n_labels):
            y = y_all[:, c]
            if len(np.unique(y)) < 2:  # every document has it, or none: a constant
                bias[c] = 30.0 if y.all() else -30.0
                strengths.append(0.0)
                inner.append(0)
                continue
            strength, folds = _chosen_C(x, y, seed) if C is None or not C[c] else (float(C[c]), 0)
            clf = LogisticRegression(C=strength, max_iter=5000, random_state=seed).fit(x, y)
            coef[c], bias[c] = clf.coef_[0], clf.intercept_[0]
            strengths.append(strength)
            inner.append(folds)
    weights = (coef * scale[None, :]).T
    weights[0] = 0.0
    return LinearModel(weights.astype(np.float32), bias.astype(np.float32), strengths, inner, multi_label=True)
