"""Counting a vocabulary from tokenized training documents (the in-memory path), and its coverage.

The :class:`~toolkit.core.vocab.Vocab` itself (ids, encoding, ``vocab.txt``) is in the shared core;
building one is training work. Streamed corpora count the same way in one pass
(:mod:`toolkit.training.streaming`, tested equal to :func:`build_vocab`).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from toolkit.core.errors import VocabError
from toolkit.core.options import check_int
from toolkit.core.vocab import PAD, UNK, Vocab, add_ngrams, check_unknown


def build_vocab(
    token_streams: Iterable[Sequence[str]],
    min_count: int = 2,
    max_size: int | None = None,
    ngrams: int = 1,
    unknown: str = "map",
) -> Vocab:
    """Count tokens over documents; keep those seen ``min_count`` times or more.

    Ids by descending count, ties by first appearance (so a build is deterministic).
    ``max_size`` caps the number of real tokens (the two reserved ids are not counted).
    ``ngrams`` > 1 adds n-gram tokens, counted the same way; with ``unknown="drop"`` they are
    counted over the documents' words seen ``min_count`` times or more, the sequences that
    encoding will form them from. The kept tokens' counts are in ``vocab.counts``.
    """
    unknown = check_unknown(unknown)
    check_int(min_count, "min_count", minimum=1, subject="min_count", error=VocabError)
    check_int(max_size, "max_size", minimum=1, optional=True, subject="max_size", error=VocabError)
    if unknown == "drop" and ngrams > 1:
        token_streams = [list(tokens) for tokens in token_streams]
        words = Counter(tok for tokens in token_streams for tok in tokens)
        token_streams = [[tok for tok in tokens if words[tok] >= min_count] for tokens in token_streams]
    counts: Counter[str] = Counter()
    for tokens in token_streams:
        counts.update(add_ngrams(tokens, ngrams) if ngrams > 1 else tokens)
    counts.pop(PAD, None)
    counts.pop(UNK, None)
    kept = [tok for tok, c in counts.most_common() if c >= min_count]  # most_common is stable for ties
    if max_size is not None:
        kept = kept[:max_size]
    vocab = Vocab([PAD, UNK] + kept, ngrams=ngrams, unknown=unknown)
    vocab.counts = {tok: counts[tok] for tok in kept}
    return vocab


def coverage(vocab: Vocab, token_streams: Iterable[Sequence[str]]) -> dict[str, float]:
    """Share of corpus tokens (and of distinct corpus types) found in ``vocab``."""
    total = known = 0
    types: set[str] = set()
    for tokens in token_streams:
        toks = add_ngrams(tokens, vocab.ngrams) if vocab.ngrams > 1 else tokens
        total += len(toks)
        known += sum(1 for t in toks if t in vocab.index)
        types.update(toks)
    known_types = sum(1 for t in types if t in vocab.index)
    return {
        "tokens": total,
        "token_coverage": known / total if total else 0.0,
        "types": len(types),
        "type_coverage": known_types / len(types) if types else 0.0,
    }
