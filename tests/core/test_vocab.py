"""Vocabulary: ids, n-grams, unknown words, files, padding (counting one: tests/training/test_vocab_builder.py)."""

from __future__ import annotations


import numpy as np
import pytest

from toolkit.core.errors import VocabError
from toolkit.core.batching import pad, pad_dynamic, pad_fixed
from toolkit.core.vocab import PAD, UNK, Vocab, add_ngrams
from toolkit.training.vocab_builder import build_vocab


def test_bigrams_follow_unigrams_and_encode_consistently():
    assert add_ngrams(["not", "good", "at", "all"], 2) == ["not", "good", "at", "all", "not_good", "good_at", "at_all"]
    docs = [["not", "good"], ["not", "good", "film"]]
    v = build_vocab(docs, min_count=2, ngrams=2)
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
    vocab = build_vocab(docs, min_count=2, ngrams=ngrams)
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
    mapped = build_vocab(docs, min_count=2, ngrams=2)
    dropped = build_vocab(docs, min_count=2, ngrams=2, unknown="drop")
    # "rare" (seen once) maps to <unk> in place, or goes, so "not" and "good" become neighbours
    assert mapped.encode(["not", "rare", "good"]) == [mapped.id_of("not"), 1, mapped.id_of("good"), 1, 1]
    assert dropped.encode(["not", "rare", "good"]) == [dropped.id_of(t) for t in ("not", "good", "not_good")]
    # n-grams are counted over the kept words: "not_good" is seen three times, not twice
    assert dropped.counts["not_good"] == 3 and mapped.counts["not_good"] == 2
    assert dropped.encode(["unseen", "rare"]) == [] and dropped.encode([]) == []
    assert dropped != Vocab(dropped.tokens, ngrams=2)  # the policy is part of the vocabulary
    with pytest.raises(VocabError, match="vocab.unknown.*'keep'"):
        build_vocab(docs, unknown="keep")


@pytest.mark.parametrize("ngrams", [1, 2, 3])
def test_dropping_encoding_equals_string_lookup(ngrams, tmp_path):
    docs = [["a_b", "c", "a", "b_c", "x"], ["a", "b", "c", "a_b", "c"], ["a", "b_c", "rare"], ["x", "y"]] * 2
    vocab = build_vocab(docs, min_count=2, ngrams=ngrams, unknown="drop")
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
    vocab = build_vocab(tokens[:40], min_count=2, ngrams=2)
    for doc in tokens:
        assert vocab.encode(doc) == _encode_by_strings(vocab, doc)


def test_empty_document_encodes_to_nothing():
    v = build_vocab([["a", "a"]])
    assert v.encode([]) == []
    assert pad_dynamic([[]], max_len=10, min_len=3).shape == (1, 3)


def test_file_round_trip(tmp_path):
    v = build_vocab([["great", "film", "great"], ["film"]], min_count=1)
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


def _ngram_vocab() -> Vocab:
    # "x_y" is a word holding the joiner; "lost_word" is a bigram whose second word is not in the vocabulary.
    return Vocab([PAD, UNK, "not", "good", "film", "x_y", "x", "y", "not_good", "good_film", "lost_word", "x_y_film"],
                 ngrams=2)


def test_bigram_index_file_round_trip(tmp_path):
    built = _ngram_vocab()
    built.to_file(tmp_path / "vocab.txt")
    built.save_bigram_index(tmp_path / "vocab.npz", "cafe")
    loaded = Vocab.from_file(tmp_path / "vocab.txt", ngrams=2, index=tmp_path / "vocab.npz", source_sha256="cafe")
    assert loaded._pairs is not None, "the index was read, not left to be built on first use"
    keys, ids, orphans = built._bigram_index()
    np.testing.assert_array_equal(loaded._pairs[0], keys)
    np.testing.assert_array_equal(loaded._pairs[1], ids)
    assert loaded._pairs[2] is orphans is True
    docs = [["not", "good", "film"], ["lost", "word"], ["x_y", "film", "x", "y"], ["good"], []]
    assert loaded.encode_many(docs) == built.encode_many(docs) == [_encode_by_strings(built, d) for d in docs]
    assert not [p.name for p in tmp_path.iterdir() if p.name not in ("vocab.txt", "vocab.npz")]


def test_bigram_index_file_that_does_not_belong_is_refused(tmp_path):
    vocab = _ngram_vocab()
    vocab.save_bigram_index(tmp_path / "vocab.npz", "cafe")
    with pytest.raises(VocabError, match=r"vocab.npz was built from a vocab.txt with sha256 cafe.*not this one"):
        _ngram_vocab().load_bigram_index(tmp_path / "vocab.npz", "beef")
    other = Vocab(vocab.tokens + ["extra"], ngrams=2)
    with pytest.raises(VocabError, match=r"vocab.npz is for a vocabulary of 12 tokens, vocab.txt has 13"):
        other.load_bigram_index(tmp_path / "vocab.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(VocabError, match=r"junk.npz cannot be read"):
        vocab.load_bigram_index(tmp_path / "junk.npz")
    keys, ids, _ = vocab._bigram_index()
    np.savez(tmp_path / "bad.npz", format=1, size=12, source_sha256="cafe", keys=keys[::-1].copy(), ids=ids,
             orphans=np.asarray(True))
    with pytest.raises(VocabError, match=r"bad.npz: keys unsorted or ids out of range"):
        vocab.load_bigram_index(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", format=1, size=12)
    with pytest.raises(VocabError, match=r"short.npz lacks source_sha256, keys, ids, orphans"):
        vocab.load_bigram_index(tmp_path / "short.npz")


def test_duplicate_tokens_are_named():
    with pytest.raises(VocabError, match=r"token 'a' appears twice in the vocabulary \(ids 2 and 4\)"):
        Vocab([PAD, UNK, "a", "b", "a"])
