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
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from toolkit.errors import EmbeddingError
from toolkit.hookspecs import hookimpl
from toolkit.training.embeddings._options import check_binary, check_bool, check_int, check_path
from toolkit.training.embeddings._vectors import (
    WORD2VEC_BINARY,
    _parse_header,
    _split_row,
    build_matrix,
    detect_format,
    read_vectors,
)


def file_dim(path: str | os.PathLike, binary: bool | None = None) -> tuple[str, int]:
    """``(format, dimension)`` of a vector file, from its header or first row (reads little)."""
    path = Path(path)
    fmt = detect_format(path)
    if binary is True and fmt != WORD2VEC_BINARY:
        raise EmbeddingError(
            f"{path} is a text file, not word2vec binary; read it as text (binary=False, or let the format be detected)"
        )
    if binary is False and fmt == WORD2VEC_BINARY:
        raise EmbeddingError(
            f"{path} is a binary file, not a text vector file; it looks like word2vec binary: read it with "
            f"binary=True (--binary)"
        )
    with open(path, "rb") as fh:
        header_dim = None
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1:
                header = _parse_header(raw)
                if header is not None:
                    header_dim = header[1]
                    if fmt == WORD2VEC_BINARY:
                        return fmt, header_dim  # detect_format saw data after the header
                    continue
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise EmbeddingError(f"{path}, line {lineno}: not valid UTF-8") from None
            if line:
                word, fields = _split_row(line, None)
                if not fields:
                    raise EmbeddingError(f"{path}, line {lineno}: the word {word!r} has no values after it")
                return fmt, header_dim if header_dim is not None else len(fields)
    raise EmbeddingError(f"{path} is empty: it holds only a header line")


def check_dim(provider: str, path: str, expected: int | None, found: int) -> int:
    if expected is not None and expected != found:
        raise EmbeddingError(
            f"embedding {provider!r}: {path} holds vectors of dimension {found}, but dim={expected} was asked for; "
            f"use dim={found} or a file with {expected}-dimensional vectors"
        )
    return found


class PretrainedEmbedding:
    """Initial weights from a GloVe or word2vec vector file."""

    name = "glove"

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        dim: int | None = None,
        trainable: bool = True,
        rescale: bool = True,
        binary: bool | None = None,
        seed: int = 1,
    ):
        self.path = check_path(self.name, "path", path, required=True)
        if dim is not None:
            check_int(self.name, "dim", dim)
        self.trainable = check_bool(self.name, "trainable", trainable)
        self.rescale = check_bool(self.name, "rescale", rescale)
        self.binary = check_binary(self.name, binary)
        self.seed = check_int(self.name, "seed", seed, minimum=0)
        self.format, found = file_dim(self.path, self.binary)
        self.dim = check_dim(self.name, self.path, dim, found)
        self.report: dict[str, Any] = {}

    @property
    def config(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "dim": self.dim,
            "trainable": self.trainable,
            "rescale": self.rescale,
            "binary": self.binary,
            "seed": self.seed,
        }

    def matrix(self, vocab: Any, corpus: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        words, vectors = read_vectors(self.path, binary=self.format == WORD2VEC_BINARY, keep=vocab.tokens)
        matrix, report = build_matrix(
            vocab, words, vectors, self.seed, corpus=corpus, rescale=self.rescale, source=self.path
        )
        report.update(provider=self.name, format=self.format, trainable=self.trainable)
        self.report = report
        return matrix

    def __repr__(self) -> str:
        return f"PretrainedEmbedding(path={self.path!r}, dim={self.dim})"


@hookimpl
def register_embeddings(register):
    register("glove", PretrainedEmbedding)
