"""The ``fasttext`` embedding provider: gensim ``FastText`` trained on the
training documents.

fastText learns a vector for every character n-gram (``min_n`` to ``max_n``
characters of ``<word>``) besides the word vectors, so it can give a vector to
a token it never kept as a word: the mean of its n-gram vectors. Here that
covers the vocabulary tokens fastText did not keep (rarer than its
``min_count``) and word n-grams such as ``not_good`` when the vocabulary uses
``ngrams=2``: ``matrix()`` asks fastText for *every* vocabulary token, and the
report counts how many rows came from n-grams alone (``from_ngrams``).

The weight matrix and its coverage report are built by
:func:`toolkit.training.embeddings.build_matrix`, like the built-in providers: row 0
(padding) zeros, ``<unk>`` and tokens without any vector drawn from the
vectors' distribution, optional rescaling to Keras' initialiser scale.

gensim is imported inside :meth:`FastTextEmbedding.train` only.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from toolkit.training.embeddings import build_matrix
from toolkit.errors import EmbeddingError

NAME = "fasttext"
#: gensim ignores the words of a "sentence" after this many; longer documents are cut into chunks.
MAX_WORDS_PER_UNIT = 10_000


def _int(option: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise EmbeddingError(f"embedding {NAME!r}: option {option!r} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _bool(option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise EmbeddingError(f"embedding {NAME!r}: option {option!r} must be true or false, got {value!r}")
    return value


def training_units(docs: Sequence[Sequence[str]]) -> list[list[str]]:
    """One gensim "sentence" per document, cut into chunks of at most 10,000 tokens."""
    units: list[list[str]] = []
    for doc in docs:
        doc = list(doc)
        units.extend(doc[i:i + MAX_WORDS_PER_UNIT] for i in range(0, len(doc), MAX_WORDS_PER_UNIT))
    return [unit for unit in units if unit]


class FastTextEmbedding:
    """Initial weights from fastText vectors trained on the training documents.

    Args:
        dim: vector size.
        window: context window (tokens each side).
        min_count: fastText keeps a word vector for words seen at least this
            often; the other vocabulary tokens get vectors from their n-grams.
        epochs: passes over the documents (small corpora need many; gensim's
            default of 5 leaves the vectors nearly collinear, as for word2vec).
        seed: random seed (with ``workers=1`` the same corpus gives the same
            vectors, given the same ``PYTHONHASHSEED``).
        min_n, max_n: lengths of the character n-grams.
        bucket: number of hash buckets for n-gram vectors. gensim's default,
            2,000,000, costs ``bucket * dim * 4`` bytes (800 MB at dim 100);
            200,000 is plenty for a vocabulary of tens of thousands of words.
        sg: 0 = CBOW, 1 = skip-gram.
        workers: gensim worker threads (1 for reproducible vectors).
        trainable: fine-tune the embedding with the task.
        rescale: centre the vectors and scale them to Keras' initialiser scale
            (see :func:`toolkit.training.embeddings.build_matrix`).
        progress: show a progress bar while training (not part of ``config``).
    """

    name = NAME

    def __init__(
        self,
        dim: int = 100,
        window: int = 5,
        min_count: int = 1,
        epochs: int = 20,
        seed: int = 1,
        min_n: int = 3,
        max_n: int = 6,
        bucket: int = 200_000,
        sg: int = 0,
        workers: int = 1,
        trainable: bool = True,
        rescale: bool = True,
        progress: bool = True,
    ) -> None:
        self.dim = _int("dim", dim)
        self.window = _int("window", window)
        self.min_count = _int("min_count", min_count)
        self.epochs = _int("epochs", epochs)
        self.seed = _int("seed", seed, minimum=0)
        self.min_n = _int("min_n", min_n)
        self.max_n = _int("max_n", max_n)
        if self.max_n < self.min_n:
            raise EmbeddingError(f"embedding {NAME!r}: option 'max_n' ({max_n}) must be >= 'min_n' ({min_n})")
        self.bucket = _int("bucket", bucket)
        if isinstance(sg, bool) or sg not in (0, 1):
            raise EmbeddingError(f"embedding {NAME!r}: option 'sg' must be 0 (CBOW) or 1 (skip-gram), got {sg!r}")
        self.sg = int(sg)
        self.workers = _int("workers", workers)
        self.trainable = _bool("trainable", trainable)
        self.rescale = _bool("rescale", rescale)
        self.progress = _bool("progress", progress)
        self.model: Any = None
        self.report: dict[str, Any] = {}

    @property
    def config(self) -> dict[str, Any]:
        """Every option that decides the vectors; ``FastTextEmbedding(**config)`` rebuilds the provider."""
        return {
            "dim": self.dim, "window": self.window, "min_count": self.min_count, "epochs": self.epochs,
            "seed": self.seed, "min_n": self.min_n, "max_n": self.max_n, "bucket": self.bucket, "sg": self.sg,
            "workers": self.workers, "trainable": self.trainable, "rescale": self.rescale,
        }

    # -- training ----------------------------------------------------------
    def train(self, docs: Sequence[Sequence[str]]):
        """Train gensim ``FastText`` on ``docs`` (token lists); keep and return the model."""
        from gensim.models import FastText
        from gensim.models.callbacks import CallbackAny2Vec

        units = training_units(docs)
        if not units:
            raise EmbeddingError(f"embedding {NAME!r}: no tokens to train on (every document is empty)")
        n_tokens = sum(len(unit) for unit in units)
        model = FastText(vector_size=self.dim, window=self.window, min_count=self.min_count, sg=self.sg,
                         workers=self.workers, seed=self.seed, min_n=self.min_n, max_n=self.max_n,
                         bucket=self.bucket)
        model.build_vocab(units)
        if len(model.wv) == 0:
            raise EmbeddingError(
                f"embedding {NAME!r}: no word occurs {self.min_count} times or more in the {len(units)} "
                f"documents; lower the option min_count"
            )
        callbacks, bar = [], None
        if self.progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn("fasttext"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
                           TimeElapsedColumn(), transient=True)
            task = bar.add_task("train", total=self.epochs)

            class _Advance(CallbackAny2Vec):
                def on_epoch_end(self, _model):
                    bar.advance(task)

            callbacks.append(_Advance())
        started = time.perf_counter()
        try:
            if bar is not None:
                bar.start()
            model.train(units, total_examples=len(units), total_words=n_tokens, epochs=self.epochs,
                        callbacks=callbacks)
        finally:
            if bar is not None:
                bar.stop()
        self.model = model
        self._stats = {"documents": len(docs), "units": len(units), "tokens": n_tokens, "words": len(model.wv),
                       "seconds": round(time.perf_counter() - started, 2)}
        return model

    def vector(self, token: str) -> np.ndarray | None:
        """The trained model's vector of ``token``: its own, else from its n-grams; None if it has none."""
        if self.model is None:
            raise EmbeddingError(f"embedding {NAME!r}: no vectors yet; call matrix() or train() first")
        try:
            vec = np.asarray(self.model.wv.get_vector(token), dtype=np.float32)
        except KeyError:
            return None
        return vec if np.any(vec) else None  # gensim returns zeros when a word has no n-gram at all

    # -- contract ----------------------------------------------------------
    def matrix(self, vocab: Any, corpus: Sequence[Sequence[str]] | None) -> np.ndarray:
        """float32 [len(vocab), dim]: row i = the vector of token id i (see the module docstring)."""
        if corpus is None:
            raise EmbeddingError(f"embedding {NAME!r}: training needs the tokenized training documents")
        model = self.train(corpus)
        known = model.wv.key_to_index
        words: list[str] = []
        rows: list[np.ndarray] = []
        from_ngrams: list[str] = []
        for token in list(vocab.tokens)[2:]:  # <pad> and <unk> are build_matrix's business
            vec = self.vector(token)
            if vec is None:
                continue
            words.append(token)
            rows.append(vec)
            if token not in known:
                from_ngrams.append(token)
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dim)
        stats = self._stats
        matrix, report = build_matrix(
            vocab, words, vectors, self.seed, corpus=corpus, rescale=self.rescale,
            source=f"fastText trained on {stats['documents']} documents ({stats['tokens']} tokens)",
        )
        report.update(provider=NAME, trainable=self.trainable, training=stats,
                      word_vectors=len(words) - len(from_ngrams), from_ngrams=len(from_ngrams),
                      from_ngrams_examples=from_ngrams[:10])
        self.report = report
        return matrix

    def __repr__(self) -> str:
        return f"FastTextEmbedding(dim={self.dim}, epochs={self.epochs}, min_n={self.min_n}, max_n={self.max_n})"
