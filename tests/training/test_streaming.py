"""The streamed corpus path: one-pass vocabulary == build_vocab, NB weights == nb_token_weights, batches."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest

from corpora import learnable_corpus, tiny_config
from toolkit.core import registry
from toolkit.core.errors import CorpusError
from toolkit.training.vocab_builder import build_vocab
from toolkit.training.linear import nb_token_weights
from toolkit.training.streaming import batch_stream, count_vocab, is_test, iter_split, resolve_sources


def zipf_corpus(path, n=300, seed=1):
    """Documents of Zipf-distributed words: many ties, many rare words and n-grams."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(400)]
    weights = [1.0 / (i + 1) for i in range(len(words))]
    with path.open("w") as fh:
        for i in range(n):
            label = rng.choice(["pos", "neg", "meh"])
            body = rng.choices(words, weights, k=rng.randint(0, 25))
            if label == "pos":
                body.append("good")
            fh.write(json.dumps({"text": " ".join(body), "label": label}) + "\n")
    return path


def reference(config, sources):
    """What the in-memory path builds from the same training documents."""
    tok = registry.create("tokenizer", config.tokenizer.name, **config.tokenizer.options)
    docs = list(iter_split(sources, config.data, "train"))
    tokens = [tok(t) for t, _ in docs]
    v = config.vocab
    vocab = build_vocab(tokens, min_count=v.min_count, max_size=v.max_size, ngrams=v.ngrams, unknown=v.unknown)
    labels = sorted({label for _, label in docs})
    y = [labels.index(label) for _, label in docs]
    ids = vocab.encode_many(tokens)
    return vocab, nb_token_weights(ids, y, len(vocab), len(labels)), max(len(x) for x in ids)


@pytest.mark.parametrize("ngrams,min_count,max_size,unknown", [
    (1, 1, None, "map"), (2, 2, None, "map"), (3, 3, None, "map"), (2, 2, 150, "map"),
    (1, 2, None, "drop"), (2, 2, None, "drop"), (2, 2, 100, "drop"),
])
def test_streamed_vocab_equals_vocab_build(tmp_path, ngrams, min_count, max_size, unknown):
    src = zipf_corpus(tmp_path / "c.jsonl")
    config = tiny_config(src, **{"vocab.ngrams": ngrams, "vocab.min_count": min_count, "vocab.max_size": max_size,
                                 "vocab.unknown": unknown, "data.test_share": 0.2})
    sources = resolve_sources(src)
    stats = count_vocab(config, sources, chunk_docs=7)  # small chunks: many merges
    vocab, weights, longest = reference(config, sources)
    assert stats.vocab.tokens == vocab.tokens
    assert stats.vocab == vocab
    np.testing.assert_array_equal(stats.nb_weights(), weights)
    assert stats.longest == longest
    assert stats.documents == len(list(iter_split(sources, config.data, "train")))
    assert stats.passes == (1 if unknown == "map" and (max_size is None) else stats.passes)
    # the vocab.txt files are byte-identical
    stats.vocab.to_file(tmp_path / "a.txt")
    vocab.to_file(tmp_path / "b.txt")
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()


def test_one_pass_in_the_common_case(tmp_path):
    src = zipf_corpus(tmp_path / "c.jsonl")
    stats = count_vocab(tiny_config(src, **{"vocab.min_count": 2, "vocab.ngrams": 2}), resolve_sources(src))
    assert stats.passes == 1


def test_files_csv_and_parquet_stream_the_same_documents(tmp_path):
    src = learnable_corpus(tmp_path / "c.jsonl", n_per_label=30)
    rows = [json.loads(line) for line in src.read_text().splitlines()]
    folder = tmp_path / "parts"
    folder.mkdir()
    with (folder / "a.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["text", "label"])
        w.writeheader()
        w.writerows(rows[:25])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": [r["text"] for r in rows[25:]], "label": [r["label"] for r in rows[25:]]}),
                   folder / "b.parquet")
    config = tiny_config(src, **{"vocab.ngrams": 2})
    a = count_vocab(config, resolve_sources(src))
    b = count_vocab(config, resolve_sources(folder))
    assert a.vocab.tokens == b.vocab.tokens
    np.testing.assert_array_equal(a.nb_weights(), b.nb_weights())


def test_split_is_by_text_and_seeded():
    texts = [f"document number {i}" for i in range(2000)]
    share = np.mean([is_test(t, 0.1) for t in texts])
    assert 0.07 < share < 0.13
    assert [is_test(t, 0.1, 3) for t in texts] != [is_test(t, 0.1, 0) for t in texts]
    assert not any(is_test(t, 0.0) for t in texts)


def test_batch_stream_shards_and_pads(tmp_path):
    src = learnable_corpus(tmp_path / "c.jsonl", n_per_label=20)
    config = tiny_config(src, **{"data.test_share": 0.2})
    sources = resolve_sources(src)
    stats = count_vocab(config, sources)
    texts = [json.loads(line)["text"] for line in src.read_text().splitlines()]
    expected = [sum(1 for i, t in enumerate(texts) if i % 2 == rank and not is_test(t, 0.2)) for rank in (0, 1)]
    assert sum(expected) == stats.documents
    seen = []
    for rank in (0, 1):
        stream = batch_stream(sources, config, stats.vocab, stats.labels, rank=rank, world=2, max_len=40,
                              policy="dynamic", min_len=3)
        n = 0
        while n < expected[rank]:  # one pass over this worker's share (batches never straddle passes)
            x, y = next(stream)
            assert x.dtype == np.int32 and x.shape[0] == len(y) and x.shape[1] >= 3
            n += len(y)
        seen.append(n)
    assert seen == expected


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        resolve_sources(tmp_path / "nope.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(CorpusError, match="cannot stream"):
        resolve_sources(tmp_path / "x.txt")
    with pytest.raises(CorpusError, match="holds no"):
        resolve_sources(tmp_path)
