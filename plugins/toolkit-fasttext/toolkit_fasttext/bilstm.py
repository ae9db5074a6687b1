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

from toolkit.contracts import Architecture
from toolkit.options import check_choice, check_float, check_int

NAME = "bilstm"
MERGE_MODES = ("concat", "sum", "ave", "mul")


class BiLSTM(Architecture):
    """A bidirectional LSTM classifier.

    Args:
        units: LSTM state size of each direction.
        dropout: dropout rate before the output layer.
        embedding_dropout: SpatialDropout1D rate on the embeddings.
        merge_mode: how the two directions' final states are combined:
            ``concat`` (default), ``sum``, ``ave`` or ``mul``.

    ``config`` holds every option; ``BiLSTM(**config)`` rebuilds the same model
    (``config``, ``repr``, ``==`` and the option errors come from
    :class:`toolkit.contracts.Architecture` and :mod:`toolkit.options`).
    """

    name = NAME
    length_policy = "dynamic"
    #: Smallest input width the model accepts: one position.
    min_len = 1

    def __init__(self, units: int = 64, dropout: float = 0.3, embedding_dropout: float = 0.0,
                 merge_mode: str = "concat") -> None:
        super().__init__(
            units=check_int(units, "units", minimum=1, component=self),
            dropout=check_float(dropout, "dropout", minimum=0, below=1, component=self),
            embedding_dropout=check_float(embedding_dropout, "embedding_dropout", minimum=0, below=1, component=self),
            merge_mode=check_choice(merge_mode, "merge_mode", MERGE_MODES, component=self),
        )

    def build(self, vocab_size: int, dim: int, weights: Any = None, trainable: bool = True,
              max_len: int | None = None, labels: Sequence[str] = ("NEGATIVE", "POSITIVE")):
        """The Keras model: int32 ``token_ids`` [batch, None] -> ``probabilities`` [batch, len(labels)].

        ``weights`` (float32 [vocab_size, dim]) initialises the embedding;
        ``trainable=False`` freezes it. ``max_len`` is not needed (the input
        length is dynamic); when given it is only checked.
        """
        vocab_size, dim, weights, max_len, labels = self.check_build_args(vocab_size, dim, weights, max_len, labels)

        import keras
        from keras import layers, ops

        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedding = layers.Embedding(vocab_size, dim, trainable=bool(trainable), name="embedding")
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
