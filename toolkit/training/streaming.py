"""Corpora larger than memory: record files read as a stream, a one-pass vocabulary, streamed batches.

Training input is a set of JSONL, CSV/TSV or Parquet files (a file, a folder of them, or a glob), read
one record (Parquet: one record batch) at a time; nothing here holds the corpus.

* **Test split** (:func:`is_test`): a document is in it when a keyed hash of its text falls below
  ``data.test_share``; no index or shuffle is needed, every process (and Ray Data) agrees, and
  duplicates of a text never straddle train and test. Not stratified.
* **Vocabulary and naive-Bayes weights** (:func:`count_vocab`): documents are counted in chunks
  (:func:`count_chunk`) merged in order (:class:`VocabCounter`), which reproduces :func:`~toolkit.training.vocab_builder.build_vocab`
  exactly, ties included (merging first-appearance-ordered chunk counts in order keeps first
  appearances in corpus order). Per-label document frequencies, counted in the same pass, give
  :func:`toolkit.training.linear.nb_token_weights`. One pass suffices for ``unknown="map"`` when
  ``max_size`` cuts nothing: a document holds ``<unk>`` only if it holds a token seen fewer than
  ``min_count`` times, and such tokens are tracked per document (at most ``min_count - 1`` entries
  per rare token type). ``unknown="drop"`` with n-grams needs the word counts first (a second pass,
  as :func:`~toolkit.training.vocab_builder.build_vocab` walks its lists twice); with ``drop`` or a cutting ``max_size`` the weights and
  the longest document come from one encoding pass. :attr:`VocabStats.passes` counts the passes.
  The Ray Data engine (:mod:`toolkit.training.distributed.ray_data`) runs the same chunk functions
  through the ``count`` / ``encode`` passes of :func:`count_vocab`.
* **Batches** (:func:`batch_stream`): one worker's share of the training documents (round robin),
  shuffled within a window, sorted by length in it for ``dynamic``, padded per batch.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from toolkit.core.errors import CorpusError
from toolkit.core.records import iter_records
from toolkit.core.records import text_field as text_field_value
from toolkit.core.vocab import PAD, UNK, UNK_ID, Vocab, add_ngrams

STREAM_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet",
                   ".pq": "parquet"}
CHUNK_DOCS = 2000  # documents per counted chunk (bounds the memory of one chunk's token lists)


# --------------------------------------------------------------------------
# Sources and records
# --------------------------------------------------------------------------
def resolve_sources(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The record files of ``path``: a file, a folder (its record files, sorted), a glob, or a list of these."""
    if isinstance(path, (list, tuple)):
        return [p for item in path for p in resolve_sources(item)]
    text = str(path)
    if any(ch in text for ch in "*?["):
        files = [Path(p) for p in sorted(glob.glob(text)) if Path(p).suffix.lower() in STREAM_SUFFIXES]
    elif Path(text).is_dir():
        files = sorted(p for p in Path(text).iterdir() if p.is_file() and p.suffix.lower() in STREAM_SUFFIXES)
    elif Path(text).is_file():
        if Path(text).suffix.lower() not in STREAM_SUFFIXES:
            raise CorpusError(f"{text}: cannot stream a {Path(text).suffix or 'suffix-less'} file; use "
                              f"{', '.join(sorted(STREAM_SUFFIXES))} files")
        files = [Path(text)]
    else:
        raise CorpusError(f"corpus {text} does not exist")
    if not files:
        raise CorpusError(f"{text} holds no {', '.join(sorted(STREAM_SUFFIXES))} files to stream")
    return files


def is_streamable(path: str | os.PathLike | None) -> bool:
    """Whether ``path`` names record files (not a folder tree of ``.txt`` documents)."""
    if path is None:
        return False
    try:
        resolve_sources(path)
    except CorpusError:
        return False
    return True


def parquet_records(path: Path, text_field: str, label_field: str,
                    optional: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number from 1, record)`` for every row of a Parquet file, one record batch in memory at a
    time: the text and label columns (required), and those of ``optional`` the file has."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise CorpusError(f"{path}: reading Parquet needs pyarrow: pip install \"toolkit[score]\" "
                          f"(or pip install pyarrow)") from exc
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise CorpusError(f"{path} is not a readable Parquet file: {exc}") from exc
    names = pf.schema_arrow.names
    for name, hint in ((text_field, "--text-field"), (label_field, "--label-field")):
        if name not in names:
            raise CorpusError(f"{path}: no column {name!r} (columns: {', '.join(names)}); choose it with {hint}")
    columns = list(dict.fromkeys([text_field, label_field, *(c for c in optional if c in names)]))
    row = 0
    for batch in pf.iter_batches(batch_size=4096, columns=columns):
        data = batch.to_pydict()
        for values in zip(*(data[c] for c in columns)):
            row += 1
            yield row, dict(zip(columns, values))


def iter_documents(sources: Sequence[Path], text_field: str = "text", label_field: str = "label",
                   encoding: str = "utf-8") -> Iterator[tuple[str, str]]:
    """``(text, label)`` for every record of the files, in order, one record in memory at a time."""
    for path in sources:
        if STREAM_SUFFIXES.get(path.suffix.lower()) == "parquet":
            records = parquet_records(path, text_field, label_field)
        else:
            records = iter_records(path, (text_field, label_field), encoding=encoding, error=CorpusError,
                                   field_hint="--text-field / --label-field", allowed=("jsonl", "csv", "tsv"))
        for lineno, record in records:
            text = text_field_value(record, text_field, path, lineno, error=CorpusError, none_as_empty=True)
            label = record[label_field]
            if isinstance(label, (list, tuple)):
                raise CorpusError(f"{path}, line {lineno}: a list of labels in field {label_field!r} (non-exclusive "
                                  f"labels); multi-label models train on the local engine: drop --engine ray")
            if label is None or (isinstance(label, str) and not label.strip()):
                raise CorpusError(f"{path}, line {lineno}: empty label in field {label_field!r}")
            yield text, str(label).strip()


def is_test(text: str, test_share: float, seed: int = 0) -> bool:
    """Whether a document belongs to the streamed test split: a keyed hash of its text below ``test_share``."""
    if test_share <= 0:
        return False
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "little") / 2.0**64 < test_share


def iter_split(sources: Sequence[Path], data: Any, part: str = "train",
               test_share: float | None = None) -> Iterator[tuple[str, str]]:
    """The ``train`` or ``test`` documents of the files by :func:`is_test` (``data``: the config's ``data``;
    ``test_share``: instead of ``data.test_share``, 0 when the files hold training documents only)."""
    want_test = part == "test"
    share = data.test_share if test_share is None else test_share
    for text, label in iter_documents(sources, data.text_field, data.label_field, data.encoding):
        if is_test(text, share, data.split_seed) == want_test:
            yield text, label


# --------------------------------------------------------------------------
# Counting: chunks, merged in order
# --------------------------------------------------------------------------
@dataclass
class ChunkCounts:
    """What one chunk of documents contributes to the vocabulary and the naive-Bayes counts."""

    counts: Counter = field(default_factory=Counter)  # tokens (n-grams included), in first-appearance order
    df: dict[str, Counter] = field(default_factory=dict)  # label -> documents holding each token
    labels: Counter = field(default_factory=Counter)
    rare: list[tuple[str, set[str]]] = field(default_factory=list)  # (label, tokens seen < min_count times here)
    longest: int = 0  # most tokens (n-grams included) in one document
    docs: int = 0


def count_chunk(pairs: Iterable[tuple[str, str]], tokenizer: Any, ngrams: int, min_count: int,
                words: dict[str, int] | None = None, unigrams_only: bool = False) -> ChunkCounts:
    """Count one chunk of ``(text, label)`` pairs (its token lists are held until the chunk is counted)."""
    out = ChunkCounts()
    docs = []
    for text, label in pairs:
        toks = tokenizer(text)
        if words is not None:  # unknown="drop" with n-grams: n-grams over the words kept (build_vocab's 2nd pass)
            toks = [t for t in toks if words.get(t, 0) >= min_count]
        if ngrams > 1 and not unigrams_only:
            toks = add_ngrams(toks, ngrams)
        out.counts.update(toks)
        out.labels[label] += 1
        out.longest = max(out.longest, len(toks))
        docs.append((label, toks))
    out.docs = len(docs)
    if unigrams_only:
        return out
    for label, toks in docs:
        distinct = set(toks)
        out.df.setdefault(label, Counter()).update(distinct)
        if min_count > 1:
            rare = {t for t in distinct if out.counts[t] < min_count}
            if rare:
                out.rare.append((label, rare))
    return out


class VocabCounter:
    """Merges :class:`ChunkCounts` in document order; :meth:`finish` gives the vocabulary and the NB counts."""

    def __init__(self, min_count: int):
        self.min_count = min_count
        self.counts: Counter = Counter()
        self.df: dict[str, Counter] = {}
        self.labels: Counter = Counter()
        self.rare: list[tuple[str, set[str]]] = []
        self.longest = 0
        self.docs = 0
        self._pruned = 0

    def add(self, chunk: ChunkCounts) -> None:
        counts = self.counts
        for tok, c in chunk.counts.items():  # in order: first appearances stay in corpus order
            counts[tok] = counts.get(tok, 0) + c
        for label, df in chunk.df.items():
            self.df.setdefault(label, Counter()).update(df)
        for label, c in chunk.labels.items():
            self.labels[label] += c
        self.longest = max(self.longest, chunk.longest)
        self.docs += chunk.docs
        if chunk.rare:
            self.rare.extend(chunk.rare)
            if len(self.rare) > 2 * self._pruned + 10000:  # amortised: prune when the list has doubled
                self.prune()

    def prune(self) -> None:
        """Keep only the tokens still below ``min_count``, and the documents holding some."""
        kept = []
        for label, toks in self.rare:
            toks = {t for t in toks if self.counts[t] < self.min_count}
            if toks:
                kept.append((label, toks))
        self.rare = kept
        self._pruned = len(kept)

    def kept_tokens(self, max_size: int | None) -> tuple[list[str], bool]:
        """The vocabulary's tokens in id order (as :func:`~toolkit.training.vocab_builder.build_vocab`), and whether ``max_size`` cut any."""
        self.prune()
        self.counts.pop(PAD, None)
        self.counts.pop(UNK, None)
        kept = [tok for tok, c in self.counts.most_common() if c >= self.min_count]
        cut = max_size is not None and len(kept) > max_size
        return (kept[:max_size] if cut else kept), cut


@dataclass
class VocabStats:
    """The result of the counting pass(es): everything the trainer needs before the first batch."""

    vocab: Vocab
    labels: list[str]
    label_counts: dict[str, int]
    documents: int
    nb_counts: np.ndarray  # float64 [n_labels, vocab_size]: documents of each label holding each id
    longest: int  # most ids in one encoded training document
    passes: int

    def nb_weights(self, alpha: float = 1.0) -> np.ndarray:
        """:func:`toolkit.training.linear.nb_token_weights` from the counts (float32 [vocab_size])."""
        counts = self.nb_counts
        total = counts.sum(axis=0)
        weights = np.zeros(counts.shape[1], dtype=np.float64)
        for c in range(counts.shape[0]):
            p = counts[c] + alpha
            q = total - counts[c] + alpha
            weights = np.maximum(weights, np.abs(np.log(p / p.sum()) - np.log(q / q.sum())))
        weights[0] = 0.0
        return weights.astype(np.float32)


def _chunks(pairs: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count_local(pairs_fn, tokenizer, ngrams, min_count, words=None, unigrams_only=False, chunk_docs=CHUNK_DOCS):
    counter = VocabCounter(1 if unigrams_only else min_count)
    for chunk in _chunks(pairs_fn(), chunk_docs):
        counter.add(count_chunk(chunk, tokenizer, ngrams, min_count, words, unigrams_only))
    return counter


def _encode_local(pairs_fn, tokenizer, vocab: Vocab, labels: Sequence[str], chunk_docs: int) -> tuple[np.ndarray, int]:
    index = {label: i for i, label in enumerate(labels)}
    nb = np.zeros((len(labels), len(vocab)), dtype=np.float64)
    longest = 0
    for chunk in _chunks(pairs_fn(), chunk_docs):
        part, most = encode_counts(chunk, tokenizer, vocab, index)
        nb += part
        longest = max(longest, most)
    return nb, longest


def count_vocab(config: Any, sources: Sequence[Path], *, labels: Sequence[str] | None = None,
                chunk_docs: int = CHUNK_DOCS, test_share: float | None = None, count=_count_local,
                encode=_encode_local) -> VocabStats:
    """Count the vocabulary and the naive-Bayes document counts of the training documents of ``sources``.

    Equal to :func:`~toolkit.training.vocab_builder.build_vocab` over the tokenized training documents, and ``nb_counts`` to the
    counts :func:`toolkit.training.linear.nb_token_weights` forms from their encoded ids.

    ``count`` (a counting pass: ``(pairs_fn, tokenizer, ngrams, min_count, words=, unigrams_only=,
    chunk_docs=) -> VocabCounter``) and ``encode`` (an encoding pass: ``(pairs_fn, tokenizer, vocab,
    labels, chunk_docs) -> (nb_counts, longest)``) run in this process by default; the Ray Data
    engine passes its own (``toolkit.training.distributed.ray_data.count_vocab_ray``).
    """
    from toolkit.core import registry

    v = config.vocab
    tok = registry.create("tokenizer", config.tokenizer.name, **config.tokenizer.options)
    drop_ngrams = v.unknown == "drop" and v.ngrams > 1

    def pairs():
        return iter_split(sources, config.data, "train", test_share)

    passes = 1
    words = None
    if drop_ngrams:
        first = count(pairs, tok, v.ngrams, v.min_count, unigrams_only=True, chunk_docs=chunk_docs)
        words = dict(first.counts)
        passes += 1
    counter = count(pairs, tok, v.ngrams, v.min_count, words=words, chunk_docs=chunk_docs)
    if not counter.docs:
        raise CorpusError(f"{', '.join(map(str, sources))}: no training documents (all {counter.docs} in the test "
                          f"split, or none at all)")
    kept, cut = counter.kept_tokens(v.max_size)
    vocab = Vocab([PAD, UNK] + kept, ngrams=v.ngrams, unknown=v.unknown)
    vocab.counts = {t: counter.counts[t] for t in kept}
    names = list(labels) if labels is not None else sorted(counter.labels)
    unseen = sorted(set(counter.labels) - set(names))
    if unseen:
        raise CorpusError(f"labels {unseen} are not among the expected labels {names}")
    index = {label: i for i, label in enumerate(names)}
    nb = np.zeros((len(names), len(vocab)), dtype=np.float64)
    longest = counter.longest
    if v.unknown == "drop" or cut:  # the encoded ids differ from the counted tokens: one encoding pass
        passes += 1
        nb, longest = encode(pairs, tok, vocab, names, chunk_docs)
    else:
        for label, df in counter.df.items():
            row = nb[index[label]]
            for token, n in df.items():
                i = vocab.index.get(token)
                if i is not None:
                    row[i] = n
        for label, _ in counter.rare:  # documents holding a token below min_count hold <unk>
            nb[index[label], UNK_ID] += 1.0
    return VocabStats(vocab, names, dict(counter.labels), counter.docs, nb, longest, passes)


def encode_counts(pairs: Sequence[tuple[str, str]], tokenizer: Any, vocab: Vocab,
                  index: dict[str, int]) -> tuple[np.ndarray, int]:
    """Documents of each label holding each id (float64 [n_labels, vocab_size]) and the most ids in one
    document, for a chunk of ``(text, label)`` pairs encoded with ``vocab``."""
    counts = np.zeros((len(index), len(vocab)), dtype=np.float64)
    longest = 0
    ids = vocab.encode_many([tokenizer(text) for text, _ in pairs])
    for doc, (_, label) in zip(ids, pairs):
        counts[index[label], np.unique(np.asarray(doc, dtype=np.int64))] += 1.0
        longest = max(longest, len(doc))
    return counts, longest


# --------------------------------------------------------------------------
# Batches for one worker
# --------------------------------------------------------------------------
def batch_stream(sources: Sequence[Path], config: Any, vocab: Vocab, labels: Sequence[str], *, rank: int = 0,
                 world: int = 1, max_len: int, policy: str, min_len: int, seed: int = 0,
                 window_batches: int = 20, test_share: float | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless padded ``(ids, labels)`` batches of this worker's training documents (every ``world``-th
    document from ``rank``, test documents left out), pass after pass over the files, shuffled within a
    window of ``window_batches`` batches (sorted by length in it for ``dynamic``); memory: one window."""
    from toolkit.core import registry
    from toolkit.core.batching import pad

    tok = registry.create("tokenizer", config.tokenizer.name, **config.tokenizer.options)
    index = {label: i for i, label in enumerate(labels)}
    batch_size = config.training.batch_size
    window = batch_size * window_batches
    rng = np.random.default_rng([seed, rank])
    share = config.data.test_share if test_share is None else test_share

    def flush(buffer):
        texts = [t for t, _ in buffer]
        y = np.array([index[label] for _, label in buffer], dtype=np.int32)
        ids = vocab.encode_many([tok(t) for t in texts])
        order = rng.permutation(len(ids))
        if policy == "dynamic":
            lengths = np.array([len(ids[i]) for i in order])
            order = order[np.argsort(lengths, kind="stable")]
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        rng.shuffle(batches)
        for b in batches:
            yield pad([ids[i] for i in b], max_len, policy, min_len).astype(np.int32), y[b]

    passes = 0
    while True:
        buffer, seen = [], 0
        for i, (text, label) in enumerate(iter_documents(sources, config.data.text_field, config.data.label_field,
                                                         config.data.encoding)):
            if i % world != rank or is_test(text, share, config.data.split_seed):
                continue
            buffer.append((text, label))
            seen += 1
            if len(buffer) >= window:
                yield from flush(buffer)
                buffer = []
        if buffer:
            yield from flush(buffer)
        passes += 1
        if not seen:
            raise CorpusError(f"worker {rank} of {world} got no training documents from "
                              f"{', '.join(map(str, sources))}")
