"""The counting passes of :mod:`toolkit.training.streaming` on Ray Data (``--engine ray``): :func:`count_vocab_ray`.

``ray.data.read_json/read_csv/read_parquet`` over the training files, then the same chunk
functions as the local path (:func:`~toolkit.training.streaming.count_chunk`,
:func:`~toolkit.training.streaming.encode_counts`) in ``map_batches``, with the order preserved so
the merged counts keep first appearances in corpus order; the driver merges one chunk at a time.
Ray is imported inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from toolkit.core.errors import CorpusError
from toolkit.core.vocab import Vocab
from toolkit.training.streaming import (CHUNK_DOCS, STREAM_SUFFIXES, VocabCounter, VocabStats, count_chunk,
                                        count_vocab, encode_counts, is_test)


def read_ray(sources: Sequence[Path], data: Any):
    import ray

    paths = [str(p.resolve()) for p in sources]
    kinds = {STREAM_SUFFIXES[p.suffix.lower()] for p in sources}
    if len(kinds) > 1:
        raise CorpusError(f"--engine ray reads one format at a time; got {', '.join(sorted(kinds))} files")
    kind = kinds.pop()
    if kind == "parquet":
        return ray.data.read_parquet(paths, columns=[data.text_field, data.label_field])
    if kind == "jsonl":
        return ray.data.read_json(paths, lines=True)
    import pyarrow.csv as pacsv

    opts = pacsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",", newlines_in_values=True)
    return ray.data.read_csv(paths, parse_options=opts)


def count_ray(pairs_fn, tokenizer, ngrams, min_count, words=None, unigrams_only=False, chunk_docs=CHUNK_DOCS, *,
               config, sources, test_share=None):
    """:func:`count_chunk` in Ray Data's ``map_batches``, chunk results merged on the driver in order."""
    import pickle

    import ray

    data = config.data
    share = data.test_share if test_share is None else test_share
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    tok_name, tok_options = config.tokenizer.name, dict(config.tokenizer.options)
    words_ref = ray.put(words) if words is not None else None

    def count_batch(batch: dict) -> dict:
        from toolkit.core import registry

        tokenizer_ = registry.create("tokenizer", tok_name, **tok_options)
        words_ = ray.get(words_ref) if words_ref is not None else None
        pairs = []
        for text, label in zip(batch[data.text_field], batch[data.label_field]):
            text = "" if text is None else str(text)
            if label is None or not str(label).strip():
                raise CorpusError(f"empty label in field {data.label_field!r}")
            if not is_test(text, share, data.split_seed):
                pairs.append((text, str(label).strip()))
        chunk = count_chunk(pairs, tokenizer_, ngrams, min_count, words_, unigrams_only)
        return {"chunk": [pickle.dumps(chunk)]}

    ds = read_ray(sources, data).map_batches(count_batch, batch_size=chunk_docs, batch_format="numpy")
    counter = VocabCounter(1 if unigrams_only else min_count)
    for row in ds.iter_rows():
        counter.add(pickle.loads(row["chunk"]))
    return counter


def encode_counts_ray(config, sources, vocab, labels, chunk_docs, test_share=None) -> tuple[np.ndarray, int]:
    """:func:`encode_counts` in ``map_batches``; the per-chunk counts (sparse) summed on the driver."""
    import pickle

    import ray

    data = config.data
    share = data.test_share if test_share is None else test_share
    tok_name, tok_options = config.tokenizer.name, dict(config.tokenizer.options)
    vocab_ref = ray.put((vocab.tokens, vocab.ngrams, vocab.unknown))
    index = {label: i for i, label in enumerate(labels)}

    def encode_batch(batch: dict) -> dict:
        from toolkit.core import registry

        tokens, ngrams, unknown = ray.get(vocab_ref)
        tokenizer_ = registry.create("tokenizer", tok_name, **tok_options)
        pairs = [("" if t is None else str(t), str(label).strip())
                 for t, label in zip(batch[data.text_field], batch[data.label_field])]
        pairs = [(t, label) for t, label in pairs if not is_test(t, share, data.split_seed)]
        counts, longest = encode_counts(pairs, tokenizer_, Vocab(tokens, ngrams, unknown), index)
        rows, cols = np.nonzero(counts)
        return {"part": [pickle.dumps((rows, cols, counts[rows, cols], longest))]}

    counts = np.zeros((len(labels), len(vocab)), dtype=np.float64)
    longest = 0
    for row in read_ray(sources, data).map_batches(encode_batch, batch_size=chunk_docs,
                                                    batch_format="numpy").iter_rows():
        r, c, v, most = pickle.loads(row["part"])
        counts[r, c] += v
        longest = max(longest, most)
    return counts, longest


def count_vocab_ray(config: Any, sources: Sequence[Path], *, labels: Sequence[str] | None = None,
                    chunk_docs: int = CHUNK_DOCS, test_share: float | None = None) -> VocabStats:
    """:func:`~toolkit.training.streaming.count_vocab` with its counting and encoding passes on Ray Data
    (the same result as the local passes)."""
    def count(pairs_fn, tokenizer, ngrams, min_count, words=None, unigrams_only=False, chunk_docs=CHUNK_DOCS):
        return count_ray(pairs_fn, tokenizer, ngrams, min_count, words, unigrams_only, chunk_docs, config=config,
                         sources=sources, test_share=test_share)

    def encode(pairs_fn, tokenizer, vocab, names, chunk_docs):
        return encode_counts_ray(config, sources, vocab, names, chunk_docs, test_share)

    return count_vocab(config, sources, labels=labels, chunk_docs=chunk_docs, test_share=test_share, count=count,
                       encode=encode)
