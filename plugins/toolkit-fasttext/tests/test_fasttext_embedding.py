"""The ``fasttext`` embedding provider."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.errors import EmbeddingError
from toolkit.training.vocab_builder import build_vocab

DOCS = [
    ["wonderful", "film", "superb", "acting", "the", "story", "moves"],
    ["boring", "film", "dull", "plot", "the", "acting", "drags"],
    ["superb", "story", "wonderful", "music"],
    ["dull", "music", "boring", "story"],
] * 10
SMALL = {"dim": 16, "epochs": 3, "bucket": 5000, "progress": False}


def test_registered_through_the_hook(registered):
    reg = registered.lookup("embedding", "fasttext")
    assert reg.plugin == "fasttext" and reg.distribution == "toolkit-fasttext" and reg.version == "0.2.0"
    emb = registered.create("embedding", "fasttext", **SMALL)
    assert emb.dim == 16 and emb.trainable is True
    again = registered.create("embedding", "fasttext", **emb.config)
    assert again.config == emb.config


def test_matrix_rows_and_report():
    from toolkit_fasttext.embedding import FastTextEmbedding

    vocab = build_vocab(DOCS, min_count=1)
    emb = FastTextEmbedding(**SMALL)
    matrix = emb.matrix(vocab, DOCS)
    assert matrix.shape == (len(vocab), 16) and matrix.dtype == np.float32
    assert not matrix[0].any()  # padding
    assert np.all(np.linalg.norm(matrix[2:], axis=1) > 0)
    report = emb.report
    assert report["provider"] == "fasttext" and report["type_coverage"] == 1.0
    assert report["from_ngrams"] == 0 and report["word_vectors"] == len(vocab) - 2


def test_out_of_vocabulary_tokens_get_vectors_from_character_ngrams():
    """A vocabulary token fastText did not keep (rarer than its min_count, or a
    bigram token) gets the mean of its n-gram vectors, not a random row."""
    from toolkit_fasttext.embedding import FastTextEmbedding

    docs = DOCS + [["wonderfully", "boringly", "filmic"]]  # seen once: below fastText's min_count=2
    vocab = build_vocab(docs, min_count=1, ngrams=2)  # also bigram tokens such as superb_acting
    emb = FastTextEmbedding(min_count=2, rescale=False, **SMALL)
    matrix = emb.matrix(vocab, docs)
    wv = emb.model.wv
    assert "wonderfully" not in wv.key_to_index and "wonderful" in wv.key_to_index
    for token in ("wonderfully", "boringly", "wonderful_film"):
        row = matrix[vocab.index[token]]
        np.testing.assert_allclose(row, wv.get_vector(token), rtol=1e-6)
        # ... which is the mean of its n-gram vectors: shares n-grams with its relatives
        assert np.linalg.norm(row) > 0
    report = emb.report
    oov = [t for t in vocab.tokens[2:] if t not in wv.key_to_index]
    assert {"wonderfully", "boringly", "filmic", "wonderful_film"} <= set(oov)
    assert report["from_ngrams"] == len(oov) and report["from_ngrams_examples"] == oov[:10]
    assert report["type_coverage"] == 1.0 and report["random_rows"] == 1  # only <unk>
    # n-gram sharing: 'wonderfully' is closer to 'wonderful' than to an unrelated word
    def cos(a, b):
        return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    v = matrix[vocab.index["wonderfully"]]
    assert cos(v, matrix[vocab.index["wonderful"]]) > cos(v, matrix[vocab.index["plot"]])


def test_same_seed_same_vectors():
    from toolkit_fasttext.embedding import FastTextEmbedding

    vocab = build_vocab(DOCS, min_count=1)
    a = FastTextEmbedding(**SMALL).matrix(vocab, DOCS)
    b = FastTextEmbedding(**SMALL).matrix(vocab, DOCS)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("options, match", [
    ({"dim": 0}, "'dim' must be an integer >= 1"),
    ({"min_n": 5, "max_n": 3}, "'max_n'"),
    ({"sg": 2}, "'sg'"),
    ({"trainable": "yes"}, "'trainable'"),
])
def test_bad_options_name_the_option(options, match):
    from toolkit_fasttext.embedding import FastTextEmbedding

    with pytest.raises(EmbeddingError, match=match):
        FastTextEmbedding(**options)


def test_empty_corpus_is_a_clear_error():
    from toolkit_fasttext.embedding import FastTextEmbedding

    vocab = build_vocab(DOCS, min_count=1)
    with pytest.raises(EmbeddingError, match="no tokens"):
        FastTextEmbedding(**SMALL).matrix(vocab, [[], []])
