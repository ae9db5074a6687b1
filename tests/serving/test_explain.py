"""Occlusion explanations: faithful to the model, the same from the CLI and the component, and a deletion test."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import spacy
from typer.testing import CliRunner

from toolkit.core.errors import ConfigError
from toolkit.serving import occlusion as ex
from toolkit.serving.runtime import Runtime

from spacy_helpers import lexicon_bundle

TEXT = "A great cast, a boring plot and a wonderful ending; the film is good but dull at times."


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return lexicon_bundle(tmp_path_factory.mktemp("explain") / "lexicon")


@pytest.fixture(scope="module")
def runtime(bundle):
    return Runtime.load(bundle)


def test_weights_are_the_models_own(runtime):
    """The lexicon model adds +-1.5 per label for each sentiment word: removing one moves the log-odds by 3."""
    e = ex.explain_texts(runtime, [TEXT], top=None, ngrams=1)[0]
    assert e.label == "POSITIVE"
    weights = {t.text.strip(",.;").lower(): t.weight for t in e.words}
    for word in ("great", "wonderful", "good"):
        assert weights[word] == pytest.approx(3.0, abs=1e-4)
    for word in ("boring", "dull"):
        assert weights[word] == pytest.approx(-3.0, abs=1e-4)
    assert abs(weights["plot"]) < 1e-4 and abs(weights["film"]) < 1e-4  # neutral words move nothing
    assert weights["cast"] == pytest.approx(-0.02, abs=1e-4)  # an unknown word: <unk> weighs (0.01, -0.01)
    p = runtime.score([TEXT])[0, 1]
    assert e.probability == pytest.approx(float(p), abs=1e-6)
    # the terms: strongest first, no overlaps, labelled by the direction they push
    assert [abs(t.weight) for t in e.terms] == sorted((abs(t.weight) for t in e.terms), reverse=True)
    assert {t.label for t in e.terms if t.weight > 0} == {"POSITIVE"}
    assert {t.label for t in e.terms if t.weight < 0} == {"NEGATIVE"}


def test_fast_variants_equal_rescoring_the_shortened_texts(runtime, monkeypatch):
    fast = ex.explain_texts(runtime, [TEXT, "good", ""], top=None)
    monkeypatch.setattr(ex, "can_encode_docs", lambda tok: False)  # the generic path: rescore the texts
    slow = ex.explain_texts(runtime, [TEXT, "good", ""], top=None)
    for a, b in zip(fast, slow):
        assert [(t.start, t.end) for t in a.terms] == [(t.start, t.end) for t in b.terms]
        assert np.allclose([t.weight for t in a.terms], [t.weight for t in b.terms], atol=1e-5)
    assert fast[2].terms == [] and fast[2].words == []


def test_word_pairs_and_top(runtime):
    e = ex.explain_texts(runtime, ["good good film"], top=None)[0]
    # an additive model: the pair "good good" moves 6.0, no more per word than "good" alone, so words are kept
    assert [(t.text, t.words) for t in e.terms] == [("good", 1), ("good", 1), ("film", 1)]
    assert ex.explain_texts(runtime, ["good good film"], top=1)[0].terms[0].start == 0
    # with an interaction (a pair moving more per word than its words: "not good"), the pair wins
    terms = [ex.Term(0, 3, "not", 0.5), ex.Term(4, 8, "good", 1.0), ex.Term(0, 8, "not good", -4.0, 2)]
    chosen = ex._select(terms, [(0,), (1,), (0, 1)], top=None)
    assert [t.text for t in chosen] == ["not good"]
    with pytest.raises(ConfigError, match="label"):
        ex.explain_texts(runtime, [TEXT], label="NEUTRAL")
    with pytest.raises(TypeError):
        ex.explain_texts(runtime, TEXT)


def test_component_and_cli_give_identical_explanations(bundle, runtime):
    from toolkit.cli import app

    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": str(bundle), "explain": True, "explain_top": 4})
    doc = nlp(TEXT)
    group = doc.spans[ex.SPANS_KEY]
    assert group.attrs["label"] == "POSITIVE" and group.attrs["probability"] == pytest.approx(doc.cats["POSITIVE"], abs=1e-6)
    from_doc = [(s.start_char, s.end_char, s.label_, s._.sentiment_weight) for s in group]
    result = CliRunner().invoke(app, ["explain", str(bundle), TEXT, "--top", "4", "--json"])
    assert result.exit_code == 0, result.output
    from_cli = [(t["start"], t["end"], t["label"], t["weight"]) for t in json.loads(result.output)["terms"]]
    assert len(from_doc) == 4
    assert [x[:3] for x in from_doc] == [x[:3] for x in from_cli]
    assert np.allclose([x[3] for x in from_doc], [x[3] for x in from_cli], atol=1e-9)
    # off by default; nlp.pipe too
    plain = spacy.blank("en")
    plain.add_pipe("review_sentiment", config={"model": str(bundle)})
    assert ex.SPANS_KEY not in plain(TEXT).spans
    piped = list(nlp.pipe([TEXT, "dull"]))
    assert [s.text for s in piped[1].spans[ex.SPANS_KEY]] == ["dull"]
    import pickle

    copy = pickle.loads(pickle.dumps(nlp.get_pipe("review_sentiment")))
    assert copy.extras == {"explain": True, "explain_top": 4, "sentences": False}


def test_html_is_escaped_and_written(bundle, tmp_path):
    from toolkit.cli import app

    text = "<script>alert(1)</script> a great & wonderful film"
    out = tmp_path / "e.html"
    result = CliRunner().invoke(app, ["explain", str(bundle), text, "--html", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp;" in page
    assert page.startswith("<!DOCTYPE html>") and "<mark" in page
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    fragment = ex.render_html(ex.explain_texts(Runtime.load(bundle), [text])[0], page=False)
    assert fragment.startswith("<div") and "great" in fragment


def test_extensions_register_once():
    from spacy.tokens import Span

    ex.register_extensions()
    ex.register_extensions()
    assert Span.has_extension(ex.WEIGHT_ATTR)


def _polarity_reviews(n: int):
    root = Path(os.environ.get("TOOLKIT_POLARITY_DIR", Path(__file__).resolve().parents[3] / "shared/data/review_polarity"))
    files = sorted((root / "txt_sentoken").glob("*/cv9*.txt")) if (root / "txt_sentoken").is_dir() else \
        sorted(root.glob("*/cv9*.txt"))
    random.Random(0).shuffle(files)
    return [f.read_text(encoding="utf-8", errors="replace") for f in files[:n]]


def test_deletion_test_on_50_test_reviews():
    """Removing the 5 strongest positive terms lowers P(POSITIVE) more than removing 5 random words."""
    from toolkit.serving.component_bundle import default_model_path

    reviews = _polarity_reviews(50)
    if len(reviews) < 50 or not (default_model_path() / "bundle.json").is_file():
        pytest.skip("needs the polarity corpus (TOOLKIT_POLARITY_DIR) and the shipped default model")
    rt = Runtime.load(default_model_path())
    pos = rt.labels.index("POSITIVE")
    rng = random.Random(0)
    wins = 0
    for text, e in zip(reviews, ex.explain_texts(rt, reviews, top=None)):
        top5 = [t for t in e.terms if t.weight > 0][:5]
        rand = rng.sample(e.words, 5)
        variants = [text] + [_cut(text, terms) for terms in (top5, rand)]
        p = rt.score(variants)[:, pos]
        wins += (p[0] - p[1]) > (p[0] - p[2])
    assert wins >= 40, f"{wins}/50"


def _cut(text, terms):
    for t in sorted(terms, key=lambda t: -t.start):
        text = text[:t.start] + " " + text[t.end:]
    return text
