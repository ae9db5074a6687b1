"""Shared pieces of the built-in architectures: option constants, rules and Keras helpers.

Option values are checked with :mod:`toolkit.core.options`, ``build()``'s arguments
with :meth:`toolkit.core.contracts.Architecture.check_build_args`.

Importing this module is light (no TensorFlow/Keras); the helpers that need
Keras receive it, or import it inside the function.

Padding. Documents are post-padded with id 0. The global poolings here are
*masked*: a convolution output counts only where its whole window lies inside
the document, so a document gets the same probabilities whatever the padded
width of its batch (dynamic batches, length buckets at serving time, the fixed
``max_len`` of ``test_data.npz``). The masks are computed from the ids with
``keras.ops`` inside the functional graph: no custom layer, so ``model.keras``
loads without ``custom_objects`` and tf2onnx converts it as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toolkit.core.errors import ConfigError
from toolkit.core.options import check_bool

ACTIVATIONS = ("relu", "gelu", "elu", "selu", "tanh", "swish")
GLOBAL_POOLINGS = ("max", "avg", "max+avg", "hierarchical")
#: Output parametrisations (option ``logits``): ``per-label`` is Dense(n_labels) -> softmax;
#: ``reference`` is Dense(n_labels - 1), the first label's logit fixed at 0, -> softmax.
LOGITS = ("per-label", "reference")
#: Fixed per-token weightings (options ``bag_weights`` of ``cnn``, ``chunk_weights`` of
#: ``cnn-lstm``): ``nb`` scales by :func:`toolkit.training.linear.nb_token_weights`.
TOKEN_WEIGHTINGS = ("none", "nb")


# ---------------------------------------------------------------------------
# Rules shared by cnn and cnn-lstm (errors name the architecture and the option)
# ---------------------------------------------------------------------------
def check_conv_trains_embedding(arch: Any, value: Any, bag: bool, has_conv: bool = True) -> bool:
    """Resolve and check ``conv_trains_embedding`` of ``arch`` (the architecture): ``None`` means "only
    when there is no bag branch" (the bag then trains the embedding); ``False`` without a bag would
    leave it untrained."""
    if value is None:
        value = not bag
    value = check_bool(value, "conv_trains_embedding", component=arch)
    if has_conv and not value and not bag:
        raise arch.option_error("conv_trains_embedding", "= false needs bag=true: otherwise nothing trains the "
                                                         "embedding")
    return value


def check_token_weights(arch: str, token_weights: Any, vocab_size: int, needed: bool,
                        option: str = "bag_weights") -> np.ndarray | None:
    """Validate ``build(token_weights=...)``: float [vocab_size], finite, >= 0; required when
    ``needed`` (by the architecture's ``option``, named in the error)."""
    if not needed:
        return None
    if token_weights is None:
        raise ConfigError(f"architecture {arch!r}: {option} needs token_weights (one weight per vocabulary "
                          f"id); `toolkit train` computes them from the training split (toolkit.training.linear.nb_token_weights)")
    w = np.asarray(token_weights, dtype=np.float32)
    if w.shape != (vocab_size,) or not np.isfinite(w).all() or (w < 0).any():
        raise ConfigError(f"architecture {arch!r}: token_weights must be {vocab_size} finite weights >= 0 "
                          f"(one per vocabulary id), got shape {w.shape}")
    return w


# ---------------------------------------------------------------------------
# Keras helpers (called from build(); Keras is imported by the caller)
# ---------------------------------------------------------------------------
def token_mask(ops, ids):
    """bool [batch, length]: True where the id is a token, False where it is padding."""
    return ops.not_equal(ids, 0)


def first_of_runs(ops, ids):
    """bool [batch, length]: True where ``ids`` differs from the id before it (always at
    position 0). On sorted ids this marks each distinct id once."""
    first = ops.ones_like(ids[:, :1], dtype="bool")
    return ops.concatenate([first, ops.not_equal(ids[:, 1:], ids[:, :-1])], axis=1)


def window_mask(mask, width: int):
    """bool [batch, length - width + 1, 1]: the windows of a 'valid' convolution
    that lie wholly inside the (post-padded) document, i.e. the windows ending
    on a token."""
    import keras

    m = mask[:, width - 1:] if width > 1 else mask
    return keras.ops.expand_dims(m, -1)


def masked_pool(ops, x, wmask, mode: str, region: int = 1, nonnegative: bool = False) -> list:
    """Masked global poolings of ``x`` [batch, steps, channels] with the bool
    ``wmask`` [batch, steps, 1].

    ``max``: maximum over valid steps; ``avg``: mean over valid steps;
    ``hierarchical``: maximum within consecutive regions of ``region`` steps,
    then the mean over the regions that hold a valid step. All give 0 when a
    document has no valid step.

    Only exact operations are used: products with 0/1 and selections, never
    large sentinel values (an expression such as ``x * m + (m - 1) * 1e9`` loses
    ``x`` to float32 rounding when the backend reorders it, as seen with
    TensorFlow's CPU kernels at batch size 1). ``nonnegative=True`` (``x`` comes
    from a ReLU) lets the maximum use the product ``x * m`` too: a masked step
    becomes 0, which never exceeds a valid one. tf2onnx turns a float
    ``where`` into three element-wise passes over ``x`` (Mul, Mul, Add), a
    product is one, so these graphs run faster under onnxruntime.
    """
    out = []
    lowest = float(np.finfo(np.float32).min)
    m = ops.cast(wmask, x.dtype)

    def masked(values, fill: float):
        return values * m if fill == 0.0 else ops.where(wmask, values, fill)

    if mode == "hierarchical":
        import keras

        # Regions start at position 0 whatever the padded width: pad region - 1
        # steps at the end, then pool with 'valid' windows ('same' padding would
        # split its padding between both ends and shift the regions).
        fill = 0.0 if nonnegative else lowest
        tail = [[0, 0], [0, region - 1], [0, 0]]
        xs = ops.pad(masked(x, fill), tail, constant_values=fill)
        ms = ops.pad(m, tail, constant_values=0.0)
        x = keras.layers.MaxPooling1D(region, strides=region)(xs)  # a region's max over its valid steps
        m = keras.layers.MaxPooling1D(region, strides=region)(ms)  # 1 for regions with a valid step
        wmask = ops.greater(m, 0.5)
        mode = "avg"
    if mode in ("max", "max+avg"):
        if nonnegative:
            out.append(ops.max(masked(x, 0.0), axis=1))
        else:
            best = ops.max(masked(x, lowest), axis=1)
            out.append(ops.where(ops.any(wmask, axis=1), best, 0.0))
    if mode in ("avg", "max+avg"):
        count = ops.maximum(ops.sum(m, axis=1), 1.0)
        out.append(ops.sum(masked(x, 0.0), axis=1) / count)
    return out


def embedding_layer(keras, vocab_size: int, dim: int, trainable: bool, name: str = "embedding"):
    return keras.layers.Embedding(vocab_size, dim, trainable=bool(trainable), name=name)


def set_embedding_weights(layer, weights) -> None:
    if weights is not None:
        layer.set_weights([np.asarray(weights, dtype=np.float32)])


def weigh_tokens(keras, x, ids, token_weights: np.ndarray):
    """``x`` [batch, length, dim] with each position scaled by the fixed weight of its id,
    ``token_weights[ids]``. The weights live in a frozen one-column Embedding named
    ``token_weights``, so a saved model loads without custom objects and exports as a Gather."""
    table = keras.layers.Embedding(len(token_weights), 1, trainable=False, name="token_weights")
    scale = table(ids)  # builds the table, so its weights can be set now
    set_embedding_weights(table, token_weights[:, None])
    return x * scale


def check_multi_label_head(arch: Any, multi_label: bool) -> None:
    """A multi-label head needs ``logits="per-label"``: ``reference`` parametrises a softmax over
    exclusive labels."""
    if multi_label and getattr(arch, "logits", "per-label") == "reference":
        raise arch.option_error("logits", "= 'reference' is a softmax over exclusive labels; a multi-label model "
                                          "needs logits='per-label' (-A logits=per-label)")


def output(keras, h, labels: list[str], logits: str = "per-label", multi_label: bool = False):
    """The output ``probabilities`` [batch, n_labels] (softmax over the labels) computed from ``h``.

    ``multi_label``: one independent probability per label instead, Dense(n_labels, sigmoid), for
    non-exclusive labels (trained with binary cross-entropy); only with ``per-label`` logits.

    ``per-label``: one logit per label, Dense(n_labels, softmax). ``reference``:
    n_labels - 1 logits and a constant 0 logit for the first label, the usual
    identifiable form of multinomial logistic regression. With two labels that
    is exactly the classic Dense(1, sigmoid) head (p(second label) = sigmoid(z))
    and its binary cross-entropy; the two forms express the same functions but
    train differently (measured on the classic tutorial CNN: see its preset).
    """
    if multi_label:
        if logits != "per-label":
            raise ConfigError(f"a multi-label output needs logits='per-label', got {logits!r}")
        return keras.layers.Dense(len(labels), activation="sigmoid", name="probabilities")(h)
    if logits == "per-label":
        return keras.layers.Dense(len(labels), activation="softmax", name="probabilities")(h)
    if logits != "reference":
        raise ConfigError(f"logits must be one of {', '.join(LOGITS)}, got {logits!r}")
    z = keras.layers.Dense(len(labels) - 1, name="logits")(h)
    z = keras.ops.concatenate([keras.ops.zeros_like(z[:, :1]), z], axis=-1)
    return keras.layers.Activation("softmax", name="probabilities")(z)
