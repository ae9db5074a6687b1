"""The spaCy component ``review_sentiment`` (issue 6).

Most tests use hand-made ONNX bundles (``tests/spacy_helpers.py``: built with the
``onnx`` package in milliseconds, served by the same runtime as an exported Keras
model). One slow test goes through the real path: ``train_model`` -> ``export_model``
-> ``nlp.add_pipe``. Tests that must prove something about a *fresh* process
(no TensorFlow imported, the entry point found without importing toolkit,
``spacy.load`` of a saved pipeline) run a new interpreter.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import spacy
from spacy.lang.en import English
from spacy.training import Example

from boundary import assert_serving_only, report_code
from spacy_helpers import LABELS, SNIPPET_LOAD, lexicon_bundle, run_python
from toolkit.serving import component_bundle, spacy_component
from toolkit.core.errors import BundleError
from toolkit.serving.runtime import Runtime
from toolkit.serving.spacy_component import ReviewSentiment

HEAVY = ("tensorflow", "keras", "tf2onnx", "gensim")
SNIPPET_TEXT = "A tense, beautifully acted film; I loved every minute."
REVIEWS = [
    SNIPPET_TEXT,
    "A boring, awful mess. The worst film of the year, a waste of time.",
    "The plot is dull but the actor is great.",
    "",
    "   ",
    "good good good bad",
    "Brilliant! Wonderful story, the best movie I have seen.",
    "I hated every minute of this dull movie.",
    "A film.",
    "bad " * 500,
]
DEFAULT_BUNDLE = component_bundle.DEFAULT_MODEL_DIR


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """nltk tokenizer, dynamic length policy."""
    return lexicon_bundle(tmp_path_factory.mktemp("bundles") / "lexicon-nltk")


@pytest.fixture(scope="session")
def spacy_bundle(tmp_path_factory) -> Path:
    """spaCy tokenizer (takes the Doc as it is), fixed length policy."""
    return lexicon_bundle(tmp_path_factory.mktemp("bundles") / "lexicon-spacy", tokenizer="spacy", policy="fixed")


@pytest.fixture(params=["nltk", "spacy"])
def any_bundle(request, bundle, spacy_bundle) -> Path:
    return bundle if request.param == "nltk" else spacy_bundle


def make_nlp(bundle: Path, *, before: tuple[str, ...] = (), **config) -> spacy.language.Language:
    nlp = spacy.blank("en")
    for name in before:
        nlp.add_pipe(name)
    nlp.add_pipe("review_sentiment", config={"model": str(bundle), **config})
    return nlp


def cats_of(docs) -> list[dict[str, float]]:
    return [dict(doc.cats) for doc in docs]


def assert_same_cats(a: list[dict[str, float]], b: list[dict[str, float]], tol: float = 1e-6) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert list(x) == list(y)
        assert x == pytest.approx(y, abs=tol)


# ---------------------------------------------------------------------------
# basics
# ---------------------------------------------------------------------------
def test_add_pipe_with_explicit_bundle_sets_cats(any_bundle):
    nlp = make_nlp(any_bundle)
    component = nlp.get_pipe("review_sentiment")
    assert isinstance(component, ReviewSentiment)
    assert component.labels == tuple(LABELS)
    assert component.bundle_path == any_bundle
    assert component.cfg["model"] == str(any_bundle)
    assert component.cfg["batch_size"] == 64 and component.cfg["threshold"] == 0.5
    assert nlp.get_pipe_meta("review_sentiment").assigns == ["doc.cats"]

    pos = nlp(SNIPPET_TEXT)
    neg = nlp("A boring, awful mess.")
    for doc in (pos, neg):
        assert list(doc.cats) == LABELS
        assert all(isinstance(v, float) for v in doc.cats.values())
        assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)
    assert pos.cats["POSITIVE"] > 0.9
    assert neg.cats["NEGATIVE"] > 0.9


def test_cats_equal_the_runtime_scores(any_bundle):
    """The component adds nothing of its own: its cats are the runtime's probabilities."""
    nlp = make_nlp(any_bundle)
    expected = Runtime.load(any_bundle).score(REVIEWS)
    docs = list(nlp.pipe(REVIEWS, batch_size=3))
    got = np.array([[doc.cats[label] for label in LABELS] for doc in docs])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert_same_cats(cats_of(docs), [nlp(text).cats for text in REVIEWS])


def test_settings_from_config(bundle):
    nlp = make_nlp(bundle, batch_size=7, threshold=0.3, threads=1)
    component = nlp.get_pipe("review_sentiment")
    assert component.cfg == {"model": str(bundle), "threshold": 0.3, "batch_size": 7, "threads": 1,
                             "labels": LABELS, "bundle_id": component.bundle_id}
    assert component.bundle_id == json.loads((bundle / "bundle.json").read_text())["bundle_id"]
    assert component.runtime.session.get_session_options().intra_op_num_threads == 1
    assert nlp(SNIPPET_TEXT).cats["POSITIVE"] > 0.9


def test_bad_settings_are_refused(bundle):
    with pytest.raises(ValueError, match="batch_size"):
        make_nlp(bundle, batch_size=0)
    with pytest.raises(ValueError, match="threads"):
        make_nlp(bundle, threads=-1)


# ---------------------------------------------------------------------------
# errors at add_pipe time
# ---------------------------------------------------------------------------
def test_missing_bundle_path_is_a_clear_error_at_add_pipe(tmp_path):
    missing = tmp_path / "no" / "such-bundle"
    nlp = spacy.blank("en")
    with pytest.raises(BundleError) as info:
        nlp.add_pipe("review_sentiment", config={"model": str(missing)})
    message = str(info.value)
    assert message.startswith("[E070]")
    assert str(missing) in message
    assert "review_sentiment" in message and "does not exist" in message and "toolkit export" in message
    assert isinstance(info.value, ValueError)  # like spaCy's own config errors
    assert nlp.pipe_names == []


def test_folder_that_is_not_a_bundle_is_refused_at_add_pipe(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    nlp = spacy.blank("en")
    with pytest.raises(BundleError, match="bundle.json is missing.*toolkit export"):
        nlp.add_pipe("review_sentiment", name="mine", config={"model": str(tmp_path)})


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(component_bundle, "DEFAULT_MODEL_DIR", tmp_path / "models" / "default")
    nlp = spacy.blank("en")
    with pytest.raises(BundleError) as info:
        nlp.add_pipe("review_sentiment")
    message = str(info.value)
    assert "shipped default model" in message and str(tmp_path / "models" / "default") in message
    assert '"model"' in message  # says how to pass a bundle instead


def test_empty_model_means_the_default_model_dir(bundle, monkeypatch):
    """``model = ""`` loads whatever is in ``toolkit/serving/models/default`` (here: a stand-in)."""
    monkeypatch.setattr(component_bundle, "DEFAULT_MODEL_DIR", bundle)
    nlp = spacy.blank("en")
    component = nlp.add_pipe("review_sentiment")
    assert component.cfg["model"] == "" and component.bundle_path == bundle
    assert nlp(SNIPPET_TEXT).cats["POSITIVE"] > 0.9


def test_damaged_bundle_is_refused_at_add_pipe(bundle, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(bundle, damaged)
    with open(damaged / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="(checksum|size) mismatch for model.onnx"):
        make_nlp(damaged)


def test_component_without_bundle_says_what_to_do():
    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": None})
    with pytest.raises(BundleError, match="has no model bundle.*from_disk"):
        nlp("good film")


# ---------------------------------------------------------------------------
# batches, empty and long docs
# ---------------------------------------------------------------------------
class CountingSession:
    """Wraps an onnxruntime session and counts ``run`` calls and their batch sizes."""

    def __init__(self, session):
        self.session = session
        self.batches: list[int] = []

    def run(self, outputs, feeds):
        self.batches.append(len(next(iter(feeds.values()))))
        return self.session.run(outputs, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


def test_pipe_makes_one_onnxruntime_call_per_batch(bundle, monkeypatch):
    nlp = make_nlp(bundle)
    component = nlp.get_pipe("review_sentiment")
    runtime = component.runtime
    counter = CountingSession(runtime.session)
    monkeypatch.setattr(runtime, "session", counter)
    score_ids_calls: list[int] = []
    original = runtime.score_ids

    def counting_score_ids(id_lists, *args, **kwargs):
        score_ids_calls.append(len(id_lists))
        return original(id_lists, *args, **kwargs)

    monkeypatch.setattr(runtime, "score_ids", counting_score_ids)
    texts = [f"good film number {i}" for i in range(20)]
    docs = list(nlp.pipe(texts, batch_size=8))
    assert len(docs) == 20 and all(doc.cats["POSITIVE"] > 0.5 for doc in docs)
    assert score_ids_calls == [8, 8, 4]
    assert counter.batches == [8, 8, 4]

    # cfg batch_size caps one onnxruntime call: a 20-doc minibatch with batch_size 8 -> 3 calls
    counter.batches.clear()
    score_ids_calls.clear()
    component.cfg["batch_size"] = 8
    list(nlp.pipe(texts, batch_size=100))
    assert score_ids_calls == [20]
    assert sorted(counter.batches) == [4, 8, 8]


def test_empty_texts_get_a_defined_score(any_bundle):
    nlp = make_nlp(any_bundle)
    empty = nlp("")
    assert list(empty.cats) == LABELS
    assert sum(empty.cats.values()) == pytest.approx(1.0, abs=1e-5)
    # The lexicon model's all-padding score is softmax(bias): NEGATIVE 0.599
    assert empty.cats["NEGATIVE"] == pytest.approx(1 / (1 + np.exp(-0.4)), abs=1e-5)
    # Only white space / punctuation: no tokens left either; the same defined score
    assert_same_cats([nlp("  \n ").cats, nlp("!!! ...").cats], [empty.cats, empty.cats])
    # A batch of nothing but empty docs, and an empty stream, do not crash
    docs = list(nlp.pipe(["", "", " "]))
    assert_same_cats(cats_of(docs), [empty.cats] * 3)
    assert list(nlp.pipe([])) == []
    component = nlp.get_pipe("review_sentiment")
    assert component.predict([]).shape == (0, 2)
    # An empty doc's score does not depend on the batch it is in
    mixed = list(nlp.pipe(["", SNIPPET_TEXT, "", "awful"], batch_size=4))
    assert_same_cats([mixed[0].cats, mixed[2].cats], [empty.cats, empty.cats])


def test_one_megabyte_text(any_bundle):
    nlp = make_nlp(any_bundle)
    nlp.max_length = 2_000_000  # spaCy's own limit is 1,000,000 characters
    text = ("I loved this film, a wonderful story. " * 30_000)[:1_000_000]
    assert len(text) == 1_000_000
    doc = nlp(text)
    assert doc.cats["POSITIVE"] > 0.9
    assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)


def test_works_after_a_sentencizer(any_bundle):
    plain = make_nlp(any_bundle)
    nlp = make_nlp(any_bundle, before=("sentencizer",))
    assert nlp.pipe_names == ["sentencizer", "review_sentiment"]
    texts = ["A tense film. I loved every minute! But the plot is dull.", "Awful. Boring. A mess.", ""]
    docs = list(nlp.pipe(texts))
    assert len(list(docs[0].sents)) == 3  # the sentencizer ran and the Doc went on as it is
    assert_same_cats(cats_of(docs), cats_of(plain.pipe(texts)))


def test_score_docs_gets_the_doc_itself(spacy_bundle, monkeypatch):
    """After other components the runtime's tokenizer receives the Doc, not its text."""
    nlp = make_nlp(spacy_bundle, before=("sentencizer",))
    runtime = nlp.get_pipe("review_sentiment").runtime
    seen = []
    original = runtime.tokenizer

    def spy(doc):
        seen.append(doc)
        return original(doc)

    monkeypatch.setattr(runtime, "tokenizer", spy)
    doc = nlp("Great film. Loved it.")
    assert seen == [doc] and doc.has_annotation("SENT_START")


# ---------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------
def test_nlp_evaluate_reports_textcat_scores(bundle):
    nlp = make_nlp(bundle)
    gold = [
        (SNIPPET_TEXT, "POSITIVE"),
        ("Brilliant, the best movie.", "POSITIVE"),
        ("A boring, awful mess.", "NEGATIVE"),
        ("I hated this dull film.", "NEGATIVE"),
        ("Good actor, but an awful, boring, dull plot.", "POSITIVE"),  # the lexicon model gets this one wrong
    ]
    examples = []
    for text, label in gold:
        cats = {name: float(name == label) for name in LABELS}
        examples.append(Example.from_dict(nlp.make_doc(text), {"cats": cats}))
    scores = nlp.evaluate(examples)
    for key in ("cats_score", "cats_score_desc", "cats_micro_f", "cats_macro_f", "cats_macro_auc",
                "cats_f_per_type", "cats_auc_per_type"):
        assert key in scores, key
    assert scores["cats_score_desc"] == "macro F"
    per_type = scores["cats_f_per_type"]
    assert set(per_type) == set(LABELS)
    # POSITIVE: 2 tp, 1 fn; NEGATIVE: 2 tp, 1 fp
    assert per_type["POSITIVE"]["p"] == pytest.approx(1.0) and per_type["POSITIVE"]["r"] == pytest.approx(2 / 3)
    assert per_type["NEGATIVE"]["p"] == pytest.approx(2 / 3) and per_type["NEGATIVE"]["r"] == pytest.approx(1.0)
    assert scores["cats_score"] == pytest.approx(0.8)
    assert scores["cats_micro_f"] == pytest.approx(0.8)
    # The component's score weights are textcat's: cats_score is what training would select on
    assert nlp.config["training"]["score_weights"]["cats_score"] == 1.0

    # the component's own score() agrees, and kwargs override (spaCy's binary positive_label)
    component = nlp.get_pipe("review_sentiment")
    own = component.score([Example(nlp(eg.reference.text), eg.reference) for eg in examples],
                          positive_label="POSITIVE")
    assert own["cats_score_desc"] == "F (POSITIVE)"
    assert own["cats_score"] == pytest.approx(0.8)


# ---------------------------------------------------------------------------
# serialisation
# ---------------------------------------------------------------------------
def test_to_disk_from_disk_carries_the_bundle(bundle, tmp_path):
    own = tmp_path / "own-bundle"
    shutil.copytree(bundle, own)
    nlp = make_nlp(own)
    before = cats_of(nlp.pipe(REVIEWS))
    nlp.to_disk(tmp_path / "pipeline")
    saved = tmp_path / "pipeline" / "review_sentiment"
    assert sorted(p.name for p in (saved / "bundle").iterdir()) == sorted(p.name for p in own.iterdir())
    assert json.loads((saved / "cfg.json").read_text())["labels"] == LABELS

    loaded = spacy.load(tmp_path / "pipeline")
    component = loaded.get_pipe("review_sentiment")
    assert component.bundle_path == saved / "bundle"
    assert_same_cats(cats_of(loaded.pipe(REVIEWS)), before)

    # from_disk returns self; saving into the folder the pipeline came from keeps the bundle
    assert component.from_disk(saved) is component
    loaded.to_disk(tmp_path / "pipeline")
    assert (saved / "bundle" / "model.onnx").is_file()
    assert_same_cats(cats_of(spacy.load(tmp_path / "pipeline").pipe(REVIEWS)), before)

    # Without the original bundle (another machine): model = null takes the bundle from disk only
    shutil.rmtree(own)
    with pytest.raises(BundleError, match="does not exist.*components.review_sentiment.model"):
        spacy.load(tmp_path / "pipeline")
    elsewhere = spacy.load(tmp_path / "pipeline", config={"components.review_sentiment.model": None})
    assert_same_cats(cats_of(elsewhere.pipe(REVIEWS)), before)


def test_to_disk_then_spacy_load_in_a_fresh_process(bundle, spacy_bundle, tmp_path):
    before = []
    paths = []
    for i, source in enumerate((bundle, spacy_bundle)):
        nlp = make_nlp(source, before=("sentencizer",) if i else ())
        before.extend(cats_of(nlp.pipe(REVIEWS)))
        nlp.to_disk(tmp_path / f"pipeline-{i}")
        paths.append(str(tmp_path / f"pipeline-{i}"))
    result = run_python(SNIPPET_LOAD, *paths, json.dumps(REVIEWS))
    assert_serving_only(result)
    assert_same_cats(result["cats"], before)


def test_to_bytes_from_bytes_and_pickle(bundle):
    nlp = make_nlp(bundle, batch_size=5)
    before = cats_of(nlp.pipe(REVIEWS))
    component = nlp.get_pipe("review_sentiment")

    other = spacy.blank("en")
    fresh = other.add_pipe("review_sentiment", config={"model": None, "batch_size": 5})
    assert fresh.labels == ()
    assert fresh.from_bytes(component.to_bytes()) is fresh
    assert fresh.labels == tuple(LABELS)
    assert_same_cats(cats_of(other.pipe(REVIEWS)), before)

    # nlp.to_bytes / from_bytes goes through the component's own methods
    again = spacy.blank("en")
    again.add_pipe("review_sentiment", config={"model": None, "batch_size": 5})
    again.from_bytes(nlp.to_bytes())
    assert_same_cats(cats_of(again.pipe(REVIEWS)), before)

    # pickle (spawn-based multiprocessing) carries the bundle as bytes and the settings
    copy = pickle.loads(pickle.dumps(component))
    assert copy.cfg == component.cfg and copy.name == component.name
    assert copy.bundle_path != component.bundle_path  # its own copy of the files
    np.testing.assert_allclose(copy.predict([nlp.make_doc(t) for t in REVIEWS]),
                               component.predict([nlp.make_doc(t) for t in REVIEWS]), atol=1e-6)
    whole = pickle.loads(pickle.dumps(nlp))
    assert_same_cats(cats_of(whole.pipe(REVIEWS)), before)


def test_loads_from_a_config_string(bundle):
    reference = cats_of(make_nlp(bundle).pipe(REVIEWS))
    config_str = f"""
[nlp]
lang = "en"
pipeline = ["sentencizer", "review_sentiment"]

[components]

[components.sentencizer]
factory = "sentencizer"

[components.review_sentiment]
factory = "review_sentiment"
model = "{bundle}"
batch_size = 4
"""
    config = spacy.util.load_config_from_str(config_str)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    assert nlp.pipe_names == ["sentencizer", "review_sentiment"]
    assert nlp.get_pipe("review_sentiment").cfg["batch_size"] == 4
    assert_same_cats(cats_of(nlp.pipe(REVIEWS)), reference)

    nlp2 = English.from_config(config)
    assert_same_cats(cats_of(nlp2.pipe(REVIEWS)), reference)
    # the filled config names every setting, with textcat's scorer
    filled = nlp2.config["components"]["review_sentiment"]
    assert filled["threshold"] == 0.5 and filled["threads"] == 0
    assert filled["scorer"] == {"@scorers": "spacy.textcat_scorer.v2"}


# ---------------------------------------------------------------------------
# multiprocessing
# ---------------------------------------------------------------------------
MULTIPROCESS = """
import json, multiprocessing, sys
import spacy

if __name__ == "__main__":
    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": sys.argv[1]})
    texts = json.loads(sys.argv[2])
    one = [doc.cats for doc in nlp.pipe(texts, batch_size=4)]
    # the parent's onnxruntime session has done real work (its thread pool waits) before forking
    list(nlp.pipe(["a good film"] * 2000, batch_size=50))
    fork = [doc.cats for doc in nlp.pipe(texts, n_process=2, batch_size=3)]
    # spawned workers get the pipeline pickled: the component travels as its bundle bytes
    multiprocessing.set_start_method("spawn", force=True)
    spawn = [doc.cats for doc in nlp.pipe(texts, n_process=2, batch_size=3)]
    print(json.dumps({"one": one, "fork": fork, "spawn": spawn}))
"""


def test_n_process_2_gives_the_same_cats(bundle):
    """``nlp.pipe(texts, n_process=2)``, forked and spawned, in a fresh process (a hang fails, not blocks)."""
    texts = REVIEWS * 3
    result = run_python(MULTIPROCESS, str(bundle), json.dumps(texts), timeout=240)
    assert len(result["one"]) == len(texts)
    assert_same_cats(result["one"], cats_of(make_nlp(bundle).pipe(texts)))
    assert_same_cats(result["fork"], result["one"])
    assert_same_cats(result["spawn"], result["one"])


def test_forked_worker_opens_its_own_session(bundle, monkeypatch):
    """A forked worker must not use, nor free, the parent's onnxruntime session."""
    nlp = make_nlp(bundle)
    component = nlp.get_pipe("review_sentiment")
    parent_runtime = component.runtime
    monkeypatch.setattr(spacy_component, "_INHERITED_RUNTIMES", [])
    monkeypatch.setattr(component, "_runtime_pid", -1)  # as seen from a forked child
    child_runtime = component.runtime
    assert child_runtime is not parent_runtime
    assert spacy_component._INHERITED_RUNTIMES == [parent_runtime]  # parked, never freed
    assert component.runtime is child_runtime


# ---------------------------------------------------------------------------
# the issue's snippet, in a fresh process
# ---------------------------------------------------------------------------
SNIPPET = report_code() + """
import json, sys
import spacy
nlp = spacy.blank("en")
# spaCy imports every spacy_factories entry point here; that must stay cheap
heavy_at_blank = [m for m in ("onnxruntime", "tensorflow", "keras", "tf2onnx", "gensim") if m in sys.modules]
if len(sys.argv) > 1:
    nlp.add_pipe("review_sentiment", config={"model": sys.argv[1]})
else:
    nlp.add_pipe("review_sentiment")
doc = nlp("A tense, beautifully acted film; I loved every minute.")
docs = list(nlp.pipe(["An awful, boring mess.", ""]))
print(json.dumps({"cats": doc.cats, "more": [d.cats for d in docs], **_boundary_report(),
                  "heavy_at_blank": heavy_at_blank, "toolkit": "toolkit.serving.spacy_component" in sys.modules}))
"""


def _check_snippet(result: dict) -> None:
    assert result["toolkit"]  # found through the spacy_factories entry point (the snippet imports no toolkit)
    assert result["heavy_at_blank"] == [], "spacy.blank() imports the component module: keep it light"
    assert_serving_only(result)
    cats = result["cats"]
    assert set(cats) == {"POSITIVE", "NEGATIVE"}
    assert sum(cats.values()) == pytest.approx(1.0, abs=1e-4)
    assert cats["POSITIVE"] > cats["NEGATIVE"]
    for more in result["more"]:
        assert set(more) == {"POSITIVE", "NEGATIVE"}


def test_issue_snippet_in_a_fresh_process_with_a_bundle(bundle):
    result = run_python(SNIPPET, str(bundle))
    _check_snippet(result)
    assert result["cats"]["POSITIVE"] > 0.9
    assert result["more"][0]["NEGATIVE"] > 0.9


@pytest.mark.skipif(not (DEFAULT_BUNDLE / "bundle.json").is_file(),
                    reason=f"the shipped default model is not built yet ({DEFAULT_BUNDLE})")
def test_issue_snippet_in_a_fresh_process_with_the_shipped_default():
    result = run_python(SNIPPET)
    _check_snippet(result)


@pytest.mark.skipif(not (DEFAULT_BUNDLE / "bundle.json").is_file(),
                    reason=f"the shipped default model is not built yet ({DEFAULT_BUNDLE})")
def test_default_model_is_the_shipped_bundle():
    nlp = spacy.blank("en")
    component = nlp.add_pipe("review_sentiment")
    assert component.bundle_path == DEFAULT_BUNDLE
    assert set(component.labels) == {"POSITIVE", "NEGATIVE"}
    size = sum(p.stat().st_size for p in DEFAULT_BUNDLE.iterdir() if p.is_file())
    assert size <= 10 * 2**20, f"the default bundle is {size / 2**20:.1f} MiB; aim for <= 10 MiB"
    doc = nlp("A tense, beautifully acted film; I loved every minute.")
    assert doc.cats["POSITIVE"] > doc.cats["NEGATIVE"]


# ---------------------------------------------------------------------------
# the real path: train -> export -> spaCy
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def real_bundle() -> Path:
    """A tiny Keras model trained and exported by the real code (tests/model_factory.py, cached)."""
    model_factory = pytest.importorskip("model_factory")
    return model_factory.exported_bundle()  # the default (cnn), shared with the export tests


@pytest.mark.slow
def test_trained_and_exported_bundle_serves_from_spacy(real_bundle, tmp_path):
    import model_factory

    texts = ["A great, gripping film with a superb cast.", "A dull, tedious plot and awful acting.", "",
             "The movie " * 200]
    nlp = make_nlp(real_bundle, before=("sentencizer",))
    docs = list(nlp.pipe(texts, batch_size=2))
    component = nlp.get_pipe("review_sentiment")
    assert component.labels == tuple(model_factory.LABELS)
    got = np.array([[doc.cats[label] for label in component.labels] for doc in docs])
    np.testing.assert_allclose(got, Runtime.load(real_bundle).score(texts), atol=1e-6)
    assert docs[0].cats["POSITIVE"] > docs[0].cats["NEGATIVE"]
    assert docs[1].cats["NEGATIVE"] > docs[1].cats["POSITIVE"]

    nlp.to_disk(tmp_path / "pipeline")
    result = run_python(
        SNIPPET_LOAD, str(tmp_path / "pipeline"), json.dumps(texts),
    )
    assert_serving_only(result)
    assert_same_cats(result["cats"], cats_of(docs))
