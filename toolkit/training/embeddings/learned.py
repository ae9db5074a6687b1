"""The ``learned`` embedding provider: no initial matrix, the model learns it.

The architecture then starts the embedding layer from Keras' default
initialiser (uniform(-0.05, 0.05)) and trains it with the task.
"""

from __future__ import annotations

from typing import Any, Sequence

from toolkit.core.contracts import EmbeddingProvider
from toolkit.core.options import check_int


class LearnedEmbedding(EmbeddingProvider):
    """Random start, learned with the task. Options: ``dim`` (default 100)."""

    name = "learned"
    trainable = True

    def __init__(self, dim: int = 100):
        super().__init__(dim=check_int(dim, "dim", minimum=1, component=self))

    def matrix(self, vocab: Any, corpus: Sequence[Sequence[str]] | None = None) -> None:
        self.report = {
            "provider": self.name,
            "source": "random init (learned with the task)",
            "dim": self.dim,
            "vocab_size": len(vocab),
            "found": None,
            "type_coverage": None,
            "token_coverage": None,
            "corpus_tokens": None,
            "random_rows": len(vocab),
            "rescaled": False,
            "scale_factor": None,
        }
        return None
