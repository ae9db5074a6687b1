"""A four-class corpus (star ratings, ordered) end to end: train -> export -> the component, `toolkit score`,
`toolkit serve` and `toolkit explain` agree, metrics carry the ordinal view, nlp.evaluate reports textcat's keys."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pq = pytest.importorskip("pyarrow.parquet")

from corpora import RATING_WORDS, rated_corpus, tiny_config  # noqa: E402
from spacy_helpers import SNIPPET_LOAD, run_python  # noqa: E402

from toolkit.serving.runtime import Runtime  # noqa: E402

LABELS = list(RATING_WORDS)  # "1", "2", "4", "5": numeric order
TEXTS = ["The film was masterful and stunning.", "A dreadful, painful scene.", "The plot is dull and flat.",
         "A pleasant, decent story.", ""]


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """(model folder, bundle) of a small four-class model trained with labels declared ordered."""
    from toolkit.training.export import export_model
    from toolkit.training.experiment import train_model

    root = tmp_path_factory.mktemp("rated")
    data = rated_corpus(root / "ratings.jsonl")
    config = tiny_config(data, epochs=8, **{"data.label_field": "rating", "data.ordered": True,
                                            "training.calibration": "temperature"})
    metrics = train_model(config, root / "model", progress=False)
    bundle = export_model(root / "model", root / "bundle")
    return root, metrics, bundle


@pytest.mark.slow
def test_four_class_metrics_are_per_label_and_ordinal(rated):
    _, metrics, _ = rated
    assert metrics["labels"] == LABELS
    assert set(metrics["per_label"]) == set(LABELS)
    assert len(metrics["confusion_matrix"]) == 4 and all(len(row) == 4 for row in metrics["confusion_matrix"])
    ordinal = metrics["ordinal"]
    cm = np.array(metrics["confusion_matrix"])
    values = np.array([1.0, 2.0, 4.0, 5.0])
    # the MAE from the confusion matrix, in stars: rows are the true rating, columns the predicted one
    expected_mae = sum(cm[i, j] * abs(values[i] - values[j]) for i in range(4) for j in range(4)) / cm.sum()
    assert ordinal["mae"] == pytest.approx(expected_mae)
    assert sum(ordinal["off_by_steps"].values()) == metrics["n_test"]
    assert ordinal["off_by_steps"]["0"] == int(np.trace(cm))
    assert metrics["accuracy"] > 0.6  # learnable: two rating words per review
    assert metrics["calibration"]["test"]  # top-label calibration figures on the test split


@pytest.mark.slow
def test_four_class_bundle_scores_the_same_everywhere(rated, tmp_path):
    _, _, bundle = rated
    rt = Runtime.load(bundle)
    assert rt.labels == LABELS
    expected = rt.score(TEXTS)
    assert expected.shape == (len(TEXTS), 4)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, atol=1e-5)
    assert [r["label"] for r in rt.predict(TEXTS[:4])] == ["5", "1", "2", "4"]

    # the spaCy component: doc.cats with every label, nlp.evaluate with textcat's keys
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": str(bundle)})
    docs = list(nlp.pipe(TEXTS))
    got = np.array([[doc.cats[label] for label in LABELS] for doc in docs])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    gold = ["5", "1", "2", "4"]
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {lab: float(lab == g) for lab in LABELS}})
                for t, g in zip(TEXTS[:4], gold)]
    scores = nlp.evaluate(examples)
    assert scores["cats_score"] == pytest.approx(1.0)  # macro-F1 over the four labels, all right
    assert set(scores["cats_f_per_type"]) == set(LABELS)

    # the pipeline round trip in a fresh process: the same cats
    nlp.to_disk(tmp_path / "pipeline")
    result = run_python(SNIPPET_LOAD, str(tmp_path / "pipeline"), json.dumps(TEXTS))
    loaded = np.array([[cats[label] for label in LABELS] for cats in result["cats"]])
    np.testing.assert_allclose(loaded, expected, atol=1e-6)

    # toolkit score: one column per label, equal to the runtime
    from toolkit.serving.scoring import score_files

    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    score_files(bundle, [tmp_path / "in.jsonl"], tmp_path / "scored")
    table = pq.read_table(tmp_path / "scored" / "in.parquet")
    scored = np.array([table.column(f"p_{label}").to_pylist() for label in LABELS]).T
    np.testing.assert_allclose(scored, expected, atol=1e-6)
    assert table.column("label").to_pylist()[:4] == ["5", "1", "2", "4"]

    # toolkit serve: the same probabilities
    from fastapi.testclient import TestClient

    from toolkit.serving.http import ServeSettings, create_app

    with TestClient(create_app(bundle, ServeSettings())) as client:
        answer = client.post("/v1/score", json={"texts": TEXTS})
        assert answer.status_code == 200, answer.text
        served = np.array([[r["probabilities"][label] for label in LABELS] for r in answer.json()["results"]])
    np.testing.assert_allclose(served, expected, atol=1e-6)


@pytest.mark.slow
def test_four_class_explain_explains_the_chosen_label(rated):
    from toolkit.serving.occlusion import explain_texts

    _, _, bundle = rated
    rt = Runtime.load(bundle)
    top, = explain_texts(rt, ["The film was masterful and stunning but the plot is dull."])
    assert top.label == "5"  # the top label by default
    chosen, = explain_texts(rt, ["The film was masterful and stunning but the plot is dull."], label="2")
    assert chosen.label == "2"
    words = {term.text.strip(".,"): term.weight for term in chosen.words}
    assert words["dull"] > 0 > words["masterful"]  # for 2 stars: "dull" speaks for it, "masterful" against


def test_ordered_labels_must_be_numbers(tmp_path):
    from toolkit.core.errors import TrainingError
    from toolkit.training.experiment import load_training_corpus

    path = tmp_path / "words.jsonl"
    path.write_text("".join(json.dumps({"text": f"text {i}", "label": lab}) + "\n"
                            for i, lab in enumerate(["bad", "good"] * 3)))
    config = tiny_config(path, **{"data.ordered": True})
    with pytest.raises(TrainingError, match=r"data.ordered = true: ordered labels must be numbers .*'bad' is not"):
        load_training_corpus(config)


def test_numeric_labels_are_ordered_by_value():
    from toolkit.training.corpus import Corpus, Document

    docs = [Document(f"t{i}", label) for i, label in enumerate(["10", "9", "2", "10"])]
    assert Corpus(docs, ordered=True).labels == ["2", "9", "10"]
    assert Corpus(docs).labels == ["10", "2", "9"]  # unordered labels keep their sorted-string order
