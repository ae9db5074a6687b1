"""Embedding providers and word-vector files.

Providers (registered through the ``register_embeddings`` hook):

- ``learned``: no initial matrix; the model learns the embedding (``dim``).
- ``word2vec``: gensim Word2Vec trained on the training documents, or a file.
- ``glove``: a pre-trained GloVe / word2vec text / word2vec binary file.

Each provider has ``dim``, ``trainable``, ``config`` (``factory(**config)``
rebuilds it), ``matrix(vocab, corpus) -> float32 [len(vocab), dim] or None``
and, once ``matrix()`` ran, ``report`` (coverage, random rows, source) for the
training log (:func:`describe_report` makes it one line).

The functions below read, write and inspect vector files. This package imports
numpy only; gensim and matplotlib are imported by the functions that use them.
"""

from __future__ import annotations

from toolkit.training.embeddings._vectors import (
    FORMATS,
    GLOVE,
    KERAS_INIT_STD,
    WORD2VEC,
    WORD2VEC_BINARY,
    build_matrix,
    describe_report,
    detect_format,
    nearest,
    pca_2d,
    plot_vectors,
    read_vectors,
    vector_file_info,
    write_vectors,
)

__all__ = [
    "FORMATS",
    "GLOVE",
    "KERAS_INIT_STD",
    "WORD2VEC",
    "WORD2VEC_BINARY",
    "build_matrix",
    "describe_report",
    "detect_format",
    "nearest",
    "pca_2d",
    "plot_vectors",
    "read_vectors",
    "vector_file_info",
    "write_vectors",
]
