"""Vocabulary: ids, min_count/max_size, n-grams, files, padding; size on the real corpus."""

from __future__ import annotations

import string
from collections import Counter
from importlib import resources

import numpy as np
import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.core.errors import VocabError
from toolkit.core.batching import pad, pad_dynamic, pad_fixed
from toolkit.core.vocab import PAD, UNK, Vocab, add_ngrams


def test_ids_reserved_and_ordered_by_frequency():
    docs = [["good", "film"], ["good", "plot"], ["good", "film", "rare"]]
    v = Vocab.build(docs, min_count=2)
    assert v.tokens == [PAD, UNK, "good", "film"]
    assert v.encode(["film", "rare", "good"]) == [3, 1, 2]
    assert v.id_of("unseen") == 1


def test_min_count_and_max_size():
    docs = [["a", "b", "c"], ["a", "b"], ["a"]]
    assert Vocab.build(docs, min_count=1).tokens[2:] == ["a", "b", "c"]
    assert Vocab.build(docs, min_count=3).tokens[2:] == ["a"]
    assert Vocab.build(docs, min_count=1, max_size=2).tokens[2:] == ["a", "b"]
    with pytest.raises(VocabError, match="min_count"):
        Vocab.build(docs, min_count=0)
    with pytest.raises(VocabError, match="max_size"):
        Vocab.build(docs, max_size=-1)


def test_bigrams_follow_unigrams_and_encode_consistently():
    assert add_ngrams(["not", "good", "at", "all"], 2) == ["not", "good", "at", "all", "not_good", "good_at", "at_all"]
    docs = [["not", "good"], ["not", "good", "film"]]
    v = Vocab.build(docs, min_count=2, ngrams=2)
    assert "not_good" in v
    assert v.encode(["not", "good"]) == [v.id_of("not"), v.id_of("good"), v.id_of("not_good")]


def _encode_by_strings(vocab: Vocab, tokens: list[str]) -> list[int]:
    """The definition: look every unigram and n-gram string up."""
    return [vocab.id_of(t) for t in add_ngrams(tokens, vocab.ngrams)]


@pytest.mark.parametrize("ngrams", [2, 3])
def test_fast_bigram_encoding_equals_string_lookup(ngrams):
    # Words that hold the joiner themselves, a bigram kept whose words were cut by
    # max_size, unknown words, and the reserved tokens as words.
    docs = [["a_b", "c", "a", "b_c", "x"], ["a", "b", "c", "a_b", "c"], ["a", "b_c", "rare"], ["x", "y"]] * 2
    docs += [["x", "y", "<unk>", "<pad>", "x"]]
    vocab = Vocab.build(docs, min_count=2, ngrams=ngrams)
    cut = Vocab([t for t in vocab.tokens if t not in ("a", "x")], ngrams=ngrams)  # "x_y" stays, "x" goes
    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "a_b", "b_c", "x", "y", "rare", "unseen", "<unk>", "<pad>", "_", "a_"]
    for v in (vocab, cut):
        batch = []
        for _ in range(300):
            tokens = list(rng.choice(words, size=int(rng.integers(0, 12))))
            assert v.encode(tokens) == _encode_by_strings(v, tokens), tokens
            batch.append(tokens)
        # the batched path: n-grams of several documents at once, across chunk boundaries
        want = [_encode_by_strings(v, tokens) for tokens in batch]
        assert v.encode_many(batch) == want
        assert v.encode_many(batch, chunk=7) == want


def _encode_dropping_by_strings(vocab: Vocab, tokens: list[str]) -> list[int]:
    """The definition of ``unknown="drop"``: keep the known words, look their n-grams up, keep the known ones."""
    kept = [t for t in tokens if t in vocab and t not in (PAD, UNK)]
    return [i for i in _encode_by_strings(vocab, kept) if i != 1]


def test_unknown_words_dropped_before_ngrams():
    docs = [["not", "good", "film"], ["not", "good", "plot"], ["not", "rare", "good"]]
    mapped = Vocab.build(docs, min_count=2, ngrams=2)
    dropped = Vocab.build(docs, min_count=2, ngrams=2, unknown="drop")
    # "rare" (seen once) maps to <unk> in place, or goes, so "not" and "good" become neighbours
    assert mapped.encode(["not", "rare", "good"]) == [mapped.id_of("not"), 1, mapped.id_of("good"), 1, 1]
    assert dropped.encode(["not", "rare", "good"]) == [dropped.id_of(t) for t in ("not", "good", "not_good")]
    # n-grams are counted over the kept words: "not_good" is seen three times, not twice
    assert dropped.counts["not_good"] == 3 and mapped.counts["not_good"] == 2
    assert dropped.encode(["unseen", "rare"]) == [] and dropped.encode([]) == []
    assert dropped != Vocab(dropped.tokens, ngrams=2)  # the policy is part of the vocabulary
    with pytest.raises(VocabError, match="vocab.unknown.*'keep'"):
        Vocab.build(docs, unknown="keep")


@pytest.mark.parametrize("ngrams", [1, 2, 3])
def test_dropping_encoding_equals_string_lookup(ngrams, tmp_path):
    docs = [["a_b", "c", "a", "b_c", "x"], ["a", "b", "c", "a_b", "c"], ["a", "b_c", "rare"], ["x", "y"]] * 2
    vocab = Vocab.build(docs, min_count=2, ngrams=ngrams, unknown="drop")
    cut = Vocab([t for t in vocab.tokens if t != "x"], ngrams=ngrams, unknown="drop")
    rng = np.random.default_rng(1)
    words = ["a", "b", "c", "a_b", "b_c", "x", "y", "rare", "unseen", "<unk>", "<pad>", "_"]
    for v in (vocab, cut):
        batch = [list(rng.choice(words, size=int(rng.integers(0, 12)))) for _ in range(200)]
        want = [_encode_dropping_by_strings(v, tokens) for tokens in batch]
        assert [v.encode(tokens) for tokens in batch] == want
        assert v.encode_many(batch, chunk=7) == want
    vocab.to_file(tmp_path / "vocab.txt")
    assert Vocab.from_file(tmp_path / "vocab.txt", ngrams=ngrams, unknown="drop") == vocab


def test_fast_bigram_encoding_on_real_reviews(polarity_path):
    from toolkit.serving.tokenizers.nltk_style import NltkStyleTokenizer

    tok = NltkStyleTokenizer(stopwords=False)
    texts = [p.read_text(encoding="utf-8") for p in sorted((polarity_path / "pos").glob("cv00*"))[:60]]
    tokens = [tok(t) for t in texts]
    vocab = Vocab.build(tokens[:40], min_count=2, ngrams=2)
    for doc in tokens:
        assert vocab.encode(doc) == _encode_by_strings(vocab, doc)


def test_empty_document_encodes_to_nothing():
    v = Vocab.build([["a", "a"]])
    assert v.encode([]) == []
    assert pad_dynamic([[]], max_len=10, min_len=3).shape == (1, 3)


def test_file_round_trip(tmp_path):
    v = Vocab.build([["great", "film", "great"], ["film"]], min_count=1)
    path = tmp_path / "vocab.txt"
    v.to_file(path)
    lines = path.read_text().splitlines()
    assert lines[:2] == [PAD, UNK] and lines[2:] == ["great", "film"]
    assert Vocab.from_file(path) == v
    assert not [p for p in tmp_path.iterdir() if p.name != "vocab.txt"], "temporary files left behind"


def test_bad_vocab_files_name_file_and_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\n")
    with pytest.raises(VocabError, match="line 1"):
        Vocab.from_file(path)
    path.write_text(f"{PAD}\n{UNK}\nx\ny\nx\n")
    with pytest.raises(VocabError, match="line 5.*'x'.*line 3"):
        Vocab.from_file(path)
    with pytest.raises(VocabError, match="does not exist"):
        Vocab.from_file(tmp_path / "missing.txt")


def test_padding_policies():
    seqs = [[5, 6, 7], [8]]
    np.testing.assert_array_equal(pad_fixed(seqs, 2), [[5, 6], [8, 0]])
    np.testing.assert_array_equal(pad_fixed(seqs, 5), [[5, 6, 7, 0, 0], [8, 0, 0, 0, 0]])
    np.testing.assert_array_equal(pad_dynamic(seqs, 10), [[5, 6, 7], [8, 0, 0]])
    np.testing.assert_array_equal(pad_dynamic(seqs, 2), [[5, 6], [8, 0]])
    assert pad(seqs, 10, "dynamic", min_len=4).shape == (2, 4)
    assert pad(seqs, 10).dtype == np.int32
    with pytest.raises(VocabError, match="policy"):
        pad(seqs, 10, "ragged")


def _independent_vocab_size(polarity_path) -> int:
    """The classic cleaning, written out here from the issue's rules, over files read directly."""
    stop = {
        line.strip()
        for line in resources.files("toolkit.serving.tokenizers").joinpath("data/stopwords_en.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    table = str.maketrans("", "", string.punctuation)
    counts: Counter[str] = Counter()
    for label in ("pos", "neg"):
        for f in sorted((polarity_path / label).iterdir()):
            if f.name.startswith("cv9"):
                continue
            for word in f.read_text(encoding="utf-8").split():
                word = word.translate(table).lower()
                if word.isalpha() and word not in stop and len(word) > 1:
                    counts[word] += 1
    return 2 + sum(1 for c in counts.values() if c >= 2)


def test_polarity_train_vocab_size_matches_independent_count(polarity_path, tmp_path):
    expected = _independent_vocab_size(polarity_path)
    out = tmp_path / "vocab.txt"
    result = CliRunner().invoke(app, ["vocab", "build", "--data", str(polarity_path), "--tokenizer", "nltk",
                                      "--min-count", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"vocabulary: {expected} entries" in result.output
    assert "1800" in result.output  # built from the training split only
    assert len(Vocab.from_file(out)) == expected
