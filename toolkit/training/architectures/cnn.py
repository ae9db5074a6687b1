"""Convolutional text classifiers, registered as ``cnn`` and ``seed-cnn``.

``cnn`` (the default architecture)::

    token_ids -> Embedding(dim) [-> SpatialDropout1D(embedding_dropout)]
      -> one branch per kernel width k: Conv1D(filters, k, activation) -> pooling
      -> concatenate -> Dropout(dropout)
      [+ bag: the mean of the token embeddings (a fastText-style branch), not dropped;
         bag_weights="nb": each embedding scaled by its token's naive-Bayes weight first;
         bag_binary: each distinct id counted once]
      -> concatenate -> (Dense(units, activation) -> Dropout) per ``dense`` entry
      -> Dense(n_labels, softmax) named ``probabilities``

``pooling`` is ``max``, ``avg``, ``max+avg`` or ``hierarchical`` (max within
regions of ``pool_size`` positions, then the mean over regions); these are
masked global poolings: padding never changes a document's score, and inputs
may have any length >= ``min_len`` (length policy ``dynamic``). Or ``local-max``
(MaxPooling1D(pool_size) -> Flatten, fixed length, as in the classic tutorial).

``seed-cnn`` is a preset of the same class reproducing the classic tutorial
exactly: Embedding(100) -> Conv1D(32, 8, relu) -> MaxPooling1D(2) -> Flatten ->
Dense(10, relu) -> output, fixed-length post-padded input (``max_len`` = the
longest training document).

Keras is imported inside :meth:`CNN.build` only.
"""

from __future__ import annotations

from typing import Any, Sequence

from toolkit.core.contracts import LENGTH_POLICIES, Architecture
from toolkit.core.options import check_bool, check_choice, check_float, check_int, check_int_list
from toolkit.training.architectures import _common as c

POOLINGS = c.GLOBAL_POOLINGS + ("local-max",)


class CNN(Architecture):
    """A configurable 1-D convolutional classifier.

    Args:
        filters: convolution filters per branch.
        kernel_sizes: one branch per width (a list of integers).
        activation: activation of the convolutions and hidden dense layers.
        pooling: ``max``, ``avg``, ``max+avg``, ``hierarchical`` (masked, global) or
            ``local-max``.
        pool_size: window of ``local-max`` pooling, region of ``hierarchical``
            pooling (ignored otherwise).
        bag: add the masked mean of the token embeddings as extra features
            (a fastText-style branch; with unigram+bigram ids it carries most
            of the signal on long reviews). Needs a global ``pooling``.
        bag_weights: ``none`` or ``nb``: in the bag mean, scale each token's
            embedding by a fixed weight, the magnitude of its naive-Bayes
            log-count ratio on the training split (how unevenly the documents
            that hold it fall across the labels; NBSVM's feature scaling, Wang
            & Manning 2012). Tokens that tell the labels apart then move the
            score more, and learn faster, than tokens spread evenly over them.
            The trainer computes the weights (:func:`toolkit.training.linear.nb_token_weights`)
            and passes them to ``build(token_weights=...)``; the model keeps them as
            a frozen one-column embedding. ``None`` (default): ``nb`` with the
            bag branch, ``none`` without it.
        bag_binary: count each distinct id once in the bag mean, however often
            it occurs in the document (NBSVM's binarized features: a word
            repeated through a long review is one piece of evidence, not
            twenty). The ids are sorted (the mean does not depend on order; an
            ONNX ``TopK``) and the first of each run is kept. ``None`` (default):
            the same as ``bag``.
        dense: sizes of the hidden dense layers (may be empty).
        dropout: dropout rate on the pooled convolution features and after each
            hidden dense layer (the bag features are never dropped).
        embedding_dropout: SpatialDropout1D rate on the embeddings (drops whole
            dimensions).
        token_dropout: rate of whole tokens (embedding vectors) dropped in training.
        conv_trains_embedding: let the convolutions' gradients reach the
            embedding. ``False`` (stop-gradient) leaves the embedding to the
            bag branch and the convolutions read it as fixed features. ``None``
            (default): ``False`` with the bag branch, ``True`` without it.
        length_policy: ``dynamic`` (default for the global poolings) or
            ``fixed`` (required by ``local-max``); ``None`` chooses.
        logits: ``per-label`` (Dense(n_labels, softmax)) or ``reference``
            (n_labels - 1 logits against a fixed 0 for the first label; with
            two labels exactly the classic Dense(1, sigmoid) head).

    ``config`` holds every option; ``CNN(**config)`` rebuilds the same model.
    """

    name = "cnn"
    #: Training, vocabulary and tokenizer settings this configuration was tuned
    #: with, shaped like the training config sections (see docs and the benchmark).
    RECOMMENDED: dict[str, Any] = {
        "tokenizer": {"name": "nltk", "options": {"stopwords": False}},
        "vocab": {"min_count": 2, "max_size": None, "ngrams": 2},
        "embedding": {"name": "learned", "options": {"dim": 16}},
        "training": {"epochs": 10, "batch_size": 32, "optimizer": "adam", "learning_rate": 0.01,
                     "validation_share": 0.0, "early_stopping": 3, "max_len": None, "max_len_cap": 4000},
    }

    def __init__(
        self,
        filters: int = 16,
        kernel_sizes: Sequence[int] = (3,),
        activation: str = "relu",
        pooling: str = "max",
        pool_size: int = 2,
        bag: bool = True,
        dense: Sequence[int] = (),
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        token_dropout: float = 0.0,
        conv_trains_embedding: bool | None = None,
        length_policy: str | None = None,
        logits: str = "per-label",
        bag_weights: str | None = None,
        bag_binary: bool | None = None,
    ) -> None:
        bag = check_bool(bag, "bag", component=self)
        pooling = check_choice(pooling, "pooling", POOLINGS, component=self)
        if bag_weights is None:
            bag_weights = "nb" if bag else "none"
        local = pooling == "local-max"
        if length_policy is None:
            length_policy = "fixed" if local else "dynamic"
        options = dict(
            filters=check_int(filters, "filters", minimum=1, component=self),
            kernel_sizes=check_int_list(kernel_sizes, "kernel_sizes", minimum=1, allow_empty=True, component=self),
            activation=check_choice(activation, "activation", c.ACTIVATIONS, component=self),
            pooling=pooling,
            pool_size=check_int(pool_size, "pool_size", minimum=1, component=self),
            bag=bag,
            dense=check_int_list(dense, "dense", minimum=1, allow_empty=True, component=self),
            dropout=check_float(dropout, "dropout", minimum=0, below=1, component=self),
            embedding_dropout=check_float(embedding_dropout, "embedding_dropout", minimum=0, below=1, component=self),
            token_dropout=check_float(token_dropout, "token_dropout", minimum=0, below=1, component=self),
            conv_trains_embedding=None,  # resolved below, once kernel_sizes and bag are known
            length_policy=None,
            logits=check_choice(logits, "logits", c.LOGITS, component=self),
            bag_weights=check_choice(bag_weights, "bag_weights", c.TOKEN_WEIGHTINGS, component=self),
            bag_binary=check_bool(bag if bag_binary is None else bag_binary, "bag_binary", component=self),
        )
        options["length_policy"] = check_choice(length_policy, "length_policy", LENGTH_POLICIES, component=self)
        if local and options["length_policy"] == "dynamic":
            raise self.option_error("length_policy", "must be 'fixed' with pooling='local-max' (Flatten needs a "
                                    "fixed length); use a global pooling (max, avg, max+avg, hierarchical) for 'dynamic'")
        if local and bag:
            raise self.option_error("bag", "needs a global pooling (max, avg, max+avg, hierarchical), not "
                                    "pooling='local-max'")
        if options["bag_weights"] != "none" and not bag:
            raise self.option_error("bag_weights", f"= {options['bag_weights']!r} needs bag=true (it weighs the bag "
                                    f"branch)")
        if options["bag_binary"] and not bag:
            raise self.option_error("bag_binary", "needs bag=true (it changes the bag branch)")
        if not options["kernel_sizes"] and not bag:
            raise self.option_error("kernel_sizes", "must not be empty unless bag=True (a model needs some features)")
        options["conv_trains_embedding"] = c.check_conv_trains_embedding(
            self, conv_trains_embedding, bag, has_conv=bool(options["kernel_sizes"]))
        super().__init__(**options)

    supports_multi_label = True  # build(multi_label=True): a sigmoid per label

    @property
    def needs_token_weights(self) -> bool:
        """``build()`` needs ``token_weights`` (the trainer passes them when this is true)."""
        return self.bag_weights != "none"

    @property
    def min_len(self) -> int:
        """Smallest input width the model accepts (the widest kernel, plus the
        pooling window for ``local-max``)."""
        widest = max(self.kernel_sizes, default=1)
        return widest + self.pool_size - 1 if self.pooling == "local-max" else widest

    # -- model ------------------------------------------------------------
    def build(self, vocab_size: int, dim: int, weights: Any = None, trainable: bool = True,
              max_len: int | None = None, labels: Sequence[str] = ("NEGATIVE", "POSITIVE"),
              token_weights: Any = None, multi_label: bool = False):
        """The Keras model: int32 ``token_ids`` [batch, length] -> ``probabilities`` [batch, n_labels].

        ``weights`` (float32 [vocab_size, dim]) initialises the embedding;
        ``trainable=False`` freezes it. With the ``fixed`` policy the input has
        shape (max_len,); with ``dynamic`` it is (None,) and ``max_len`` is only
        checked against ``min_len``. ``token_weights`` (float [vocab_size]) are
        the fixed bag weights, required when ``needs_token_weights``. ``multi_label``: a sigmoid
        per label (non-exclusive labels) instead of the softmax.
        """
        fixed = self.length_policy == "fixed"
        vocab_size, dim, weights, max_len, labels = self.check_build_args(
            vocab_size, dim, weights, max_len, labels, max_len_required=fixed, multi_label=multi_label)
        c.check_multi_label_head(self, multi_label)
        token_weights = c.check_token_weights(self.name, token_weights, vocab_size, self.needs_token_weights)
        import keras
        from keras import layers, ops

        ids = keras.Input(shape=(max_len if fixed else None,), dtype="int32", name="token_ids")
        emb_layer = c.embedding_layer(keras, vocab_size, dim, trainable)
        drops = []
        if self.token_dropout:  # drop whole tokens (their embedding vectors)
            drops.append(layers.Dropout(self.token_dropout, noise_shape=(None, None, 1), name="token_dropout"))
        if self.embedding_dropout:
            drops.append(layers.SpatialDropout1D(self.embedding_dropout, name="embedding_dropout"))

        def embed(token_ids):
            h = emb_layer(token_ids)
            for drop in drops:
                h = drop(h)
            return h

        x = embed(ids)
        conv_in = x if self.conv_trains_embedding else ops.stop_gradient(x)
        conv_features, bag_features = [], []
        if self.pooling == "local-max":
            for k in self.kernel_sizes:
                h = layers.Conv1D(self.filters, k, activation=self.activation, name=f"conv_{k}")(conv_in)
                h = layers.MaxPooling1D(self.pool_size, name=f"pool_{k}")(h)
                conv_features.append(layers.Flatten(name=f"flatten_{k}")(h))
        else:
            mask = c.token_mask(ops, ids)
            for k in self.kernel_sizes:
                h = layers.Conv1D(self.filters, k, activation=self.activation, name=f"conv_{k}")(conv_in)
                conv_features.extend(c.masked_pool(ops, h, c.window_mask(mask, k), self.pooling, self.pool_size,
                                                   nonnegative=self.activation == "relu"))
            if self.bag:
                bag_ids, bag_in, bag_mask = ids, x, mask
                if self.bag_binary:
                    # Each distinct id once: sort the ids (the mean is order-free) and keep
                    # the first of each run of equal ids.
                    bag_ids = ops.sort(ids, axis=-1)
                    bag_mask = ops.logical_and(c.token_mask(ops, bag_ids), c.first_of_runs(ops, bag_ids))
                    bag_in = embed(bag_ids)
                if token_weights is not None:
                    bag_in = c.weigh_tokens(keras, bag_in, bag_ids, token_weights)
                bag_features = c.masked_pool(ops, bag_in, c.window_mask(bag_mask, 1), "avg")
        parts = []
        if conv_features:
            h = conv_features[0] if len(conv_features) == 1 else \
                layers.Concatenate(name="conv_features")(conv_features)
            if self.dropout:
                h = layers.Dropout(self.dropout, name="conv_dropout")(h)
            parts.append(h)
        parts.extend(bag_features)  # never dropped: dropout on a mean embedding only adds noise
        h = parts[0] if len(parts) == 1 else layers.Concatenate(name="features")(parts)
        for i, units in enumerate(self.dense):
            h = layers.Dense(units, activation=self.activation, name=f"dense_{i}")(h)
            if self.dropout:
                h = layers.Dropout(self.dropout, name=f"dropout_{i}")(h)
        out = c.output(keras, h, labels, self.logits, multi_label)
        model = keras.Model(ids, out, name=self.name.replace("-", "_"))
        c.set_embedding_weights(emb_layer, weights)
        return model


class SeedCNN(CNN):
    """The classic tutorial's CNN (``seed-cnn``): same options as ``cnn``, other defaults.

    Embedding(100) -> Conv1D(32, 8, relu) -> MaxPooling1D(2) -> Flatten ->
    Dense(10, relu) -> Dense(1, sigmoid); fixed length, no dropout. The
    sigmoid head is ``logits="reference"`` (probabilities [p(first), p(second)]
    = [1 - sigmoid(z), sigmoid(z)]); the tutorial's figure depends on it.
    """

    name = "seed-cnn"
    RECOMMENDED: dict[str, Any] = {
        "tokenizer": {"name": "nltk", "options": {"stopwords": True}},
        "vocab": {"min_count": 2, "max_size": None, "ngrams": 1, "unknown": "drop"},
        "embedding": {"name": "learned", "options": {"dim": 100}},
        "training": {"epochs": 10, "batch_size": 32, "optimizer": "adam", "learning_rate": 0.001,
                     "max_len": None, "max_len_cap": 4000},
    }

    def __init__(
        self,
        filters: int = 32,
        kernel_sizes: Sequence[int] = (8,),
        activation: str = "relu",
        pooling: str = "local-max",
        pool_size: int = 2,
        bag: bool = False,
        dense: Sequence[int] = (10,),
        dropout: float = 0.0,
        embedding_dropout: float = 0.0,
        token_dropout: float = 0.0,
        conv_trains_embedding: bool = True,
        length_policy: str | None = None,
        logits: str = "reference",
        bag_weights: str | None = None,
        bag_binary: bool | None = None,
    ) -> None:
        super().__init__(filters=filters, kernel_sizes=kernel_sizes, activation=activation, pooling=pooling,
                         pool_size=pool_size, bag=bag, dense=dense, dropout=dropout,
                         embedding_dropout=embedding_dropout, token_dropout=token_dropout,
                         conv_trains_embedding=conv_trains_embedding, length_policy=length_policy,
                         logits=logits, bag_weights=bag_weights, bag_binary=bag_binary)
