"""Multi-label bundles in the serving half, on the hand-made toy ONNX bundle (no TensorFlow): bundle.json's
``multi_label`` and ``thresholds`` checked on load, records with the labels over their thresholds, the spaCy
component scored like ``textcat_multilabel`` at the bundle's thresholds, ``toolkit score``'s list column."""

from __future__ import annotations

import json

import numpy as np
import pytest

import model_factory as mf
from toolkit.core.bundle import read_bundle
from toolkit.core.errors import BundleError
from toolkit.serving.runtime import Runtime

TEXTS = ["a superb, gripping film", "dull and boring", "the plot", "", "great but tedious and bland"]
THRESHOLDS = {"NEGATIVE": 0.35, "POSITIVE": 0.45}  # both labels for P(POSITIVE) in [0.45, 0.65]


@pytest.fixture
def multi(tmp_path):
    return mf.make_onnx_bundle(tmp_path / "multi", multi_label=True, thresholds=THRESHOLDS)


def test_a_multi_label_record_lists_the_labels_over_their_thresholds(multi):
    rt = Runtime.load(multi)
    assert rt.multi_label and rt.thresholds.tolist() == pytest.approx([0.35, 0.45])
    probs = rt.score(TEXTS)
    records = rt.to_records(probs)
    for row, record in zip(probs, records):
        assert set(record) == {"labels", "probabilities"}
        assert record["labels"] == [lab for lab, p, t in zip(rt.labels, row, (0.35, 0.45)) if p >= t]
        assert record["probabilities"] == {lab: float(p) for lab, p in zip(rt.labels, row)}
    assert records[0]["labels"] == ["POSITIVE"] and records[1]["labels"] == ["NEGATIVE"]
    assert [len(r["labels"]) for r in records][2] == 2  # a neutral text: both labels
    assert rt.predict(TEXTS) == records
    exclusive = Runtime.load(mf.make_onnx_bundle(multi.parent / "plain"))
    assert not exclusive.multi_label and exclusive.thresholds is None and "label" in exclusive.predict(["dull"])[0]
    with pytest.raises(BundleError, match="is exclusive"):
        exclusive.decide(probs)


def test_a_multi_label_bundle_without_thresholds_decides_at_half(tmp_path):
    info = read_bundle(mf.make_onnx_bundle(tmp_path / "b", multi_label=True))
    assert info.multi_label and info.thresholds == [0.5, 0.5]
    assert read_bundle(mf.make_onnx_bundle(tmp_path / "plain")).thresholds is None


@pytest.mark.parametrize("fields, message", [
    ({"multi_label": "yes"}, r"'multi_label' must be true or false, got 'yes'"),
    ({"thresholds": THRESHOLDS}, r"'thresholds' is set but 'multi_label' is not true"),
    ({"multi_label": True, "thresholds": {"POSITIVE": 0.5}},
     r"'thresholds' must map each label \(NEGATIVE, POSITIVE\)"),
    ({"multi_label": True, "thresholds": {"POSITIVE": 0.5, "NEGATIVE": 1.5}}, r"'thresholds' of 'NEGATIVE' must be a "
                                                                             r"number from 0 to 1, got 1.5"),
    ({"multi_label": True, "calibration": {"method": "temperature", "temperature": 2.0}},
     r"calibration method 'temperature' does not apply to a multi-label bundle"),
    ({"calibration": {"method": "label-temperature", "temperatures": {"NEGATIVE": 1.0, "POSITIVE": 2.0}}},
     r"'label-temperature' does not apply to an exclusive bundle"),
])
def test_bad_label_mode_fields_are_refused_in_one_line(tmp_path, fields, message):
    bundle = mf.make_onnx_bundle(tmp_path / "b", **fields)
    with pytest.raises(BundleError, match=message) as info:
        Runtime.load(bundle)
    assert "\n" not in str(info.value)


def test_label_temperatures_are_applied_to_every_score(tmp_path):
    from toolkit.core.calibration import apply_label_temperatures

    temps = {"NEGATIVE": 0.5, "POSITIVE": 2.0}
    raw = Runtime.load(mf.make_onnx_bundle(tmp_path / "raw", multi_label=True))
    cal = Runtime.load(mf.make_onnx_bundle(tmp_path / "cal", multi_label=True,
                                           calibration={"method": "label-temperature", "temperatures": temps}))
    np.testing.assert_allclose(cal.score(TEXTS), apply_label_temperatures(raw.score(TEXTS), [0.5, 2.0]), atol=1e-7)


def test_the_component_scores_like_textcat_multilabel_at_the_bundle_thresholds(multi):
    import spacy
    from spacy.scorer import Scorer
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": str(multi)})
    pipe = nlp.get_pipe("review_sentiment")
    assert pipe.multi_label
    rt = Runtime.load(multi)
    docs = list(nlp.pipe(TEXTS))
    np.testing.assert_allclose([[d.cats[lab] for lab in rt.labels] for d in docs], rt.score(TEXTS), atol=1e-7)
    gold = [{"NEGATIVE": 0.0, "POSITIVE": 1.0}, {"NEGATIVE": 1.0, "POSITIVE": 0.0}, {"NEGATIVE": 0.0, "POSITIVE": 0.0},
            {"NEGATIVE": 1.0, "POSITIVE": 0.0}, {"NEGATIVE": 1.0, "POSITIVE": 1.0}]
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": g}) for t, g in zip(TEXTS, gold)]
    scores = nlp.evaluate(examples)
    # the keys and the overall score of spaCy's own multi-label scorer
    reference = Scorer.score_cats([Example(d, e.reference) for d, e in zip(docs, examples)], "cats",
                                  labels=rt.labels, multi_label=True)
    assert set(reference) <= set(scores) and scores["cats_score_desc"] == "macro AUC"
    assert scores["cats_macro_auc"] == pytest.approx(reference["cats_macro_auc"])  # AUC: thresholds do not matter
    # P/R/F: each label decided at its own threshold
    probs = rt.score(TEXTS)
    for j, label in enumerate(rt.labels):
        chosen = probs[:, j] >= THRESHOLDS[label]
        truth = np.array([g[label] for g in gold]) > 0
        tp, fp, fn = int((chosen & truth).sum()), int((chosen & ~truth).sum()), int((~chosen & truth).sum())
        assert scores["cats_f_per_type"][label]["p"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
        assert scores["cats_f_per_type"][label]["r"] == pytest.approx(tp / (tp + fn) if tp + fn else 0.0)
    # one cut for every label, when asked
    at_half = pipe.score([Example(d, e.reference) for d, e in zip(docs, examples)], threshold=0.5)
    expected = Scorer.score_cats([Example(d, e.reference) for d, e in zip(docs, examples)], "cats",
                                 labels=rt.labels, multi_label=True, threshold=0.5)
    assert at_half["cats_f_per_type"] == expected["cats_f_per_type"]


def test_toolkit_score_writes_the_labels_over_their_thresholds_as_a_list(multi, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    from toolkit.serving.scoring import score_files

    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    score_files(multi, [tmp_path / "in.jsonl"], tmp_path / "out")
    table = pq.read_table(tmp_path / "out" / "in.parquet")
    rt = Runtime.load(multi)
    assert table.column("label").to_pylist() == [r["labels"] for r in rt.predict(TEXTS)]
    label_type = table.schema.field("label").type
    assert pa.types.is_list(label_type) and pa.types.is_string(label_type.value_type)
    score_files(multi, [tmp_path / "in.jsonl"], tmp_path / "two", workers=2, fmt="jsonl")  # the worker pool's path
    rows = [json.loads(line) for line in (tmp_path / "two" / "in.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == [r["labels"] for r in rt.predict(TEXTS)]


def test_predict_file_counts_documents_per_label(multi, tmp_path):
    from toolkit.serving.predict_io import predict_file

    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n")
    summary = predict_file(multi, tmp_path / "in.txt", tmp_path / "out.jsonl", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert summary["labels"] == {lab: sum(lab in r["labels"] for r in rows) for lab in ("NEGATIVE", "POSITIVE")}


def test_explain_a_multi_label_bundle_uses_the_label_s_own_odds(multi):
    from toolkit.serving.occlusion import explain_texts, log_odds

    rt = Runtime.load(multi)
    text = "a superb film but dull"
    top, = explain_texts(rt, [text])
    probs = rt.score([text])
    assert top.label == rt.labels[int(np.argmax(probs[0]))]  # the most probable label, even of two
    neg, = explain_texts(rt, [text], label="NEGATIVE")
    words = {t.text: t.weight for t in neg.words}
    assert words["dull"] > 0 > words["superb"]
    p = np.array([[0.9, 0.8]])
    assert log_odds(p, 0, multi_label=True)[0] == pytest.approx(np.log(0.9 / 0.1))


def test_serve_returns_labels_for_a_multi_label_bundle(multi):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from toolkit.serving.http import ServeSettings, create_app

    rt = Runtime.load(multi)
    with TestClient(create_app(multi, ServeSettings())) as client:
        answer = client.post("/v1/score", json={"texts": TEXTS})
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"] == rt.predict(TEXTS)
        info = client.get("/v1/model").json()
        assert info["multi_label"] is True and info["thresholds"] == pytest.approx(THRESHOLDS)
