"""The embedding weight matrix of a vocabulary, built from word vectors, and its report.

:func:`build_matrix` serves every provider that starts from vectors (the
built-in ``word2vec`` and ``glove``, and plugins such as ``fasttext``):
row ``i`` is the vector of token id ``i``, with padding, ``<unk>`` and tokens
without a vector handled the same way everywhere. numpy only.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from toolkit.core.errors import EmbeddingError

#: Standard deviation of Keras' default embedding initialiser, uniform(-0.05, 0.05).
KERAS_INIT_STD = 0.05 / math.sqrt(3.0)


def build_matrix(
    vocab: Any,
    words: Sequence[str],
    vectors: np.ndarray,
    seed: int = 1,
    *,
    corpus: Sequence[Sequence[str]] | None = None,
    rescale: bool = False,
    source: str = "",
) -> tuple[np.ndarray, dict[str, Any]]:
    """The embedding weights for ``vocab``: row ``i`` = vector of token id ``i``.

    - Row 0 (padding) is zeros.
    - A vocabulary token found in ``words`` gets its vector (after rescaling,
      see below).
    - Every other row, ``<unk>`` (id 1) included, is drawn from a normal
      distribution with the per-dimension mean and standard deviation of the
      found vectors, from ``numpy.random.default_rng(seed)`` in id order, so
      the same inputs give the same matrix.
    - ``rescale=True`` first centres the found vectors (subtracts their mean)
      and scales them so that their values have the standard deviation of
      Keras' default embedding initialiser, uniform(-0.05, 0.05) (0.0289).
      Cosine similarities between centred vectors are kept up to the shift;
      the network starts with weights of the size it expects.

    The report gives the coverage of vocabulary types (real tokens, ids >= 2)
    and, with ``corpus`` (token lists), of corpus tokens (running words whose
    row comes from the vectors), the number of random rows and a few missing
    tokens (most frequent first).
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise EmbeddingError(f"{source or 'vectors'}: {len(words)} words but vectors of shape {tuple(vectors.shape)}")
    tokens = list(vocab.tokens)
    dim = vectors.shape[1]
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
    found_ids = [i for i, tok in enumerate(tokens) if i >= 2 and tok in index]
    missing_ids = [i for i in range(1, len(tokens)) if i == 1 or tokens[i] not in index]
    n_real = max(len(tokens) - 2, 0)
    if not found_ids:
        raise EmbeddingError(
            f"{source or 'the vectors'}: none of the {n_real} vocabulary tokens has a vector "
            f"(first tokens: {', '.join(repr(t) for t in tokens[2:7])}; first words in the vectors: "
            f"{', '.join(repr(w) for w in list(words)[:5])}); wrong file, or a different tokenization (case)?"
        )
    known = vectors[[index[tokens[i]] for i in found_ids]].astype(np.float64)
    factor = None
    if rescale:
        known = known - known.mean(axis=0)
        spread = float(known.std())
        factor = KERAS_INIT_STD / spread if spread > 0 else 1.0
        known = known * factor
    matrix = np.zeros((len(tokens), dim), dtype=np.float32)
    matrix[found_ids] = known
    mean, std = known.mean(axis=0), known.std(axis=0)
    rng = np.random.default_rng(seed)
    if missing_ids:
        matrix[missing_ids] = rng.normal(mean, std, size=(len(missing_ids), dim))
    report: dict[str, Any] = {
        "source": source,
        "dim": int(dim),
        "vocab_size": len(tokens),
        "vectors": len(words),
        "found": len(found_ids),
        "type_coverage": len(found_ids) / n_real if n_real else 0.0,
        "random_rows": len(missing_ids),
        "missing_examples": [tokens[i] for i in missing_ids if i >= 2][:10],
        "rescaled": bool(rescale),
        "scale_factor": factor,
        "seed": seed,
    }
    if corpus is not None:
        total = hit = 0
        for doc in corpus:
            total += len(doc)
            hit += sum(1 for t in doc if t in index and t in vocab.index)
        report["corpus_tokens"] = total
        report["token_coverage"] = hit / total if total else 0.0
    else:
        report["corpus_tokens"] = None
        report["token_coverage"] = None
    return matrix, report


def describe_report(report: dict[str, Any]) -> str:
    """One line for a log: coverage, random rows, source."""
    head = f"embedding {report.get('provider', '')}".strip()
    if report.get("source"):
        head += f": {report['source']}"
    parts = [head]
    if "type_coverage" in report and report.get("found") is not None:
        parts.append(f"{report['type_coverage']:.1%} of vocabulary types found ({report['found']})")
    if report.get("token_coverage") is not None:
        parts.append(f"{report['token_coverage']:.1%} of {report['corpus_tokens']} corpus tokens")
    if report.get("random_rows") is not None:
        parts.append(f"random rows: {report['random_rows']} (incl. <unk>)")
    if report.get("rescaled"):
        parts.append(f"rescaled x{report['scale_factor']:.3g}")
    return "; ".join(parts)
