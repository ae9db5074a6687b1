"""A fitted model scored on labelled documents: the metrics and what they were computed from.

:func:`evaluate_fit` is shared by ``toolkit train`` (the test split), cross-validation (each
fold) and calibration (held-out documents), which needs the ids and probabilities as well as
the metrics. TensorFlow is imported inside :func:`toolkit.training.loop.predict_ids`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from toolkit.core.errors import TrainingError
from toolkit.training.corpus import Corpus, label_names
from toolkit.training.loop import FitResult, predict_ids
from toolkit.training.metrics import classification_metrics, multilabel_metrics
from toolkit.training.prepare import tokenize_texts


@dataclass(frozen=True)
class Evaluation:
    """The metrics of a fitted model on a corpus, with the model ids of each document (before the cut
    to ``max_len``), the label index of each document (for a multi-label model its row of the label
    matrix [n, labels]) and the predicted probabilities [n, labels]."""

    metrics: dict[str, Any]
    ids: list[list[int]]
    y_true: np.ndarray
    probs: np.ndarray


def evaluate_fit(result: FitResult, test: Corpus) -> Evaluation:
    """Score ``test`` with the model of ``result``; labels are indexed in ``result.prepared.labels`` order.
    A multi-label model's metrics take each label at 0.5 here (``toolkit train`` computes them again with
    the calibration and thresholds it then chooses)."""
    prep = result.prepared
    tokens = tokenize_texts(test.texts, prep.tokenizer)
    ids = prep.vocab.encode_many(tokens)
    label_index = {label: i for i, label in enumerate(prep.labels)}
    unknown = sorted({n for d in test for n in label_names(d.label)} - set(label_index))
    if unknown:
        raise TrainingError(f"test labels {unknown} were not seen in training (labels: {prep.labels})")
    arch = result.architecture
    probs = predict_ids(result.model, ids, result.max_len, arch.length_policy, int(getattr(arch, "min_len", 1)))
    if prep.multi_label:
        y_true = Corpus(test.documents, labels=list(prep.labels), multi_label=True).label_matrix
        return Evaluation(multilabel_metrics(y_true, probs, prep.labels), ids, y_true, probs)
    y_true = np.array([label_index[d.label] for d in test], dtype=np.int32)
    metrics = classification_metrics(y_true, probs.argmax(axis=1), prep.labels, ordered=prep.ordered)
    return Evaluation(metrics, ids, y_true, probs)
