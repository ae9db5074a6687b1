"""The ``word2vec`` embedding provider: vectors trained with gensim on the
training documents, or loaded from a file made earlier.

Training unit: one *document* per gensim "sentence" (not one line). After the
classic cleaning (stop words removed) a polarity line keeps ~11 tokens, so
line-by-line training cuts many context windows at sentence edges; whole
documents keep them, and the provider's input (token lists per document) has
no line structure anyway. Documents longer than gensim's 10,000-token limit
are cut into chunks of that length instead of being silently truncated.
Measured numbers: docs/embeddings.md.

Defaults chosen so that the vectors help a small corpus instead of hurting it
(the classic Keras tutorial lost ~30 accuracy points with word2vec vectors):

- ``epochs=30``: with gensim's default 5 epochs on ~600k tokens, CBOW vectors
  are nearly collinear (median cosine of random word pairs 0.98), so every
  word looks alike to the network.
- ``min_count=1``: every vocabulary token seen in training gets a trained
  vector (the vocabulary itself applies its own ``min_count``), so no rows
  are left at zero or random except ``<unk>``.
- ``rescale=True``: vectors are centred and scaled to the size of Keras'
  default initialiser; ``trainable=True``: they are fine-tuned with the task.
- ``workers=1`` and ``seed=1``: the same corpus gives the same vectors.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

import numpy as np

from toolkit.core.contracts import EmbeddingProvider
from toolkit.core.errors import EmbeddingError
from toolkit.core.options import check_bool, check_choice, check_float, check_int, check_path
from toolkit.training.embeddings.glove import check_dim
from toolkit.training.embeddings.matrix import build_matrix
from toolkit.training.embeddings.vectors import WORD2VEC_BINARY, file_dim, read_vectors, write_vectors

#: gensim ignores the tokens of a "sentence" after this many; longer documents are chunked.
MAX_WORDS_PER_UNIT = 10_000

DEFAULT_EPOCHS = 30


def training_units(docs: Sequence[Sequence[str]]) -> list[list[str]]:
    """One gensim "sentence" per document, cut into chunks of at most :data:`MAX_WORDS_PER_UNIT` tokens
    (gensim would silently drop the rest); empty documents are left out."""
    units: list[list[str]] = []
    for doc in docs:
        doc = list(doc)
        for start in range(0, len(doc), MAX_WORDS_PER_UNIT):
            units.append(doc[start : start + MAX_WORDS_PER_UNIT])
    return [u for u in units if u]


def train_gensim(model: Any, units: Sequence[Sequence[str]], epochs: int, *, progress: bool = True,
                 label: str = "word2vec") -> float:
    """Train a gensim model whose vocabulary is built (``Word2Vec``, ``FastText``) on ``units`` for
    ``epochs``, with a progress bar labelled ``label`` on stderr when it is a terminal (and
    ``progress``). Returns the seconds it took."""
    from gensim.models.callbacks import CallbackAny2Vec

    callbacks = []
    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
    if progress and console.is_terminal:  # no bar (and no stray blank line) when stderr is a file or pipe
        bar = Progress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"), TimeElapsedColumn(),
            console=console, transient=True,
        )
        task = bar.add_task("train", total=epochs)

        class _Advance(CallbackAny2Vec):
            def on_epoch_end(self, _model):
                bar.advance(task)

        callbacks.append(_Advance())

    n_tokens = sum(len(unit) for unit in units)
    started = time.perf_counter()
    try:
        if bar is not None:
            bar.start()
        model.train(units, total_examples=len(units), total_words=n_tokens, epochs=epochs, callbacks=callbacks)
    finally:
        if bar is not None:
            bar.stop()
    return time.perf_counter() - started


def train_word2vec(
    docs: Sequence[Sequence[str]],
    dim: int = 100,
    window: int = 5,
    min_count: int = 1,
    workers: int = 1,
    sg: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 1,
    alpha: float = 0.025,
    progress: bool = True,
) -> tuple[list[str], np.ndarray, dict[str, Any]]:
    """Train gensim Word2Vec on tokenized documents.

    Returns ``(words, vectors, stats)``: words most frequent first (the order of
    a word2vec file), float32 vectors, and counts/timing.
    """
    from gensim.models import Word2Vec

    units = training_units(docs)
    n_tokens = sum(len(u) for u in units)
    if not units:
        raise EmbeddingError("word2vec: no tokens to train on (all documents are empty after tokenization)")
    model = Word2Vec(
        vector_size=dim, window=window, min_count=min_count, workers=workers, sg=sg, seed=seed, alpha=alpha,
    )
    model.build_vocab(units)
    if len(model.wv) == 0:
        raise EmbeddingError(
            f"word2vec: no word occurs {min_count} times or more in the {len(units)} documents; lower min_count"
        )

    seconds = train_gensim(model, units, epochs, progress=progress, label="word2vec")
    words = list(model.wv.index_to_key)
    vectors = np.asarray(model.wv.vectors, dtype=np.float32).copy()
    stats = {
        "documents": len(docs),
        "units": len(units),
        "tokens": n_tokens,
        "words": len(words),
        "seconds": round(seconds, 2),
    }
    return words, vectors, stats


class Word2VecEmbedding(EmbeddingProvider):
    """Initial weights from word2vec vectors trained on the training documents
    (or read from ``path``).

    ``config`` holds the options that decide the vectors: ``dim``,
    ``trainable``, ``rescale``, ``seed`` and either ``path`` and ``binary``
    (vectors from a file) or the training options. ``save``, ``save_binary``
    and ``progress`` are not part of it.
    """

    name = "word2vec"

    def __init__(
        self,
        dim: int | None = None,
        window: int = 5,
        min_count: int = 1,
        workers: int = 1,
        sg: int = 0,
        epochs: int = DEFAULT_EPOCHS,
        seed: int = 1,
        alpha: float = 0.025,
        trainable: bool = True,
        rescale: bool = True,
        path: str | os.PathLike | None = None,
        binary: bool | None = None,
        save: str | os.PathLike | None = None,
        save_binary: bool = False,
        progress: bool = True,
    ):
        if dim is not None:
            check_int(dim, "dim", minimum=1, component=self)
        checked = dict(
            window=check_int(window, "window", minimum=1, component=self),
            min_count=check_int(min_count, "min_count", minimum=1, component=self),
            workers=check_int(workers, "workers", minimum=1, component=self),
            sg=int(check_choice(sg, "sg", {0: "CBOW", 1: "skip-gram"}, component=self)),
            epochs=check_int(epochs, "epochs", minimum=1, component=self),
            seed=check_int(seed, "seed", minimum=0, component=self),
            alpha=check_float(alpha, "alpha", above=0.0, component=self),
            trainable=check_bool(trainable, "trainable", component=self),
            rescale=check_bool(rescale, "rescale", component=self),
            path=check_path(path, "path", what="a vector file", component=self),
            binary=check_bool(binary, "binary", null="detect", component=self),
        )
        save_path = check_path(save, "save", component=self)
        save_binary = check_bool(save_binary, "save_binary", component=self)
        progress = check_bool(progress, "progress", component=self)
        if checked["path"] is not None and save_path is not None:
            raise EmbeddingError(f"embedding {self.name!r}: 'path' loads vectors and 'save' writes trained ones; "
                                 f"give one")
        fmt = None
        if checked["path"] is not None:
            fmt, found = file_dim(checked["path"], checked["binary"])
            dim = check_dim(self.name, checked["path"], dim, found)
            keys = ("trainable", "rescale", "seed", "path", "binary")
        else:
            dim = dim if dim is not None else 100
            keys = ("trainable", "rescale", "seed", "window", "min_count", "workers", "sg", "epochs", "alpha")
        # The options that decide the vectors are the config; the others are plain attributes.
        super().__init__(dim=dim, **{key: checked.pop(key) for key in keys})
        for key, value in checked.items():
            setattr(self, key, value)
        self.format = fmt
        self.save_path = save_path
        self.save_binary, self.progress = save_binary, progress
        self.words: list[str] | None = None
        self.vectors: np.ndarray | None = None
        self.train_stats: dict[str, Any] = {}

    @property
    def repr_options(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("dim", "path") if self.path else ("dim", "epochs", "sg")

    def train(self, docs: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
        """Train on ``docs`` (token lists), keep and return ``(words, vectors)``."""
        words, vectors, stats = train_word2vec(
            docs, dim=self.dim, window=self.window, min_count=self.min_count, workers=self.workers, sg=self.sg,
            epochs=self.epochs, seed=self.seed, alpha=self.alpha, progress=self.progress,
        )
        self.words, self.vectors, self.train_stats = words, vectors, stats
        return words, vectors

    def save(self, path: str | os.PathLike, binary: bool = False) -> None:
        """Write the last trained (or loaded) vectors in word2vec format."""
        if self.words is None or self.vectors is None:
            raise EmbeddingError("embedding 'word2vec': nothing to save yet; call matrix() or train() first")
        write_vectors(path, self.words, self.vectors, binary=binary)

    def matrix(self, vocab: Any, corpus: Sequence[Sequence[str]] | None) -> np.ndarray:
        if self.path is not None:
            words, vectors = read_vectors(self.path, binary=self.format == WORD2VEC_BINARY, keep=vocab.tokens)
            self.words, self.vectors = words, vectors
            source, extra = self.path, {"format": self.format}
        else:
            if corpus is None:
                raise EmbeddingError("embedding 'word2vec': training needs the tokenized training documents")
            words, vectors = self.train(corpus)
            stats = self.train_stats
            source = f"trained on {stats['documents']} documents ({stats['tokens']} tokens)"
            extra = {"training": stats}
            if self.save_path is not None:
                write_vectors(self.save_path, words, vectors, binary=self.save_binary)
                extra["saved"] = self.save_path
        matrix, report = build_matrix(vocab, words, vectors, self.seed, corpus=corpus, rescale=self.rescale,
                                      source=source)
        report.update(provider=self.name, trainable=self.trainable, **extra)
        self.report = report
        return matrix
