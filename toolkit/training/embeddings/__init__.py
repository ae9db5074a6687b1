"""Embedding providers and word-vector files.

Providers (built-ins listed in :mod:`toolkit.builtins`; plugins add theirs with the
``register_embeddings`` hook), each an
:class:`toolkit.core.contracts.EmbeddingProvider`:

- ``learned``: no initial matrix; the model learns the embedding (``dim``).
- ``word2vec``: gensim Word2Vec trained on the training documents, or a file.
- ``glove``: a pre-trained GloVe / word2vec text / word2vec binary file.

Each provider has ``dim``, ``trainable``, ``config`` (``factory(**config)``
rebuilds it), ``matrix(vocab, corpus) -> float32 [len(vocab), dim] or None``
and, once ``matrix()`` ran, ``report`` (coverage, random rows, source) for the
training log (:func:`describe_report` makes it one line).

Public modules, one job each (numpy only; gensim is imported by the functions
that train):

- :mod:`~toolkit.training.embeddings.vectors`: vector files (detect the
  format, read, write, describe);
- :mod:`~toolkit.training.embeddings.matrix`: the weight matrix of a
  vocabulary (:func:`build_matrix`) and its report;
- :mod:`~toolkit.training.embeddings.neighbours`: nearest neighbours, PCA
  coordinates (the plot is :func:`toolkit.training.plots.plot_vectors`).

Their functions are re-exported here.
"""

from __future__ import annotations

from toolkit.training.embeddings.matrix import KERAS_INIT_STD, build_matrix, describe_report
from toolkit.training.embeddings.neighbours import nearest, pca_2d
from toolkit.training.embeddings.vectors import (
    FORMATS,
    GLOVE,
    WORD2VEC,
    WORD2VEC_BINARY,
    detect_format,
    file_dim,
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
    "file_dim",
    "nearest",
    "pca_2d",
    "read_vectors",
    "vector_file_info",
    "write_vectors",
]
