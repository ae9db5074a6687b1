"""Sentence-level sentiment: spans cover the sentences exactly, with their own scores; a clear error without boundaries."""

from __future__ import annotations

import pytest
import spacy

from toolkit.core.errors import ConfigError, ToolkitError
from toolkit.serving.runtime import Runtime
from toolkit.serving.sentences import CATS_ATTR, SPANS_KEY

from spacy_helpers import lexicon_bundle

MIXED = "I loved the first hour. The acting is great and the music wonderful! Then it turns dull, boring and bad."


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return lexicon_bundle(tmp_path_factory.mktemp("sentences") / "lexicon")


def pipeline(bundle, sentencizer=True):
    nlp = spacy.blank("en")
    if sentencizer:
        nlp.add_pipe("sentencizer")
    nlp.add_pipe("review_sentiment", config={"model": str(bundle), "sentences": True})
    return nlp


def test_sentence_spans_cover_the_sentences_exactly(bundle):
    nlp = pipeline(bundle)
    docs = list(nlp.pipe([MIXED, "Good. Bad.", "One sentence only, and good"]))
    rt = Runtime.load(bundle)
    for doc in docs:
        spans = list(doc.spans[SPANS_KEY])
        sents = list(doc.sents)
        assert [(s.start, s.end) for s in spans] == [(s.start, s.end) for s in sents]
        assert spans[0].start == 0 and spans[-1].end == len(doc)
        assert all(a.end == b.start for a, b in zip(spans, spans[1:]))  # no gaps, no overlaps
        expected = rt.score([s.text for s in sents])
        for span, row in zip(spans, expected):
            cats = span._.get(CATS_ATTR)
            assert list(cats) == rt.labels
            assert [cats[lab] for lab in rt.labels] == pytest.approx(row.tolist(), abs=1e-6)
            assert span.label_ == max(cats, key=cats.get)
    labels = [s.label_ for s in docs[0].spans[SPANS_KEY]]
    assert labels == ["POSITIVE", "POSITIVE", "NEGATIVE"]  # where the mixed review turns
    assert "cats" in dir(docs[0]) and set(docs[0].cats) == set(rt.labels)  # doc.cats still set


def test_no_sentence_boundaries_is_a_clear_error(bundle):
    nlp = pipeline(bundle, sentencizer=False)
    with pytest.raises(ConfigError) as info:
        nlp(MIXED)
    message = str(info.value)
    assert "\n" not in message and "sentencizer" in message and "review_sentiment" in message
    assert isinstance(info.value, ToolkitError)


def test_empty_doc_and_option_off(bundle):
    doc = pipeline(bundle)("")
    assert list(doc.spans[SPANS_KEY]) == []
    off = spacy.blank("en")
    off.add_pipe("review_sentiment", config={"model": str(bundle)})
    assert SPANS_KEY not in off(MIXED).spans  # off by default; no boundaries needed then
