"""A multi-label run end to end, on real product reviews labelled with their domain and their polarity (six labels,
two per review: tests/corpora.py multi_label_reviews): `toolkit train --multi-label` -> `toolkit export` -> the
runtime, the spaCy component (doc.cats, nlp.evaluate like textcat_multilabel, spacy.load round trip), `toolkit
score`, `toolkit serve`, `toolkit explain` and `toolkit evaluate` agree; thresholds and calibration are per label."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pq = pytest.importorskip("pyarrow.parquet")

from corpora import multi_label_reviews  # noqa: E402
from spacy_helpers import SNIPPET_LOAD, run_python  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from toolkit.cli import app  # noqa: E402
from toolkit.serving.runtime import Runtime  # noqa: E402

LABELS = ["NEGATIVE", "POSITIVE", "books", "dvd", "electronics", "kitchen"]
DOMAINS = LABELS[2:]
TEXTS = ["This blender is sturdy and the coffee maker works great in my kitchen.",
         "The novel drags, the author rambles and the characters are flat. A boring read.",
         "Terrible headphones: the battery died after a week and the sound is awful.",
         "The film on this disc is wonderful, the actors are superb.", ""]


@pytest.fixture(scope="module")
def run(tmp_path_factory, multi_domain_path):
    """(root, metrics, bundle) of a small multi-label model trained and exported through the command line."""
    root = tmp_path_factory.mktemp("multi")
    data = multi_label_reviews(root / "reviews.jsonl")
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--data", str(data), "--out", str(root / "model"), "--multi-label",
                                  "--epochs", "8", "--batch-size", "16", "--set", "vocab.min_count=1",
                                  "--set", "training.max_len=80", "--set", "training.calibration=temperature",
                                  "--set", "training.short_text_words=0", "--quiet"])
    assert trained.exit_code == 0, trained.output
    assert "multi-label" in trained.output and "micro F1" in trained.output and "threshold" in trained.output
    exported = runner.invoke(app, ["export", str(root / "model"), "--out", str(root / "bundle")])
    assert exported.exit_code == 0, exported.output
    metrics = json.loads((root / "model" / "metrics.json").read_text())
    return root, metrics, root / "bundle"


@pytest.mark.slow
def test_metrics_thresholds_and_calibration_are_per_label(run):
    root, metrics, bundle = run
    assert metrics["multi_label"] is True and metrics["labels"] == LABELS and metrics["n_test"] == 80
    for key in ("micro_f1", "macro_f1", "samples_f1", "hamming_loss", "macro_auc", "accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert set(metrics["per_label"]) == set(LABELS) and metrics["per_label"]["books"]["support"] == 20
    assert metrics["macro_auc"] > 0.75  # real reviews: the domains are easy, the polarity harder
    assert np.mean([metrics["per_label"][d]["f1"] for d in DOMAINS]) > 0.6
    assert metrics["data"]["dev"]["documents"] == 64 and metrics["data"]["test"]["documents"] == 80
    assert "dev set" in metrics["threshold_choice"]["chosen_on"]
    calibration = metrics["calibration"]
    assert calibration["method"] == "label-temperature" and set(calibration["temperatures"]) == set(LABELS)
    assert set(calibration["test"]["after"]) >= {"ece", "brier", "log_loss", "ece_per_label"}
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["multi_label"] is True and meta["thresholds"] == metrics["thresholds"]
    assert meta["calibration"]["temperatures"] == calibration["temperatures"]
    assert meta["linear_path"]["linear"]["per_label"] and meta["parity"]["passed"]
    assert "multi_label = true" in (root / "model" / "config.toml").read_text()
    card = (bundle / "README.md").read_text()
    assert "multi-label: one independent probability per label" in card and "| kitchen |" in card
    # toolkit evaluate decides as the bundle does: the same figures
    evaluated = CliRunner().invoke(app, ["evaluate", str(root / "model"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads(evaluated.output)
    assert again["micro_f1"] == pytest.approx(metrics["micro_f1"]) and again["per_label"] == metrics["per_label"]


@pytest.mark.slow
def test_the_bundle_scores_the_same_everywhere(run, tmp_path):
    _, metrics, bundle = run
    rt = Runtime.load(bundle)
    assert rt.labels == LABELS and rt.multi_label
    expected = rt.score(TEXTS)
    assert expected.shape == (len(TEXTS), 6) and not np.allclose(expected.sum(axis=1), 1.0)
    records = rt.predict(TEXTS)
    cut = np.array([metrics["thresholds"][label] for label in LABELS])
    assert [r["labels"] for r in records] == [[lab for lab, on in zip(LABELS, row >= cut) if on] for row in expected]
    assert "kitchen" in records[0]["labels"] and "books" in records[1]["labels"]

    # the spaCy component: doc.cats with every label, nlp.evaluate like textcat_multilabel
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": str(bundle)})
    docs = list(nlp.pipe(TEXTS))
    got = np.array([[doc.cats[label] for label in LABELS] for doc in docs])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    gold = [("POSITIVE", "kitchen"), ("NEGATIVE", "books"), ("NEGATIVE", "electronics"), ("POSITIVE", "dvd")]
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {lab: float(lab in g) for lab in LABELS}})
                for t, g in zip(TEXTS, gold)]
    scores = nlp.evaluate(examples)
    assert scores["cats_score_desc"] == "macro AUC" and scores["cats_score"] == scores["cats_macro_auc"]
    assert set(scores["cats_f_per_type"]) == set(LABELS) and set(scores["cats_auc_per_type"]) == set(LABELS)
    decided = expected[:4] >= cut
    for j, label in enumerate(LABELS):  # each label counted at the bundle's threshold for it
        truth = np.array([label in g for g in gold])
        tp = int((decided[:, j] & truth).sum())
        assert scores["cats_f_per_type"][label]["r"] == pytest.approx(tp / truth.sum() if truth.sum() else 0.0)

    # the pipeline round trip in a fresh process: the same cats
    nlp.to_disk(tmp_path / "pipeline")
    result = run_python(SNIPPET_LOAD, str(tmp_path / "pipeline"), json.dumps(TEXTS))
    loaded = np.array([[cats[label] for label in LABELS] for cats in result["cats"]])
    np.testing.assert_allclose(loaded, expected, atol=1e-6)

    # toolkit score: one column per label, the label column a list of the labels over their thresholds
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    scored = CliRunner().invoke(app, ["score", str(bundle), str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s")])
    assert scored.exit_code == 0, scored.output
    table = pq.read_table(tmp_path / "s" / "in.parquet")
    columns = np.array([table.column(f"p_{label}").to_pylist() for label in LABELS]).T
    np.testing.assert_allclose(columns, expected, atol=1e-6)
    assert table.column("label").to_pylist() == [r["labels"] for r in records]

    # toolkit serve: the same probabilities and labels
    from fastapi.testclient import TestClient

    from toolkit.serving.http import ServeSettings, create_app

    with TestClient(create_app(bundle, ServeSettings())) as client:
        answer = client.post("/v1/score", json={"texts": TEXTS})
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
    served = np.array([[r["probabilities"][label] for label in LABELS] for r in results])
    np.testing.assert_allclose(served, expected, atol=1e-6)
    assert [r["labels"] for r in results] == [r["labels"] for r in records]


@pytest.mark.slow
def test_explain_a_chosen_label_of_a_multi_label_bundle(run):
    _, _, bundle = run
    explained = CliRunner().invoke(app, ["explain", str(bundle), TEXTS[0], "--label", "kitchen", "--json"])
    assert explained.exit_code == 0, explained.output
    explanation = json.loads(explained.output)
    assert explanation["label"] == "kitchen"
    from toolkit.serving.occlusion import explain_texts

    rt = Runtime.load(bundle)
    top, = explain_texts(rt, [TEXTS[0]])
    assert top.label == LABELS[int(np.argmax(rt.score([TEXTS[0]])[0]))]  # the most probable label by default
    kitchen, = explain_texts(rt, [TEXTS[0]], label="kitchen", top=None)
    words = {term.text.strip(".,:"): term.weight for term in kitchen.words}
    assert max(words, key=words.get) in {"blender", "coffee", "maker", "kitchen"}  # a kitchen word speaks for it
