"""The ``bilstm`` architecture: a bidirectional LSTM over masked, dynamic-length input::

    token_ids int32 [batch, length]        (post-padded with id 0; any length >= 1)
      -> Embedding(vocab_size, dim)
      -> [SpatialDropout1D(embedding_dropout)]
      -> Bidirectional(LSTM(units)), masked where token_ids == 0
      -> [Dropout(dropout)]
      -> Dense(n_labels, softmax) named ``probabilities``

Padding. The mask is computed from the ids with ``keras.ops`` inside the
functional graph and handed to the ``Bidirectional`` layer: the forward LSTM
stops at the last token and the backward one starts there, so padding never
changes a document's probabilities. That makes the length policy ``dynamic``
safe: the runtime sorts documents by length and pads each batch to its longest
document, and every document still gets the score it gets on its own. An
all-padding row (an empty document) gets the score of the zero state.

No custom layer: ``model.keras`` loads without ``custom_objects`` and tf2onnx
converts the masked LSTMs to an ONNX ``Loop``, so the bundle serves with
onnxruntime alone. Keras is imported inside :meth:`BiLSTM.build` only.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from toolkit.errors import ConfigError

NAME = "bilstm"
MERGE_MODES = ("concat", "sum", "ave", "mul")


def _fail(option: str, message: str) -> ConfigError:
    return ConfigError(f"architecture {NAME!r}: option {option!r} {message}")


def _int(option: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _fail(option, f"must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _rate(option: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise _fail(option, f"must be a number in [0, 1), got {value!r}")
    return float(value)


class BiLSTM:
    """A bidirectional LSTM classifier.

    Args:
        units: LSTM state size of each direction.
        dropout: dropout rate before the output layer.
        embedding_dropout: SpatialDropout1D rate on the embeddings.
        merge_mode: how the two directions' final states are combined:
            ``concat`` (default), ``sum``, ``ave`` or ``mul``.

    ``config`` holds every option; ``BiLSTM(**config)`` rebuilds the same model.
    """

    name = NAME
    length_policy = "dynamic"
    #: Smallest input width the model accepts: one position.
    min_len = 1

    def __init__(self, units: int = 64, dropout: float = 0.3, embedding_dropout: float = 0.0,
                 merge_mode: str = "concat") -> None:
        self.units = _int("units", units)
        self.dropout = _rate("dropout", dropout)
        self.embedding_dropout = _rate("embedding_dropout", embedding_dropout)
        if merge_mode not in MERGE_MODES:
            raise _fail("merge_mode", f"must be one of {', '.join(map(repr, MERGE_MODES))}, got {merge_mode!r}")
        self.merge_mode = merge_mode

    @property
    def config(self) -> dict[str, Any]:
        return {"units": self.units, "dropout": self.dropout, "embedding_dropout": self.embedding_dropout,
                "merge_mode": self.merge_mode}

    def __repr__(self) -> str:
        return f"BiLSTM({', '.join(f'{k}={v!r}' for k, v in self.config.items())})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.config == self.config

    def build(self, vocab_size: int, dim: int, weights: Any = None, trainable: bool = True,
              max_len: int | None = None, labels: Sequence[str] = ("NEGATIVE", "POSITIVE")):
        """The Keras model: int32 ``token_ids`` [batch, None] -> ``probabilities`` [batch, len(labels)].

        ``weights`` (float32 [vocab_size, dim]) initialises the embedding;
        ``trainable=False`` freezes it. ``max_len`` is not needed (the input
        length is dynamic); when given it is only checked.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 3:
            raise ConfigError(f"architecture {NAME!r}: vocab_size must be an integer >= 3, got {vocab_size!r}")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"architecture {NAME!r}: embedding dim must be a positive integer, got {dim!r}")
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer))
                                    or max_len < self.min_len):
            raise ConfigError(f"architecture {NAME!r}: max_len must be a positive integer, got {max_len!r}")
        labels = list(labels or [])
        if len(labels) < 2:
            raise ConfigError(f"architecture {NAME!r}: needs at least 2 labels, got {labels!r}")
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float32)
            if weights.shape != (int(vocab_size), int(dim)):
                raise ConfigError(f"architecture {NAME!r}: initial embedding weights have shape {weights.shape}, "
                                  f"expected ({int(vocab_size)}, {int(dim)}) = (vocab_size, dim)")

        import keras
        from keras import layers, ops

        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedding = layers.Embedding(int(vocab_size), int(dim), trainable=bool(trainable), name="embedding")
        x = embedding(ids)
        if self.embedding_dropout:
            x = layers.SpatialDropout1D(self.embedding_dropout, name="embedding_dropout")(x)
        mask = ops.not_equal(ids, 0)
        x = layers.Bidirectional(layers.LSTM(self.units), merge_mode=self.merge_mode, name="bilstm")(x, mask=mask)
        if self.dropout:
            x = layers.Dropout(self.dropout, name="dropout")(x)
        out = layers.Dense(len(labels), activation="softmax", name="probabilities")(x)
        model = keras.Model(ids, out, name="bilstm")
        if weights is not None:
            embedding.set_weights([weights])
        return model
