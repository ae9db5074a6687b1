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
:func:`toolkit.training.embeddings.matrix.build_matrix`, like the built-in providers: row 0
(padding) zeros, ``<unk>`` and tokens without any vector drawn from the
vectors' distribution, optional rescaling to Keras' initialiser scale.

gensim is imported inside :meth:`FastTextEmbedding.train` only.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from toolkit.contracts import EmbeddingProvider
from toolkit.errors import EmbeddingError
from toolkit.options import check_bool, check_choice, check_int

NAME = "fasttext"


class FastTextEmbedding(EmbeddingProvider):
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
            (see :func:`toolkit.training.embeddings.matrix.build_matrix`).
        progress: show a progress bar while training (not part of ``config``).
    """

    name = NAME
    repr_options = ("dim", "epochs", "min_n", "max_n")

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
        min_n = check_int(min_n, "min_n", minimum=1, component=self)
        max_n = check_int(max_n, "max_n", minimum=1, component=self)
        if max_n < min_n:
            raise self.option_error("max_n", f"({max_n}) must be >= 'min_n' ({min_n})")
        super().__init__(
            dim=check_int(dim, "dim", minimum=1, component=self),
            window=check_int(window, "window", minimum=1, component=self),
            min_count=check_int(min_count, "min_count", minimum=1, component=self),
            epochs=check_int(epochs, "epochs", minimum=1, component=self),
            seed=check_int(seed, "seed", minimum=0, component=self),
            min_n=min_n,
            max_n=max_n,
            bucket=check_int(bucket, "bucket", minimum=1, component=self),
            sg=int(check_choice(sg, "sg", {0: "CBOW", 1: "skip-gram"}, component=self)),
            workers=check_int(workers, "workers", minimum=1, component=self),
            trainable=check_bool(trainable, "trainable", component=self),
            rescale=check_bool(rescale, "rescale", component=self),
        )
        self.progress = check_bool(progress, "progress", component=self)  # not part of config
        self.model: Any = None

    # -- training ----------------------------------------------------------
    def train(self, docs: Sequence[Sequence[str]]):
        """Train gensim ``FastText`` on ``docs`` (token lists); keep and return the model."""
        from gensim.models import FastText

        from toolkit.training.embeddings.word2vec import train_gensim, training_units

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
        seconds = train_gensim(model, units, self.epochs, progress=self.progress, label="fasttext")
        self.model = model
        self._stats = {"documents": len(docs), "units": len(units), "tokens": n_tokens, "words": len(model.wv),
                       "seconds": round(seconds, 2)}
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
        from toolkit.training.embeddings.matrix import build_matrix

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
