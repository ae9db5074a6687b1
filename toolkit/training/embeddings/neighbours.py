"""Looking at word vectors: nearest neighbours by cosine similarity, and PCA coordinates.

numpy only; the plot of the PCA coordinates is :func:`toolkit.training.plots.plot_vectors`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from toolkit.core.errors import EmbeddingError


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def nearest(words: Sequence[str], vectors: np.ndarray, word: str, n: int = 10) -> list[tuple[str, float]]:
    """The ``n`` words whose vectors have the highest cosine similarity to ``word``'s."""
    words = list(words)
    try:
        i = words.index(word)
    except ValueError:
        raise EmbeddingError(f"the word {word!r} is not among the {len(words)} words of these vectors") from None
    unit = _unit_rows(vectors)
    sims = unit @ unit[i]
    sims[i] = -np.inf
    n = max(0, min(n, len(words) - 1))
    top = np.argsort(-sims, kind="stable")[:n]
    return [(words[j], float(sims[j])) for j in top]


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Coordinates of ``vectors`` on their first two principal components (numpy SVD)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise EmbeddingError(f"PCA needs at least 2 vectors, got shape {tuple(x.shape)}")
    x = x - x.mean(axis=0)
    u, s, _vt = np.linalg.svd(x, full_matrices=False)
    coords = u[:, :2] * s[:2]
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((coords.shape[0], 1))])
    return coords
