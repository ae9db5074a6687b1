"""The ``glove`` embedding provider: start from a pre-trained vector file.

Reads GloVe text (no header), word2vec text (header ``count dim``) and word2vec
binary files; the format is detected (or forced with ``binary``). Only the
vectors of vocabulary tokens are kept, so a large file costs one pass.

Options:
    path (required)  the vector file.
    dim              expected dimension; the file's dimension when omitted. A
                     mismatch is an error naming the file and both numbers.
    trainable        fine-tune the vectors with the task (default true; see
                     docs/embeddings.md for why).
    rescale          centre the vectors and scale them to the size of Keras'
                     default initialiser (default true).
    binary           null: detect; false: text only; true: word2vec binary.
    seed             seeds the random rows of tokens missing from the file.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from toolkit.core.contracts import EmbeddingProvider
from toolkit.core.errors import EmbeddingError
from toolkit.core.options import check_bool, check_int, check_path
from toolkit.training.embeddings.matrix import build_matrix
from toolkit.training.embeddings.vectors import WORD2VEC_BINARY, file_dim, read_vectors

__all__ = ["PretrainedEmbedding", "check_dim", "file_dim"]


def check_dim(provider: str, path: str, expected: int | None, found: int) -> int:
    if expected is not None and expected != found:
        raise EmbeddingError(
            f"embedding {provider!r}: {path} holds vectors of dimension {found}, but dim={expected} was asked for; "
            f"use dim={found} or a file with {expected}-dimensional vectors"
        )
    return found


class PretrainedEmbedding(EmbeddingProvider):
    """Initial weights from a GloVe or word2vec vector file."""

    name = "glove"
    repr_options = ("path", "dim")

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        dim: int | None = None,
        trainable: bool = True,
        rescale: bool = True,
        binary: bool | None = None,
        seed: int = 1,
    ):
        path = check_path(path, "path", required=True, what="a vector file", component=self)
        if dim is not None:
            check_int(dim, "dim", minimum=1, component=self)
        options = dict(trainable=check_bool(trainable, "trainable", component=self),
                       rescale=check_bool(rescale, "rescale", component=self),
                       binary=check_bool(binary, "binary", null="detect", component=self),
                       seed=check_int(seed, "seed", minimum=0, component=self))
        fmt, found = file_dim(path, options["binary"])
        super().__init__(path=path, dim=check_dim(self.name, path, dim, found), **options)
        self.format = fmt

    def matrix(self, vocab: Any, corpus: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        words, vectors = read_vectors(self.path, binary=self.format == WORD2VEC_BINARY, keep=vocab.tokens)
        matrix, report = build_matrix(
            vocab, words, vectors, self.seed, corpus=corpus, rescale=self.rescale, source=self.path
        )
        report.update(provider=self.name, format=self.format, trainable=self.trainable)
        self.report = report
        return matrix
