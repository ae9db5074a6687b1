"""Temperature scaling: the fit, the metrics, training records it, and every serving path applies it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from toolkit.core.errors import BundleError, ConfigError
from toolkit.core.calibration import Calibration, apply_temperature, temperature_of
from toolkit.training.calibrate import (
    calibration_metrics,
    cross_fitted_calibration,
    expected_calibration_error,
    fit_length_temperature,
    fit_temperature,
)
from toolkit.training.config import Config

from corpora import learnable_corpus, tiny_config


def overconfident(n: int, seed: int, sharpness: float = 3.0):
    """Probabilities of a model whose logits are ``sharpness`` times the calibrated ones."""
    rng = np.random.default_rng(seed)
    margin = rng.normal(0.0, 2.0, n)  # calibrated logit of label 1
    y = (rng.random(n) < 1 / (1 + np.exp(-margin))).astype(np.int64)
    logits = np.stack([np.zeros(n), sharpness * margin], axis=1)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32), y


def nll(p, y):
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1))))


def test_temperature_fitted_on_one_half_lowers_log_loss_on_the_other():
    p, y = overconfident(4000, seed=0)
    t = fit_temperature(p[:2000], y[:2000])
    assert 2.4 < t < 3.6  # the sharpening factor
    held_before, held_after = nll(p[2000:], y[2000:]), nll(apply_temperature(p[2000:], t), y[2000:])
    assert held_after < held_before - 0.05
    assert calibration_metrics(apply_temperature(p[2000:], t), y[2000:])["ece"] < calibration_metrics(p[2000:], y[2000:])["ece"]
    # the label never changes
    assert (apply_temperature(p, t).argmax(axis=1) == p.argmax(axis=1)).all()


def test_ece_matches_a_hand_calculation():
    probs = np.array([[0.05, 0.95], [0.10, 0.90], [0.40, 0.60], [0.65, 0.35], [0.30, 0.70], [0.02, 0.98]])
    y = np.array([1, 0, 1, 0, 1, 1])
    # confidences 0.95, 0.90, 0.60, 0.65, 0.70, 0.98; correct 1, 0, 1, 1, 1, 1
    # bin [0.6, 0.7): 0.60, 0.65 -> acc 1.0, conf 0.625, share 2/6
    # bin [0.7, 0.8): 0.70       -> acc 1.0, conf 0.70,  share 1/6
    # bin [0.9, 1.0]: 0.95, 0.90, 0.98 -> acc 2/3, conf 0.9433.., share 3/6
    expected = (2 / 6) * 0.375 + (1 / 6) * 0.30 + (3 / 6) * abs(2 / 3 - (0.95 + 0.90 + 0.98) / 3)
    assert expected_calibration_error(probs, y) == pytest.approx(expected, abs=1e-12)
    m = calibration_metrics(probs, y)
    assert m["ece"] == pytest.approx(expected, abs=1e-12)
    assert m["brier"] == pytest.approx(np.mean((probs[:, 1] - y) ** 2), abs=1e-12)
    assert m["accuracy"] == pytest.approx(5 / 6)


def test_apply_temperature_edge_cases():
    p = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    out = apply_temperature(p, 2.0)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert out[0, 0] > 0.99 and out[1, 0] == pytest.approx(0.5)
    assert apply_temperature(p, None) is not None and np.array_equal(apply_temperature(p, None), p)
    assert temperature_of(None) is None and temperature_of({"method": "none"}) is None
    assert temperature_of({"method": "temperature", "temperature": 1.5}) == 1.5
    for bad in ({"method": "temperature", "temperature": 0}, {"method": "platt"}, "x"):
        with pytest.raises(BundleError):
            temperature_of(bad)


def test_cross_fitted_calibration_uses_the_other_folds():
    folds = []
    for s in range(4):
        p, y = overconfident(500, seed=s)
        folds.append({"full": (p, np.full(len(y), 50), y)})
    report = cross_fitted_calibration(folds)
    assert len(report["records"]) == 4 and all(2 < r["temperature"] < 4.5 for r in report["records"])
    assert report["full"]["after"]["log_loss"] < report["full"]["before"]["log_loss"]
    assert report["full"]["before"]["n"] == 2000


def test_length_temperature_softens_short_texts_more():
    """Short texts sharpened 4x, long ones 1x: T(n) = exp(a + b log n) learns both (b < 0)."""
    short_p, short_y = overconfident(3000, seed=1, sharpness=4.0)
    long_p, long_y = overconfident(3000, seed=2, sharpness=1.0)
    p, y = np.concatenate([short_p, long_p]), np.concatenate([short_y, long_y])
    n = np.concatenate([np.full(3000, 10), np.full(3000, 1000)])
    a, b = fit_length_temperature(p, y, n)
    cal = Calibration(length_ab=(a, b))
    t_short, t_long = cal.temperatures([10, 1000])
    assert 3.0 < t_short < 5.0 and 0.75 < t_long < 1.3 and b < 0
    single = fit_temperature(p, y)
    assert nll(cal.apply(p, n), y) < nll(apply_temperature(p, single), y)
    record = {"method": "length-temperature", "a": a, "b": b}
    assert np.allclose(Calibration.from_record(record).apply(p[:5], n[:5]), cal.apply(p[:5], n[:5]))
    with pytest.raises(BundleError, match="needs the number of ids"):
        cal.apply(p)


def test_config_fields_are_checked():
    assert Config().training.calibration == "length-temperature"
    assert Config().training.calibration_folds == 3
    with pytest.raises(ConfigError, match="training.calibration"):
        Config().with_overrides({"training.calibration": "platt"})
    with pytest.raises(ConfigError, match="training.calibration_folds"):
        Config().with_overrides({"training.calibration_folds": 1})


@pytest.fixture(scope="module", params=["temperature", "length-temperature"])
def calibrated(tmp_path_factory, request):
    """A small seeded run with out-of-fold calibration, exported."""
    from toolkit.training.export import export_model
    from toolkit.training.experiment import train_model

    root = tmp_path_factory.mktemp("calibrated")
    data = learnable_corpus(root / "reviews.jsonl", n_per_label=80)
    config = tiny_config(data, epochs=6, **{"training.calibration_folds": 2, "training.calibration": request.param,
                                            "architecture.options": {
        "filters": 8, "kernel_sizes": [3], "dropout": 0.0}})
    metrics = train_model(config, root / "model", progress=False)
    bundle = export_model(root / "model", root / "bundle")
    return root, metrics, bundle


def test_training_records_the_temperature(calibrated):
    root, metrics, _ = calibrated
    cal = metrics["calibration"]
    record = json.loads((root / "model" / "model.json").read_text())["calibration"]
    if record["method"] == "temperature":
        assert record["temperature"] == cal["temperature"] > 0 and record["n"] == 144
    else:  # each held-out document also as its first line and a 20-word window
        assert record["method"] == "length-temperature" and record["n"] == 3 * 144
        assert {"a", "b"} <= set(record) and "20-word window" in record["fitted_on"]
    assert "out-of-fold" in record["fitted_on"]
    held = cal["heldout"]
    assert held["after"]["log_loss"] <= held["before"]["log_loss"] + 1e-9
    assert set(cal["test"]["after"]) >= {"ece", "brier", "log_loss", "accuracy"}
    saved = json.loads((root / "model" / "metrics.json").read_text())["calibration"]
    assert {k: saved[k] for k in record} == record
    png = (root / "model" / "reliability.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_bundle_round_trip_keeps_the_temperature(calibrated, tmp_path):
    import spacy

    from toolkit.cli import app
    from toolkit.serving.runtime import Runtime

    root, _, bundle = calibrated
    meta = json.loads((bundle / "bundle.json").read_text())
    record = meta["calibration"]
    assert record == json.loads((root / "model" / "model.json").read_text())["calibration"]
    texts = ["The wonderful superb film.", "A boring tedious plot and an awful ending.", "film"]
    rt = Runtime.load(bundle)
    ours = rt.score(texts)
    raw_rt = Runtime.load(bundle)
    raw_rt.calibration = Calibration()
    raw = raw_rt.score(texts)
    lengths = [len(x) for x in rt.encode(texts)]
    assert np.allclose(ours, Calibration.from_record(record).apply(raw, lengths), atol=1e-7)
    assert not np.allclose(ours, raw, atol=1e-3)

    # toolkit predict
    result = CliRunner().invoke(app, ["predict", str(bundle), *texts])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    cli = np.array([[r["probabilities"][lab] for lab in rt.labels] for r in records])
    assert np.abs(cli - ours).max() <= 1e-6

    # the component, and spacy.load after nlp.to_disk
    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": str(bundle)})
    comp = np.array([[doc.cats[lab] for lab in rt.labels] for doc in nlp.pipe(texts)])
    assert np.abs(comp - ours).max() <= 1e-6
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    again = np.array([[doc.cats[lab] for lab in rt.labels] for doc in loaded.pipe(texts)])
    assert np.abs(again - ours).max() <= 1e-6


def test_evaluate_reports_before_and_after(calibrated):
    from toolkit.training.experiment import evaluate_model

    root, metrics, _ = calibrated
    evaluated = evaluate_model(root / "model")
    assert evaluated["calibration"]["method"] == metrics["calibration"]["method"]
    assert evaluated["calibration"]["test"]["after"]["ece"] == pytest.approx(metrics["calibration"]["test"]["after"]["ece"], abs=1e-6)
