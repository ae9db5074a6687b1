"""Plots written as PNG files (matplotlib, Agg backend, imported inside the functions).

- :func:`plot_history`: the training curve (loss and accuracy per epoch, train and
  validation), ``training_curve.png`` of a model folder;
- :func:`plot_vectors`: word vectors on their first two principal components,
  each point labelled with its word (``toolkit embeddings plot``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from toolkit.core.atomic import temp_path
from toolkit.core.errors import EmbeddingError
from toolkit.training.embeddings.neighbours import pca_2d


def _place_labels(ax, fig, xs, ys, labels, fontsize):
    """Write each label next to its point, trying offsets until it overlaps no
    label already placed (most frequent words first)."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    # The points themselves are obstacles too, so that no label hides a point.
    points = ax.transData.transform(np.column_stack([xs, ys]))
    placed = [Bbox.from_extents(px - 2.5, py - 2.5, px + 2.5, py + 2.5) for px, py in points]
    offsets = [(4, 2), (4, -9), (-4, 2), (-4, -9), (0, 6), (0, -12)]
    for radius in (1, 2, 3, 4):
        offsets += [
            (dx * radius, dy * radius)
            for dx, dy in [(8, 6), (8, -14), (-8, 6), (-8, -14), (0, 12), (0, -18), (14, -4), (-14, -4)]
        ]
    for x, y, label in zip(xs, ys, labels):
        chosen = None
        for dx, dy in offsets:
            ha = "left" if dx >= 0 else "right"
            text = ax.annotate(
                label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize, ha=ha,
                va="bottom", color="#1a1a1a",
            )
            box = text.get_window_extent(renderer).expanded(1.05, 1.15)
            if not any(box.overlaps(other) for other in placed):
                chosen = (text, box, dx, dy)
                break
            text.remove()
        if chosen is None:  # crowded: keep the first position
            dx, dy = offsets[0]
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                               color="#1a1a1a")
            chosen = (text, text.get_window_extent(renderer), dx, dy)
        text, box, dx, dy = chosen
        placed.append(box)
        if abs(dx) > 8 or dy > 8 or dy < -14:  # far from its point: draw a leader line
            ax.annotate("", (x, y), xytext=(dx, dy + 3), textcoords="offset points",
                        arrowprops=dict(arrowstyle="-", color="#aaaaaa", lw=0.5, shrinkA=0, shrinkB=2))


def plot_vectors(
    words: Sequence[str],
    vectors: np.ndarray,
    out_png: str | os.PathLike,
    n: int = 100,
    title: str | None = None,
) -> Path:
    """Scatter the first ``n`` words' vectors on their 2 principal components,
    each point labelled with its word; written as a PNG (matplotlib, Agg backend).

    In word2vec and GloVe files the first words are the most frequent.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    words = list(words)[:n]
    if len(words) < 2:
        raise EmbeddingError(f"a plot needs at least 2 words, got {len(words)}")
    coords = pca_2d(np.asarray(vectors)[: len(words)])
    out = Path(out_png)
    side = 9 + 5 * min(1.0, len(words) / 150)
    fig, ax = plt.subplots(figsize=(side * 1.3, side), dpi=130)
    try:
        ax.scatter(coords[:, 0], coords[:, 1], s=10, color="#2a6fb0", alpha=0.8, zorder=3)
        pad_x = 0.06 * (np.ptp(coords[:, 0]) or 1.0)
        pad_y = 0.04 * (np.ptp(coords[:, 1]) or 1.0)
        ax.set_xlim(coords[:, 0].min() - pad_x, coords[:, 0].max() + pad_x)
        ax.set_ylim(coords[:, 1].min() - pad_y, coords[:, 1].max() + pad_y)
        ax.set_xlabel("principal component 1")
        ax.set_ylabel("principal component 2")
        ax.set_title(title or f"PCA of the word vectors of the {len(words)} most frequent words")
        ax.grid(True, color="#e5e5e5", lw=0.5, zorder=0)
        fig.tight_layout()
        fontsize = 9 if len(words) <= 120 else 7
        _place_labels(ax, fig, coords[:, 0], coords[:, 1], words, fontsize)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(out, ".png")
        fig.savefig(tmp, format="png")
        os.replace(tmp, out)
    finally:
        plt.close(fig)
    return out


def plot_history(history: dict[str, list[float]], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(history.get("loss", [])) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            key = prefix + metric
            if key in history:
                ax.plot(list(epochs), history[key], style, label="validation" if prefix else "train")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
