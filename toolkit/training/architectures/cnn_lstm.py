"""A chunked CNN + LSTM classifier, registered as ``cnn-lstm``::

    token_ids [batch, max_len]
      -> Reshape [batch, max_len / chunk_len, chunk_len]
      -> TimeDistributed(chunk CNN: Embedding [x naive-Bayes token weight]
                         -> Conv1D(filters, kernel_size) -> masked global pooling)
         = one feature vector per chunk [batch, n_chunks, filters (x2 for max+avg)]
      -> LSTM(lstm_units) over the chunks (chunks that are all padding are masked: option ``mask``)
      -> Dropout [+ bag: the masked mean of all token embeddings, as in ``cnn``]
      -> Dense(n_labels, softmax) named ``probabilities``

The defaults are the best configuration measured on the polarity corpus
(benchmarks/experiments): chunks of 100 ids, 32 width-1 filters with average
pooling (so each chunk is a learned, NB-weighted bag of its n-grams), an LSTM
of 64 over the chunks; ``recommended`` holds the training settings that go with
them (unigrams + bigrams, dim 16, Adam 0.01 with cosine decay, 10 epochs).

Fixed length: ``max_len`` must be a multiple of ``chunk_len``. Padding never
changes a score when ``mask`` is on (the default): the chunk pooling ignores
padding positions and the LSTM skips all-padding chunks.

Keras is imported inside :meth:`CNNLSTM.build` only.
"""

from __future__ import annotations

from typing import Any, Sequence

from toolkit.core.contracts import Architecture
from toolkit.core.errors import ConfigError
from toolkit.core.options import check_bool, check_choice, check_float, check_int
from toolkit.training.architectures import _common as c


class CNNLSTM(Architecture):
    """Chunk the document, encode each chunk with a small CNN, read the chunks with an LSTM.

    Args:
        chunk_len: tokens per chunk; ``max_len`` must be a multiple of it.
        filters: convolution filters (the size of a chunk's feature vector).
        kernel_size: convolution width (<= chunk_len).
        activation: activation of the convolution.
        pooling: pooling of each chunk's convolution outputs: ``max``, ``avg``
            or ``max+avg`` (masked: padding positions never count).
        lstm_units: LSTM state size.
        dropout: dropout on the chunk features and before the output layer.
        mask: make the LSTM skip chunks that are all padding (documents are
            post-padded). Exported to ONNX as a Loop; off gives a plain ONNX
            LSTM node but lets padding chunks reach the LSTM.
        bag: also feed the output layer the masked mean of the document's
            token embeddings (the embedding is shared with the chunk CNN). With
            unigram+bigram ids this fastText-style branch carries most of the
            signal on long reviews, as in ``cnn``.
        conv_trains_embedding: let the chunk CNN's gradients reach the
            embedding. ``None`` (default): ``False`` with the bag branch (the bag
            trains the embedding and the chunk CNN reads it as fixed features,
            as in ``cnn``), ``True`` without it.
        logits: ``per-label`` or ``reference`` output, as in ``cnn``.
        chunk_weights: ``none`` or ``nb``: scale each token's embedding by its fixed
            naive-Bayes weight before the chunk CNN reads it (as ``cnn``'s
            ``bag_weights``; the trainer passes ``build(token_weights=...)``).
    """

    name = "cnn-lstm"
    RECOMMENDED: dict[str, Any] = {
        "tokenizer": {"name": "nltk", "options": {"stopwords": False}},
        "vocab": {"min_count": 2, "max_size": None, "ngrams": 2},
        "embedding": {"name": "learned", "options": {"dim": 16}},
        "training": {"epochs": 10, "batch_size": 32, "optimizer": "adam", "learning_rate": 0.01,
                     "lr_schedule": "cosine", "max_len": None, "max_len_cap": 4000},
    }

    def __init__(
        self,
        chunk_len: int = 100,
        filters: int = 32,
        kernel_size: int = 1,
        activation: str = "relu",
        pooling: str = "avg",
        lstm_units: int = 64,
        dropout: float = 0.5,
        mask: bool = True,
        bag: bool = False,
        conv_trains_embedding: bool | None = None,
        logits: str = "per-label",
        chunk_weights: str = "nb",
    ) -> None:
        bag = check_bool(bag, "bag", component=self)
        super().__init__(
            chunk_len=check_int(chunk_len, "chunk_len", minimum=1, component=self),
            filters=check_int(filters, "filters", minimum=1, component=self),
            kernel_size=check_int(kernel_size, "kernel_size", minimum=1, component=self),
            activation=check_choice(activation, "activation", c.ACTIVATIONS, component=self),
            pooling=check_choice(pooling, "pooling", c.GLOBAL_POOLINGS, component=self),
            lstm_units=check_int(lstm_units, "lstm_units", minimum=1, component=self),
            dropout=check_float(dropout, "dropout", minimum=0, below=1, component=self),
            mask=check_bool(mask, "mask", component=self),
            bag=bag,
            conv_trains_embedding=c.check_conv_trains_embedding(self, conv_trains_embedding, bag),
            logits=check_choice(logits, "logits", c.LOGITS, component=self),
            chunk_weights=check_choice(chunk_weights, "chunk_weights", c.TOKEN_WEIGHTINGS, component=self),
        )
        if self.kernel_size > self.chunk_len:
            raise self.option_error("kernel_size", f"= {self.kernel_size} is wider than chunk_len = {self.chunk_len}")

    length_policy = "fixed"
    supports_multi_label = True  # build(multi_label=True): a sigmoid per label

    @property
    def needs_token_weights(self) -> bool:
        """``build()`` needs ``token_weights`` (the trainer passes them when this is true)."""
        return self.chunk_weights != "none"

    @property
    def min_len(self) -> int:
        return self.chunk_len

    # -- model ------------------------------------------------------------
    def build(self, vocab_size: int, dim: int, weights: Any = None, trainable: bool = True,
              max_len: int | None = None, labels: Sequence[str] = ("NEGATIVE", "POSITIVE"),
              token_weights: Any = None, multi_label: bool = False):
        """The Keras model: int32 ``token_ids`` [batch, max_len] -> ``probabilities`` [batch, n_labels]
        (``multi_label``: a sigmoid per label instead of the softmax)."""
        vocab_size, dim, weights, max_len, labels = self.check_build_args(
            vocab_size, dim, weights, max_len, labels, max_len_required=True, multi_label=multi_label)
        c.check_multi_label_head(self, multi_label)
        if max_len % self.chunk_len:
            raise ConfigError(
                f"architecture {self.name!r}: option 'chunk_len' = {self.chunk_len} does not divide "
                f"max_len = {max_len}; use a max_len that is a multiple of chunk_len "
                f"(e.g. {-(-max_len // self.chunk_len) * self.chunk_len})")
        token_weights = c.check_token_weights(self.name, token_weights, vocab_size, self.needs_token_weights,
                                              option="chunk_weights")
        import keras
        from keras import layers, ops

        n_chunks = max_len // self.chunk_len
        # The per-chunk CNN, applied to every chunk by TimeDistributed.
        chunk_ids = keras.Input(shape=(self.chunk_len,), dtype="int32", name="chunk_ids")
        emb_layer = c.embedding_layer(keras, vocab_size, dim, trainable)
        h = emb_layer(chunk_ids)
        if token_weights is not None:
            h = c.weigh_tokens(keras, h, chunk_ids, token_weights)
        if not self.conv_trains_embedding:
            h = ops.stop_gradient(h)
        h = layers.Conv1D(self.filters, self.kernel_size, activation=self.activation, name="conv")(h)
        wmask = c.window_mask(c.token_mask(ops, chunk_ids), self.kernel_size)
        pooled = c.masked_pool(ops, h, wmask, self.pooling, nonnegative=self.activation == "relu")
        pooled = pooled[0] if len(pooled) == 1 else layers.Concatenate(name="chunk_pooled")(pooled)
        chunk_cnn = keras.Model(chunk_ids, pooled, name="chunk_cnn")

        ids = keras.Input(shape=(max_len,), dtype="int32", name="token_ids")
        chunks = layers.Reshape((n_chunks, self.chunk_len), name="chunks")(ids)
        x = layers.TimeDistributed(chunk_cnn, name="chunk_features")(chunks)
        if self.dropout:
            x = layers.Dropout(self.dropout, name="chunk_dropout")(x)
        lstm = layers.LSTM(self.lstm_units, name="lstm")
        if self.mask:
            chunk_mask = ops.any(ops.not_equal(chunks, 0), axis=-1)
            x = lstm(x, mask=chunk_mask)
        else:
            x = lstm(x)
        if self.dropout:
            x = layers.Dropout(self.dropout, name="dropout_out")(x)
        if self.bag:
            tokens = emb_layer(ids)  # the chunk CNN's embedding, over the whole document
            bag = c.masked_pool(ops, tokens, c.window_mask(c.token_mask(ops, ids), 1), "avg")
            x = layers.Concatenate(name="features")([x] + bag)
        out = c.output(keras, x, labels, self.logits, multi_label)
        model = keras.Model(ids, out, name="cnn_lstm")
        c.set_embedding_weights(emb_layer, weights)
        return model
