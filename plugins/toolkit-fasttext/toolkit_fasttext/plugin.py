"""The hook implementations: everything toolkit sees of this package.

The entry point ``fasttext = "toolkit_fasttext.plugin"`` names this module.
Registering imports nothing heavy: the factories are plain classes that import
gensim or Keras only when they train or build something.
"""

from __future__ import annotations

from typing import Any, Callable

import toolkit

from .bilstm import BiLSTM
from .embedding import FastTextEmbedding

Register = Callable[[str, Callable[..., Any]], None]


@toolkit.hookimpl
def register_embeddings(register: Register) -> None:
    """Register the ``fasttext`` embedding provider."""
    register("fasttext", FastTextEmbedding)


@toolkit.hookimpl
def register_architectures(register: Register) -> None:
    """Register the ``bilstm`` architecture."""
    register("bilstm", BiLSTM)
