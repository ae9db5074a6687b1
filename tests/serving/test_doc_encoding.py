"""DocEncoder: ids from a spaCy Doc's cached strings equal the ids of tokenizing doc.text."""

from __future__ import annotations

import random

import numpy as np
import pytest
import spacy
from spacy.tokens import Doc

from toolkit.training.corpus import load_polarity, train_test_split
from toolkit.serving.doc_encoding import DocEncoder, can_encode_docs
from toolkit.serving.runtime import Runtime
from toolkit.serving.component_bundle import DEFAULT_MODEL_DIR
from toolkit.serving.tokenizers.nltk_style import NltkStyleTokenizer
from toolkit.serving.tokenizers.spacy_tokens import SpacyTokenizer
from toolkit.core.vocab import Vocab
from toolkit.training.vocab_builder import build_vocab

TRICKY = [
    "",
    "   ",
    "\n\n",
    "A tense, beautifully acted film; I loved every minute.",
    "it's a film that doesn't work .\nthe plot ? \n\n  it isn't there .",
    "U.S. co-production, hello-world!!! (and) 'quotes' \"double\" -- dashes...",
    "tabs\tand\u00a0no-break\u2009thin spaces, line\r\nbreaks",
    "ÉCOLE naïve straße ΟΔΟΣ Σ ǅ İstanbul 🎬 emoji🎬film",
    "x y z a b c 1999 3d b4 don't can't won't i'm you're they'll",
    "word" * 50 + " " + "!" * 30 + " end",
]


def _reference(tokenizer, vocab: Vocab, docs) -> list[list[int]]:
    return [vocab.encode(tokenizer(doc.text)) for doc in docs]


def _assert_same(encoder: DocEncoder, docs) -> None:
    got = [ids.tolist() for ids in encoder.encode(docs)]
    want = _reference(encoder.tokenizer, encoder.vocab, docs)
    for doc, g, w in zip(docs, got, want):
        assert g == w, repr(doc.text)


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def _vocab(tokenizer, texts, **options) -> Vocab:
    return build_vocab([tokenizer(t) for t in texts], **options)


@pytest.mark.parametrize("options", [
    {},
    {"stopwords": True, "min_length": 3},
    {"lowercase": False},
])
def test_tricky_texts_match_the_text_path(nlp, options):
    tok = NltkStyleTokenizer(**options)
    vocab = _vocab(tok, TRICKY * 2, min_count=1, ngrams=2)
    encoder = DocEncoder(tok, vocab)
    docs = [nlp(t) for t in TRICKY]
    _assert_same(encoder, docs)
    _assert_same(encoder, docs[::-1])  # second pass: everything comes from the caches


def test_unknown_words_orphan_bigrams_and_trigrams(nlp):
    """Out-of-vocabulary words, bigrams kept after a word was cut by max_size, n = 3."""
    tok = NltkStyleTokenizer()
    texts = ["good film good film bad plot", "not good not good at all", "a rare gem, a rare gem"]
    docs = [nlp(t + " unseen words here") for t in texts]
    for options in ({"min_count": 1, "max_size": 4, "ngrams": 2}, {"min_count": 1, "ngrams": 3}):
        vocab = _vocab(tok, texts, **options)
        _assert_same(DocEncoder(tok, vocab), docs)
    cut = _vocab(tok, texts, min_count=1, max_size=4, ngrams=2)
    assert any("_" in t for t in cut.tokens)  # the orphan case is really exercised


@pytest.mark.parametrize("ngrams", [1, 2])
def test_dropped_unknown_words_match_the_text_path(nlp, ngrams):
    """vocab.unknown = "drop": the Doc path drops the same words, also inside a spliced run."""
    tok = NltkStyleTokenizer()
    texts = ["good film good film bad plot", "not good not good at all", "a rare gem, a rare gem"]
    vocab = _vocab(tok, texts, min_count=2, ngrams=ngrams, unknown="drop")
    docs = [nlp(t + " unseen words here, don't") for t in texts + TRICKY]
    docs.append(Doc(nlp.vocab, words=["good", "qq\nfilm", "zz"], spaces=[True, False, False]))
    encoder = DocEncoder(tok, vocab)
    _assert_same(encoder, docs)
    _assert_same(encoder, docs[::-1])
    assert all(1 not in ids.tolist() for ids in encoder.encode(docs))


def test_hand_built_docs_with_odd_tokens(nlp, monkeypatch):
    """Tokens holding white space, white-space tokens without trailing space, empty docs."""
    tok = NltkStyleTokenizer()
    vocab = _vocab(tok, ["aa bb cc dd ee", "xx yy zz"], min_count=1, ngrams=2)
    encoder = DocEncoder(tok, vocab)
    spliced = []
    original = DocEncoder._splice
    monkeypatch.setattr(DocEncoder, "_splice", lambda self, *a: spliced.append(1) or original(self, *a))
    docs = [
        Doc(nlp.vocab, words=["aa bb", "cc"], spaces=[False, True]),  # one token, two words
        Doc(nlp.vocab, words=["xx", "\t", "yy", "zz"], spaces=[False, False, False, False]),
        Doc(nlp.vocab, words=["dd", "ee\u00a0xx", "yy"], spaces=[False, False, True]),
        Doc(nlp.vocab, words=[], spaces=[]),
        Doc(nlp.vocab, words=["!", "aa"], spaces=[False, False]),
        Doc(nlp.vocab, words=["aa bb cc", "dd"], spaces=[True, False]),  # three words from one token
        Doc(nlp.vocab, words=["qq", "aa\nbb\ncc", "dd"], spaces=[False, False, False]),  # unknown word, spliced
    ]
    _assert_same(encoder, docs)
    assert spliced  # "a b c" (one token, three words) took the splicing path
    _assert_same(encoder, [docs[3], docs[3]])
    assert encoder.encode([]) == []


def test_random_documents_match_the_text_path(nlp):
    rng = random.Random(0)
    pieces = ["film", "good", "bad", "not", "n't", "'s", ".", ",", "!", "-", "x", "a", "don't", "U.S.",
              "\n", "\n\n", " ", "\t", "é", "Σ", "hello-world", "1999", "(", ")", "''", "plot"]
    tok = NltkStyleTokenizer()
    texts = ["".join(rng.choice(pieces) + rng.choice(["", " ", " ", "\n"]) for _ in range(rng.randint(0, 40)))
             for _ in range(300)]
    vocab = _vocab(tok, texts[:150], min_count=2, ngrams=2)
    encoder = DocEncoder(tok, vocab)
    docs = list(nlp.pipe(texts))
    for start in range(0, len(docs), 37):  # batches of odd sizes, caches carried over
        _assert_same(encoder, docs[start : start + 37])
    random_words = [Doc(nlp.vocab, words=[rng.choice(pieces) for _ in range(n)],
                        spaces=[rng.random() < 0.5 for _ in range(n)]) for n in range(0, 30)]
    _assert_same(encoder, random_words)


def test_docs_of_two_pipelines_in_one_batch(nlp):
    """Each Doc's strings live in its own pipeline's StringStore."""
    tok = NltkStyleTokenizer()
    vocab = _vocab(tok, ["good film", "bad plot"], min_count=1, ngrams=2)
    encoder = DocEncoder(tok, vocab)
    other = spacy.blank("en")
    docs = [nlp("a good film, isn't it"), other("zyzzyva's bad plot"), other("good plot")]
    _assert_same(encoder, docs)


def test_caches_are_bounded(nlp):
    tok = NltkStyleTokenizer()
    vocab = _vocab(tok, ["good film"], min_count=1, ngrams=2)
    encoder = DocEncoder(tok, vocab, max_entries=5)
    docs = [nlp(f"good film word{i} other{i} it's") for i in range(20)]
    for doc in docs:
        _assert_same(encoder, [doc])
        assert len(encoder._codes) + len(encoder._runs) + len(encoder._unknown) <= 5 + 6


def test_only_whitespace_separable_tokenizers():
    assert can_encode_docs(NltkStyleTokenizer())
    assert not can_encode_docs(SpacyTokenizer())
    with pytest.raises(ValueError, match="whitespace_separable"):
        DocEncoder(SpacyTokenizer(), Vocab(["<pad>", "<unk>"]))


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "bundle.json").is_file(), reason="shipped default model not built")
def test_polarity_test_reviews_through_the_runtime(polarity_path, nlp):
    """The 200 test reviews: Runtime.encode (cached path) == tokenizing doc.text, and equal scores."""
    _, test = train_test_split(load_polarity(polarity_path))
    docs = list(nlp.pipe(test.texts))
    rt = Runtime.load(DEFAULT_MODEL_DIR)
    fast = rt.encode(docs)
    slow = rt.encode([d.text for d in docs])
    assert [list(map(int, f)) for f in fast] == slow
    np.testing.assert_array_equal(rt.score_ids(fast), rt.score_ids(slow))
