"""The training loop: prepared data, Keras model, optimizer, batches, fit with the best epoch kept.

Shared by ``toolkit train``, cross-validation and the search tools. TensorFlow
and Keras are imported inside the functions.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from toolkit.core import registry
from toolkit.core.contracts import check_multi_label
from toolkit.core.errors import EmbeddingError, TrainingError
from toolkit.core.batching import pad, score_batches
from toolkit.core.vocab import Vocab
from toolkit.training.vocab_builder import build_vocab
from toolkit.training.config import Config
from toolkit.training.corpus import Corpus, stratified_holdout
from toolkit.training.keras_io import keras_predict_fn
from toolkit.training.linear import nb_token_weights
from toolkit.training.prepare import tokenize_texts


@dataclass
class Prepared:
    """Everything built before the model: shared by training, evaluation and CV."""

    tokenizer: Any
    vocab: Vocab
    labels: list[str]
    train_tokens: list[list[str]]
    train_labels: np.ndarray
    max_len: int
    ordered: bool = False  # the labels are ordered numbers (toolkit.training.metrics.ordinal_metrics)
    #: non-exclusive labels: ``train_labels`` is the label matrix [documents, labels] (1: has the label)
    multi_label: bool = False
    #: a class per training document for the stratified validation cut (Corpus.strata); None: the labels
    strata: np.ndarray | None = None

    @property
    def split_classes(self) -> np.ndarray:
        """What the validation cut is stratified by: :attr:`strata`, else the label of each document."""
        return self.train_labels if self.strata is None else self.strata

def set_seed(seed: int) -> None:
    import keras
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

def resolve_max_len(config: Config, id_lists: Sequence[Sequence[int]], min_len: int, chunk: int = 1) -> int:
    """The configured ``max_len``, else the longest training document capped at ``max_len_cap``."""
    max_len = config.training.max_len
    if max_len is None:
        longest = max((len(x) for x in id_lists), default=1)
        max_len = min(longest, config.training.max_len_cap)
    max_len = max(max_len, min_len)
    if chunk > 1:  # architectures that cut the document into chunks need a multiple
        max_len = int(math.ceil(max_len / chunk) * chunk)
    return max_len

class BatchSequence:
    """Batches of (ids, labels) padded per batch (dynamic) or to ``max_len`` (fixed).

    Dynamic batches are formed from length-sorted windows of a seeded shuffle,
    so each batch holds documents of similar length (less padding, same
    epoch-to-epoch randomness for a given seed).
    """

    def __init__(self, ids, labels, batch_size, max_len, policy, min_len, shuffle, seed):
        self.ids = ids
        # label indices, or a label matrix [n, labels] (multi-label: binary cross-entropy targets)
        self.labels = np.asarray(labels, dtype=np.float32 if np.ndim(labels) == 2 else np.int32)
        self.batch_size = batch_size
        self.max_len = max_len
        self.policy = policy
        self.min_len = min_len
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.batches = self._plan()
        self._vary_first_widths()

    def _width(self, batch: np.ndarray) -> int:
        """The padded width of a (non-empty) batch under the dynamic policy, as :func:`pad` makes it."""
        return max(min(max(len(self.ids[j]) for j in batch), self.max_len), self.min_len, 1)

    def _vary_first_widths(self) -> None:
        """Keras takes a dataset's shapes from its first two batches: under the dynamic policy they must
        differ in width, or a later, narrower batch is refused ("yielded (32, 17) where (None, 20)
        expected"). When they are equal, the first later batch of another width is swapped into place
        (batch order only; nothing changes when the widths already differ)."""
        if self.policy != "dynamic" or len(self.batches) < 2:
            return
        widths = [self._width(b) for b in self.batches]
        if widths[0] != widths[1]:
            return
        other = next((i for i in range(2, len(widths)) if widths[i] != widths[0]), None)
        if other is not None:
            self.batches[1], self.batches[other] = self.batches[other], self.batches[1]

    def _plan(self) -> list[np.ndarray]:
        order = np.arange(len(self.ids))
        if self.shuffle:
            self.rng.shuffle(order)
        if self.policy == "dynamic":
            window = self.batch_size * 20
            lengths = np.array([len(x) for x in self.ids])
            parts = []
            for start in range(0, len(order), window):
                chunk = order[start:start + window]
                parts.append(chunk[np.argsort(lengths[chunk], kind="stable")])
            order = np.concatenate(parts) if parts else order
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.shuffle:
            self.rng.shuffle(batches)
        return batches

    def __len__(self) -> int:
        return len(self.batches)

    def batch(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.batches[i]
        x = pad([self.ids[j] for j in idx], self.max_len, self.policy, self.min_len)
        return x, self.labels[idx]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.batches = self._plan()

def _keras_dataset(seq: BatchSequence):
    import keras

    class _Data(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)

        def __len__(self):
            return len(seq)

        def __getitem__(self, i):
            return seq.batch(i)

        def on_epoch_end(self):
            seq.on_epoch_end()

    return _Data()


def predict_ids(model, ids: Sequence[Sequence[int]], max_len: int, policy: str, min_len: int,
                batch_size: int = 64) -> np.ndarray:
    """Probabilities for encoded documents, in order, batched exactly as the runtime batches them."""
    return score_batches(ids, keras_predict_fn(model), policy=policy, max_len=max_len, min_len=min_len,
                         batch_size=batch_size)


LR_SCHEDULES = ("constant", "cosine")


def _make_optimizer(name: str, learning_rate: float, schedule: str = "constant", total_steps: int = 1):
    """The Keras optimizer ``name``; ``schedule="cosine"`` decays the rate to 0 over ``total_steps``."""
    import keras

    optimizers = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD,
                  "rmsprop": keras.optimizers.RMSprop, "adagrad": keras.optimizers.Adagrad}
    if name not in optimizers:
        raise TrainingError(f"unknown optimizer {name!r} (training.optimizer); choose one of {', '.join(optimizers)}")
    if schedule not in LR_SCHEDULES:
        raise TrainingError(f"unknown learning-rate schedule {schedule!r} (training.lr_schedule); choose one of "
                            f"{', '.join(LR_SCHEDULES)}")
    rate = learning_rate
    if schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, int(total_steps)))
    return optimizers[name](learning_rate=rate)

class _KeepBest:
    """Keras callback factory: remember the weights of the best epoch, restore them at the end."""

    @staticmethod
    def make(monitor: str, patience: int, on_epoch: Callable[[int, dict], None] | None):
        import keras

        class KeepBest(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.best = None
                self.best_epoch = -1
                self.best_weights = None
                self.wait = 0

            def _better(self, logs):
                value = logs.get(monitor)
                if value is None:
                    raise TrainingError(f"training.monitor {monitor!r} is not a logged metric ({', '.join(logs)})")
                key = (value, -logs.get("val_loss", 0.0)) if "loss" not in monitor else (-value, 0.0)
                return self.best is None or key > self.best, key

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                better, key = self._better(logs)
                if better:
                    self.best, self.best_epoch, self.wait = key, epoch, 0
                    self.best_weights = self.model.get_weights()
                else:
                    self.wait += 1
                    if patience and self.wait >= patience:
                        self.model.stop_training = True
                if on_epoch is not None:
                    on_epoch(epoch, logs)

            def on_train_end(self, logs=None):
                if self.best_weights is not None:
                    self.model.set_weights(self.best_weights)

        return KeepBest()

def prepare(config: Config, train: Corpus, progress: bool = True) -> Prepared:
    tok = registry.create("tokenizer", config.tokenizer.name, **config.tokenizer.options)
    train_tokens = tokenize_texts(train.texts, tok, progress=progress, description="tokenizing train")
    v = config.vocab
    vocab = build_vocab(train_tokens, min_count=v.min_count, max_size=v.max_size, ngrams=v.ngrams,
                        unknown=v.unknown)
    if len(vocab) <= 2:
        raise TrainingError(
            f"the vocabulary of the {len(train)} training documents is empty after cleaning "
            f"(min_count={v.min_count}); lower vocab.min_count, check the corpus and tokenizer"
            + (", or leave more documents for training (lower --test-share, data.test_share)"
               if len(train) < 20 else "")
        )
    if train.multi_label:
        return Prepared(tok, vocab, list(train.labels), train_tokens, train.label_matrix, 0, multi_label=True,
                        strata=np.asarray(train.strata, dtype=np.int64))
    return Prepared(tok, vocab, list(train.labels), train_tokens, np.asarray(train.label_ids, dtype=np.int32), 0,
                    ordered=train.ordered)

def embedding_matrix(config: Config, emb, vocab: Vocab, tokens: Sequence[Sequence[str]] | None):
    """The embedding provider's initial matrix for ``vocab`` (``None``: random init), shape-checked.
    ``tokens``: the tokenized training documents, or ``None`` when they are not in memory (streamed)."""
    weights = emb.matrix(vocab, tokens)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float32)
        if weights.shape != (len(vocab), int(emb.dim)):
            raise EmbeddingError(
                f"embedding {config.embedding.name!r} returned a matrix of shape {weights.shape}, expected "
                f"({len(vocab)}, {int(emb.dim)}) = (vocabulary size, embedding.options.dim)"
            )
    return weights


def build_model(arch, emb, vocab: Vocab, labels: Sequence[str], max_len: int, weights=None, token_weights=None,
                multi_label: bool = False):
    """The (uncompiled) Keras model: shared by :func:`fit` and the data-parallel trainer
    (:mod:`toolkit.training.distributed`), which calls it inside its strategy's scope. ``multi_label``:
    a sigmoid per label (the architecture must declare ``supports_multi_label``)."""
    extra = {"token_weights": token_weights} if getattr(arch, "needs_token_weights", False) else {}
    if multi_label:
        check_multi_label(arch)
        extra["multi_label"] = True
    return arch.build(len(vocab), int(emb.dim), weights=weights, trainable=bool(emb.trainable), max_len=max_len,
                      labels=list(labels), **extra)


@dataclass
class FitResult:
    model: Any
    architecture: Any
    embedding: Any
    prepared: Prepared
    history: dict[str, list[float]]
    best_epoch: int
    train_seconds: float
    max_len: int
    linear: dict | None = None  # the linear path's record (toolkit.training.ensemble), None without one

def fit(config: Config, train: Corpus, progress: bool = True,
        on_epoch: Callable[[int, dict], None] | None = None, dev: Corpus | None = None) -> FitResult:
    """Build everything from the training split and fit the model (best epoch kept).

    The validation set that picks the best epoch and stops training early: ``dev`` when given (the
    user's dev set, encoded with the training vocabulary; every training document is fitted on), else
    ``training.validation_share`` of each label of ``train`` held out (0, the default: none)."""
    t0 = time.perf_counter()
    set_seed(config.training.seed)
    prep = prepare(config, train, progress)
    emb = registry.create("embedding", config.embedding.name, **config.embedding.options)
    arch = registry.create("architecture", config.architecture.name, **config.architecture.options)
    if prep.multi_label:  # before the embedding and the epochs: an architecture without a sigmoid head
        check_multi_label(arch, config.architecture.name)
    policy = arch.length_policy
    min_len = int(getattr(arch, "min_len", 1))
    weights = embedding_matrix(config, emb, prep.vocab, prep.train_tokens)
    ids = prep.vocab.encode_many(prep.train_tokens)
    chunk = int(arch.config.get("chunk_len", 1) or 1)
    max_len = resolve_max_len(config, ids, min_len, chunk)
    prep.max_len = max_len

    tr = config.training
    if dev is not None:
        train_idx = np.arange(len(ids))
        val_ids = prep.vocab.encode_many(tokenize_texts(dev.texts, prep.tokenizer, progress=progress,
                                                        description="tokenizing dev"))
        label_index = {label: i for i, label in enumerate(prep.labels)}
        if prep.multi_label:
            val_labels = Corpus(dev.documents, labels=prep.labels, multi_label=True).label_matrix
        else:
            val_labels = np.asarray([label_index[d.label] for d in dev], dtype=np.int32)
    else:
        train_idx, val_idx = stratified_holdout(prep.split_classes, tr.validation_share, tr.seed)
        val_ids, val_labels = [ids[i] for i in val_idx], prep.train_labels[val_idx]
    fit_ids = [ids[i] for i in train_idx]
    train_seq = BatchSequence(fit_ids, prep.train_labels[train_idx], tr.batch_size, max_len, policy, min_len,
                              shuffle=True, seed=tr.seed)
    val_data = None
    if len(val_ids):
        val_seq = BatchSequence(val_ids, val_labels, tr.batch_size, max_len, policy, min_len, shuffle=False, seed=0)
        val_data = _keras_dataset(val_seq)
    # Without validation data, training accuracy reaches 1.0 and cannot rank
    # epochs: keep the lowest training loss, and do not stop early on it.
    monitor, patience = (tr.monitor, tr.early_stopping) if val_data is not None else ("loss", 0)

    extra = {}
    if getattr(arch, "needs_token_weights", False):  # from the documents the model is fitted on only
        extra["token_weights"] = nb_token_weights(fit_ids, prep.train_labels[train_idx], len(prep.vocab),
                                                  len(prep.labels))
    model = build_model(arch, emb, prep.vocab, prep.labels, max_len, weights, extra.get("token_weights"),
                        multi_label=prep.multi_label)
    if prep.multi_label:  # one binary decision per label; "accuracy" is the share of right decisions
        import keras

        loss, metrics = "binary_crossentropy", [keras.metrics.BinaryAccuracy(name="accuracy")]
    else:
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    model.compile(optimizer=_make_optimizer(tr.optimizer, tr.learning_rate, tr.lr_schedule,
                                            tr.epochs * len(train_seq)),
                  loss=loss, metrics=metrics)
    keep = _KeepBest.make(monitor, patience, on_epoch)
    hist = model.fit(_keras_dataset(train_seq), validation_data=val_data, epochs=tr.epochs,
                     callbacks=[keep], verbose=2 if progress else 0)
    history = {k: [float(x) for x in v] for k, v in hist.history.items()}
    from toolkit.training.ensemble import add_linear_path

    model, linear = add_linear_path(config, model, prep, ids, train_idx, val_ids, val_labels, max_len, policy, min_len)
    return FitResult(model, arch, emb, prep, history, keep.best_epoch, time.perf_counter() - t0, max_len, linear)
