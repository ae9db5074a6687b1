"""The default model: the trained network and the linear path in one graph, their logits averaged.

``probabilities = softmax(w * linear_logits + (1 - w) * log p_network)``: a weighted mean of two
models' logits (dense + sparse ensembles, as in Mesnil et al. 2014), not a shared softmax layer.
The linear path (:mod:`toolkit.training.linear`) is computed in the graph from the same
``token_ids`` input: the ids sorted (an ONNX ``TopK``), the first of each run kept (each distinct
id once), its row of a frozen table summed, plus a frozen bias row. ``w`` comes from held-out
documents (:func:`choose_weight`): with ``w = 1`` the model is exactly the linear model, with
``w = 0`` exactly the network. Only Keras layers and ``keras.ops`` are used, so ``model.keras``
loads without custom objects and tf2onnx converts it like any built-in architecture.

Non-exclusive labels (multi-label) get the sigmoid analogue, label by label:
``probabilities = sigmoid(w * linear_logits + (1 - w) * logit p_network)``, the linear path being one
binary regression per label (:func:`toolkit.training.linear.fit_linear_multilabel`) and ``w`` chosen
by the mean binary log-loss over the labels.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from toolkit.training.linear import LinearModel

#: The weights of the linear path tried on held-out documents.
WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))
#: The weight when there are no held-out documents to choose it on (the plain mean of the two).
DEFAULT_WEIGHT = 0.5
_TINY = float(np.finfo(np.float32).tiny)


def network_logits(network_probs: np.ndarray) -> np.ndarray:
    """``logit p`` of a multi-label network's sigmoid outputs (float64; 0 and 1 taken as the smallest
    positive float32 away from them, as the graph does)."""
    p = np.asarray(network_probs, np.float64)
    return np.log(np.maximum(p, _TINY)) - np.log(np.maximum(1.0 - p, _TINY))


def mix(linear_logits: np.ndarray, network_probs: np.ndarray, weight: float, multi_label: bool = False) -> np.ndarray:
    """The ensemble's probabilities (numpy, float64) from the two paths' outputs."""
    if multi_label:
        z = weight * np.asarray(linear_logits, np.float64) + (1.0 - weight) * network_logits(network_probs)
        return 1.0 / (1.0 + np.exp(-z))
    z = weight * np.asarray(linear_logits, np.float64) + (1.0 - weight) * np.log(
        np.maximum(np.asarray(network_probs, np.float64), _TINY))
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean log-loss: of the true label (``y`` label indices), or the mean binary one over every label
    (``y`` a label matrix)."""
    if y.ndim == 2:
        right = np.where(y > 0, p, 1.0 - p)
        return float(-np.mean(np.log(np.maximum(right, 1e-12))))
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))))


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Share of right decisions: the top label, or each label's at 0.5 (``y`` a label matrix)."""
    return float(((p >= 0.5) == (y > 0)).mean()) if y.ndim == 2 else float((p.argmax(1) == y).mean())


def choose_weight(linear_logits: np.ndarray, network_probs: np.ndarray, y: Sequence[int]) -> dict[str, Any]:
    """The linear path's weight with the lowest log-loss on held-out documents (ties: the higher weight,
    the simpler model); the record says what was tried. ``y``: label indices, or the label matrix of
    non-exclusive labels (then the sigmoid mix and the mean binary log-loss)."""
    y = np.asarray(y, dtype=np.int64)
    multi = y.ndim == 2
    losses = [_log_loss(mix(linear_logits, network_probs, w, multi), y) for w in WEIGHT_GRID]
    best = min(range(len(WEIGHT_GRID)), key=lambda i: (round(losses[i], 9), -WEIGHT_GRID[i]))
    accuracy = {f"{w:.1f}": _accuracy(mix(linear_logits, network_probs, w, multi), y)
                for w in (0.0, WEIGHT_GRID[best], 1.0)}
    return {"weight": WEIGHT_GRID[best], "chosen_on": len(y), "log_loss": dict(zip(map(str, WEIGHT_GRID), losses)),
            "accuracy": accuracy}


def combine(network: Any, linear: LinearModel, weight: float, name: str = "ensemble"):
    """One Keras model: ``token_ids`` -> ``probabilities`` of the network and the linear path mixed
    (softmax over the mixed logits; a sigmoid per label when ``linear.multi_label``)."""
    import keras
    from keras import layers, ops

    from toolkit.training.architectures._common import first_of_runs, set_embedding_weights, token_mask

    vocab_size, n_labels = linear.weights.shape
    ids = keras.Input(shape=tuple(network.input.shape[1:]), dtype="int32", name="token_ids")
    network_probs = network(ids)
    sorted_ids = ops.sort(ids, axis=-1)
    keep = ops.cast(ops.logical_and(token_mask(ops, sorted_ids), first_of_runs(ops, sorted_ids)), "float32")
    table = layers.Embedding(vocab_size, n_labels, trainable=False, name="linear_weights")
    rows = table(sorted_ids)  # [batch, length, n_labels]
    bias_table = layers.Embedding(1, n_labels, trainable=False, name="linear_bias")
    bias = bias_table(ops.zeros_like(ids[:, :1]))[:, 0, :]  # [batch, n_labels]
    linear_logits = ops.sum(rows * ops.expand_dims(keep, -1), axis=1) + bias
    if linear.multi_label:
        network_logit = (ops.log(ops.maximum(network_probs, _TINY))
                         - ops.log(ops.maximum(1.0 - network_probs, _TINY)))
        logits = weight * linear_logits + (1.0 - weight) * network_logit
        out = layers.Activation("sigmoid", name="probabilities")(logits)
    else:
        logits = weight * linear_logits + (1.0 - weight) * ops.log(ops.maximum(network_probs, _TINY))
        out = layers.Activation("softmax", name="probabilities")(logits)
    model = keras.Model(ids, out, name=name)
    set_embedding_weights(table, linear.weights)
    set_embedding_weights(bias_table, linear.bias[None, :])
    return model


def add_linear_path(config: Any, network: Any, prepared: Any, ids: Sequence[Sequence[int]], fit_rows: Sequence[int],
                    val_ids: Sequence[Sequence[int]], val_labels: Sequence[int], max_len: int, policy: str,
                    min_len: int) -> tuple[Any, dict[str, Any] | None]:
    """The trained ``network`` with the linear path added (``training.linear = "nb-lr"``), and its record.

    The linear path is fitted on the documents the network was fitted on (``fit_rows`` of ``ids``, labels
    ``prepared.train_labels``), its ``C`` chosen by inner cross-validation on them: documents held out of
    training (the validation share) stay held out for both paths, so what is fitted on them afterwards
    (the calibration, multi-label thresholds) sees both paths out of sample. Its weight:
    ``training.linear_weight`` when set (the default, 0.5: the plain mean of the two paths' logits); else
    chosen on the validation documents when there are some (``val_ids``: the user's dev set or the share
    held out); else :data:`DEFAULT_WEIGHT`.
    """
    from toolkit.core.batching import score_batches
    from toolkit.training.keras_io import keras_predict_fn
    from toolkit.training.linear import fit_linear, nb_token_weights

    tr = config.training
    if tr.linear == "none":
        return network, None
    labels = np.asarray(prepared.train_labels)
    n_labels, vocab_size = len(prepared.labels), len(prepared.vocab)

    rows = list(fit_rows)
    docs = [ids[i] for i in rows]
    nb = nb_token_weights(docs, labels[rows], vocab_size, n_labels)
    linear = fit_linear(docs, labels[rows], vocab_size, n_labels, nb, max_len=max_len, seed=tr.seed)
    record: dict[str, Any] = {"method": "nb-lr"}
    if tr.linear_weight is not None:
        weight, record["weight_from"] = float(tr.linear_weight), "training.linear_weight"
    elif len(val_ids):
        held_linear = linear.logits(val_ids, max_len)
        held_network = score_batches(val_ids, keras_predict_fn(network), policy=policy, max_len=max_len,
                                     min_len=min_len)
        choice = choose_weight(held_linear, held_network, val_labels)
        weight, record["weight_from"], record["choice"] = choice["weight"], "validation documents", choice
    else:
        weight, record["weight_from"] = DEFAULT_WEIGHT, "default (no validation documents)"
    record.update(weight=weight, linear=linear.record())
    return combine(network, linear, weight), record
