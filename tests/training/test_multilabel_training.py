"""Non-exclusive labels, the pieces: list labels and the label mode, splits of label sets, metrics, thresholds,
per-label calibration, the linear path's per-label regressions, the sigmoid head and the architecture contract.
(The whole run, train -> export -> component / score / serve, is tests/test_multilabel.py.)"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from corpora import tiny_config
from toolkit.core.errors import BundleError, ConfigError, CorpusError
from toolkit.training.corpus import Corpus, Document, load_corpus, resolve_label_mode, train_test_split

TOPICS = ["battery", "screen", "price"]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def topic_rows(n=40, seed=0):
    """Reviews naming zero to three topics; the label is the list of topics named."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        topics = [t for t in TOPICS if rng.random() < 0.45]
        words = ["the", "phone", "is", "here"] + [f"{t} {t}s" for t in topics]
        rows.append({"text": " ".join(words), "label": topics})
    return rows


# ---------------------------------------------------------------------------
# list labels and the label mode
# ---------------------------------------------------------------------------
def test_a_json_list_label_is_a_sorted_tuple_and_makes_the_run_multi_label(tmp_path):
    path = _jsonl(tmp_path / "m.jsonl", [{"text": "a", "label": ["screen", "battery", "screen"]},
                                         {"text": "b", "label": []}, {"text": "c", "label": "price"}])
    loaded = load_corpus(path)
    assert [d.label for d in loaded] == [("battery", "screen"), (), "price"]
    corpus = resolve_label_mode(loaded, None)
    assert corpus.multi_label and corpus.labels == ["battery", "price", "screen"]
    assert [d.label for d in corpus] == [("battery", "screen"), (), ("price",)]  # a plain label is wrapped
    np.testing.assert_array_equal(corpus.label_matrix, [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert corpus.label_counts() == {"battery": 1, "screen": 1, "price": 1}
    from toolkit.training.corpus_info import corpus_info

    rows = topic_rows()
    held = corpus_info(load_corpus(_jsonl(tmp_path / "topics.jsonl", rows)))["labels_per_document"]
    assert held == {str(k): v for k, v in sorted(Counter(len(r["label"]) for r in rows).items())}
    with pytest.raises(CorpusError, match="multi-label corpus has no single label"):
        corpus.label_ids  # noqa: B018


def test_lists_of_one_label_each_stay_exclusive_unless_told(tmp_path):
    path = _jsonl(tmp_path / "one.jsonl", [{"text": "a", "label": ["x"]}, {"text": "b", "label": ["y"]}])
    auto = resolve_label_mode(load_corpus(path), None)
    assert not auto.multi_label and [d.label for d in auto] == ["x", "y"] and auto.label_ids == [0, 1]
    told = resolve_label_mode(load_corpus(path), True)
    assert told.multi_label and [d.label for d in told] == [("x",), ("y",)]


def test_an_exclusive_run_refuses_several_labels_naming_file_line_and_field(tmp_path):
    path = _jsonl(tmp_path / "m.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": ["x", "y"]}])
    with pytest.raises(CorpusError, match=r"m\.jsonl, line 2: 2 labels \['x', 'y'\] in field 'label', but the run "
                                          r"is exclusive .*--no-multi-label") as info:
        resolve_label_mode(load_corpus(path), False)
    assert "\n" not in str(info.value)
    # the same through the training config
    from toolkit.training.experiment import load_training_corpus

    with pytest.raises(CorpusError, match=r"line 2: 2 labels"):
        load_training_corpus(tiny_config(path, **{"data.multi_label": False}))


def test_a_bad_item_in_a_label_list_names_the_line_and_the_field(tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"text": "a", "topics": ["x", {"y": 1}]}])
    with pytest.raises(CorpusError, match=r"bad\.jsonl, line 1: label list in field 'topics' holds \{'y': 1\}"):
        load_corpus(path, label_field="topics")


def test_ordered_labels_cannot_be_multi_label(tmp_path):
    path = _jsonl(tmp_path / "r.jsonl", [{"text": "a", "label": "1"}, {"text": "b", "label": "5"}])
    with pytest.raises(CorpusError, match="ordered labels .* are exclusive"):
        resolve_label_mode(Corpus(load_corpus(path).documents, ordered=True), True)


def test_a_non_exclusive_spacy_file_trains_multi_label(tmp_path):
    from test_splits import write_docbin

    path = write_docbin(tmp_path / "multi.spacy", [
        ("battery died, screen cracked", {"screen": 1.0, "battery": 0.9, "price": 0.1}),
        ("cheap", {"screen": 0.0, "battery": 0.0, "price": 0.5}),
    ])
    from toolkit.training.experiment import load_training_corpus

    corpus = load_training_corpus(tiny_config(path))
    assert corpus.multi_label and corpus.labels == ["battery", "price", "screen"]
    np.testing.assert_array_equal(corpus.label_matrix, [[1, 0, 1], [0, 1, 0]])


def test_a_test_file_with_several_labels_in_an_exclusive_run_names_its_line(tmp_path):
    from toolkit.training.experiment import load_training_corpus
    from toolkit.training.splits import resolve_splits

    train = _jsonl(tmp_path / "train.jsonl", [{"text": f"t {i}", "label": "xy"[i % 2]} for i in range(10)])
    test = _jsonl(tmp_path / "test.jsonl", [{"text": "u", "label": "x"}, {"text": "v", "label": ["x", "y"]}])
    config = tiny_config(train, **{"data.test_path": str(test)})
    with pytest.raises(CorpusError, match=r"test\.jsonl, line 2: 2 labels \['x', 'y'\] in field 'label'"):
        resolve_splits(config, load_training_corpus(config))
    # a multi-label run takes the same test file, its plain labels wrapped
    multi = tiny_config(train, **{"data.test_path": str(test), "data.multi_label": True})
    splits = resolve_splits(multi, load_training_corpus(multi))
    assert splits.test.multi_label and [d.label for d in splits.test] == [("x",), ("x", "y")]


def test_label_sets_are_the_strata_of_the_seeded_splits():
    docs = [Document(f"t{i}", label) for i, label in enumerate([("a",)] * 30 + [("a", "b")] * 30 + [("b",)] * 30
                                                              + [()] * 3 + [("c",)] * 2)]
    corpus = Corpus(docs, multi_label=True)
    strata = corpus.strata
    assert len(set(strata)) == 4  # three common sets, and the rare ones (below MIN_STRATUM) together
    assert strata[-1] == strata[-4]
    train, test = train_test_split(corpus, test_share=0.1, seed=0)
    assert Counter(d.label for d in test)[("a", "b")] == 3 and train.multi_label and test.multi_label
    assert len(train) + len(test) == len(corpus)


def test_the_multi_domain_corpus_has_a_multi_label_view(multi_domain_path):
    corpus = load_corpus("multi-domain", label_field="domain+label")
    assert corpus.multi_label and corpus.name == "multi-domain (domain+label)"
    assert corpus.labels == ["NEGATIVE", "POSITIVE", "books", "dvd", "electronics", "kitchen"]
    assert all(len(d.label) == 2 for d in corpus)
    assert Counter(d.label for d in corpus)[("POSITIVE", "kitchen")] == 1000
    assert corpus.label_counts()["kitchen"] == 2000 and corpus.label_counts()["POSITIVE"] == 4000
    train, test = train_test_split(corpus)  # the standard split: the last fifth of each file
    assert len(test) == 1600 and all(d.fold == 9 for d in test)
    from toolkit.training.corpus_info import corpus_info, render_info

    info = corpus_info(corpus)
    assert info["multi_label"] and info["labels_per_document"] == {"2": 8000}
    assert "labels per document: 2: 8000" in render_info(info)


# ---------------------------------------------------------------------------
# metrics, thresholds, calibration
# ---------------------------------------------------------------------------
def test_multilabel_metrics_against_counts_by_hand():
    from toolkit.training.metrics import multilabel_metrics

    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    p = np.array([[0.9, 0.2, 0.4], [0.1, 0.7, 0.1], [0.6, 0.3, 0.2], [0.2, 0.1, 0.05]])
    m = multilabel_metrics(y, p, TOPICS, [0.5, 0.5, 0.3])
    # decisions: [1,0,1], [0,1,0], [1,0,0], [0,0,0]: one miss (screen in row 3)
    assert m["per_label"]["screen"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2,
                                        "auc": 1.0, "threshold": 0.5, "tp": 1, "fp": 0, "fn": 1, "tn": 2}
    assert m["per_label"]["price"]["threshold"] == 0.3 and m["per_label"]["price"]["f1"] == 1.0
    assert m["micro_precision"] == 1.0 and m["micro_recall"] == pytest.approx(4 / 5)
    assert m["accuracy"] == pytest.approx(3 / 4)  # exact match
    assert m["hamming_loss"] == pytest.approx(1 / 12)
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert m["macro_auc"] == pytest.approx(1.0) and m["multi_label"] is True and m["n_test"] == 4


def test_thresholds_are_the_best_f1_per_label_ties_nearest_half():
    from toolkit.training.thresholds import GRID, choose_thresholds

    y = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]])
    p = np.array([[0.32, 0.9, 0.1], [0.31, 0.1, 0.2], [0.2, 0.6, 0.3], [0.1, 0.4, 0.1]])
    t = choose_thresholds(p, y, TOPICS)
    assert t["battery"] == 0.3  # 0.25 and 0.3 both separate: the one nearer 0.5
    assert 0.4 < t["screen"] <= 0.6 and t["screen"] in GRID  # any cut in (0.4, 0.6] is perfect: nearest 0.5
    assert t["price"] == 0.5  # no positive held-out document: nothing to choose on


def test_label_temperatures_are_fitted_and_applied_per_label():
    from toolkit.core.calibration import Calibration, apply_label_temperatures, logits_of
    from toolkit.training.calibrate import fit_label_temperatures, multilabel_calibration_metrics

    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, size=(4000, 2))
    y = (rng.random((4000, 2)) < 1 / (1 + np.exp(-z))).astype(int)  # the true probabilities are sigmoid(z)
    over = 1 / (1 + np.exp(-np.stack([z[:, 0] * 3, z[:, 1] / 2], axis=1)))  # over- then under-confident
    temps = fit_label_temperatures(over, y)
    assert temps[0] == pytest.approx(3.0, rel=0.15) and temps[1] == pytest.approx(0.5, rel=0.15)
    fixed = apply_label_temperatures(over, temps)
    np.testing.assert_allclose(logits_of(fixed), logits_of(over.astype(np.float32)) / np.float32(temps), rtol=1e-4,
                               atol=1e-4)
    assert multilabel_calibration_metrics(fixed, y)["ece"] < multilabel_calibration_metrics(over, y)["ece"]
    record = {"method": "label-temperature", "temperatures": {"b": temps[1], "a": temps[0]}}
    cal = Calibration.from_record(record, labels=["a", "b"], multi_label=True)
    np.testing.assert_allclose(cal.apply(over), fixed, atol=1e-6)  # applied in the bundle's label order
    with pytest.raises(BundleError, match="does not apply to an exclusive bundle"):
        Calibration.from_record(record, labels=["a", "b"], multi_label=False)
    with pytest.raises(BundleError, match="'temperature' does not apply to a multi-label bundle"):
        Calibration.from_record({"method": "temperature", "temperature": 2.0}, multi_label=True)
    with pytest.raises(BundleError, match="names \\['a', 'b'\\], the bundle's labels are \\['a', 'c'\\]"):
        Calibration.from_record(record, labels=["a", "c"], multi_label=True)
    assert np.isfinite(apply_label_temperatures(np.array([[0.0, 1.0]]), [0.05, 0.05])).all()


# ---------------------------------------------------------------------------
# the linear path
# ---------------------------------------------------------------------------
def test_nb_weights_of_a_label_matrix_match_the_exclusive_ones_for_one_label_each():
    from toolkit.training.linear import nb_token_weights

    rng = np.random.default_rng(1)
    ids = [rng.integers(2, 30, size=rng.integers(1, 12)).tolist() for _ in range(60)]
    labels = rng.integers(0, 3, size=60)
    one_hot = np.eye(3, dtype=np.int8)[labels]
    np.testing.assert_array_equal(nb_token_weights(ids, one_hot, 30, 3), nb_token_weights(ids, labels, 30, 3))


def test_the_multi_label_linear_path_is_one_regression_per_label():
    from toolkit.training.linear import fit_linear, nb_token_weights

    rng = np.random.default_rng(2)
    y = (rng.random((80, 3)) < 0.5).astype(np.int8)
    y[:, 2] = 0  # a label no document has
    ids = [[2 + c for c in range(2) if y[i, c]] + rng.integers(10, 40, size=4).tolist() for i in range(80)]
    model = fit_linear(ids, y, 40, 3, nb_token_weights(ids, y, 40, 3), seed=0)
    assert model.multi_label and len(model.C) == 3 and model.C[2] == 0.0 and model.bias[2] == -30.0
    logits = model.logits(ids)
    assert ((logits[:, :2] > 0) == (y[:, :2] > 0)).mean() > 0.95  # id 2 + c marks label c
    assert model.record()["per_label"]
    again = fit_linear(ids, y, 40, 3, nb_token_weights(ids, y, 40, 3), seed=0, C=[0.3, 3.0, 0.0])  # C chosen before
    assert again.C[:2] == [0.3, 3.0] and again.inner_folds[:2] == [0, 0]


# ---------------------------------------------------------------------------
# the sigmoid head and the architecture contract
# ---------------------------------------------------------------------------
def test_an_architecture_without_multi_label_support_is_refused_in_one_line():
    from toolkit.core.contracts import Architecture, check_multi_label
    from toolkit.training.loop import build_model

    class Plain(Architecture):
        name = "plain"

        def __init__(self):
            super().__init__()

        def build(self, vocab_size, dim, weights=None, trainable=True, max_len=None, labels=("A", "B")):
            raise AssertionError("build must not be called")

    with pytest.raises(ConfigError, match=r"architecture 'plain' does not build multi-label models") as info:
        build_model(Plain(), type("E", (), {"dim": 4, "trainable": True})(), list(range(10)), ["a", "b"], 8,
                    multi_label=True)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="does not build multi-label"):
        Plain().check_build_args(10, 4, None, 8, ["a", "b"], multi_label=True)
    from toolkit.core import registry

    check_multi_label(registry.create("architecture", "cnn"))  # built-ins declare it
    check_multi_label(registry.create("architecture", "cnn-lstm"))
    with pytest.raises(ConfigError, match=r"'logits' = 'reference' is a softmax over exclusive labels"):
        registry.create("architecture", "seed-cnn").build(20, 4, max_len=12, labels=["a", "b"], multi_label=True)


def test_a_multi_label_model_fails_before_training_with_such_an_architecture(tmp_path):
    pytest.importorskip("tensorflow")
    from toolkit.core.contracts import Architecture

    class Softmax(Architecture):
        name = "softmax-only"
        length_policy = "dynamic"

        def __init__(self):
            super().__init__()

        def build(self, *args, **kwargs):
            raise AssertionError("build must not be called")

    path = _jsonl(tmp_path / "t.jsonl", topic_rows())
    corpus = resolve_label_mode(load_corpus(path), None)
    with pytest.raises(ConfigError, match="architecture 'cnn' does not build multi-label models") as info:
        _fit_with(Softmax(), corpus, tiny_config(path))  # named as the config names it
    assert "\n" not in str(info.value)


def _fit_with(arch, corpus, config):
    """``fit`` with ``arch`` in place of the configured architecture."""
    from unittest import mock

    from toolkit.core import registry
    from toolkit.training.loop import fit

    create = registry.create

    def patched(kind, name, **options):
        return arch if kind == "architecture" else create(kind, name, **options)

    with mock.patch.object(registry, "create", patched):
        return fit(config, corpus, progress=False)


@pytest.mark.slow
def test_sigmoid_head_and_the_mixed_graph_agree_with_numpy():
    pytest.importorskip("tensorflow")
    import keras

    from toolkit.core import registry
    from toolkit.training.ensemble import combine, mix
    from toolkit.training.linear import LinearModel

    arch = registry.create("architecture", "cnn", filters=4, bag_weights="none")
    network = arch.build(30, 4, max_len=12, labels=["a", "b", "c"], multi_label=True)
    assert network.layers[-1].get_config()["activation"] == "sigmoid"
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 30, size=(16, 12)).astype(np.int32)
    ids[:, 9:] = 0
    net = np.asarray(network(ids, training=False))
    assert not np.allclose(net.sum(axis=1), 1.0)  # independent probabilities
    linear = LinearModel(rng.normal(0, 1, (30, 3)).astype(np.float32), rng.normal(0, 1, 3).astype(np.float32),
                         [1.0] * 3, [5] * 3, multi_label=True)
    linear.weights[0] = 0
    model = combine(network, linear, 0.3)
    got = np.asarray(model(ids, training=False))
    expected = mix(linear.logits([row[row > 0] for row in ids]), net, 0.3, multi_label=True)
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert isinstance(model, keras.Model)


def test_the_ray_engine_refuses_a_multi_label_run_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app

    path = _jsonl(tmp_path / "t.jsonl", topic_rows())
    result = CliRunner().invoke(app, ["train", "--data", str(path), "--out", str(tmp_path / "m"), "--multi-label",
                                      "--engine", "ray"])
    assert result.exit_code != 0 and "--engine ray trains exclusive labels" in result.output
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_cross_validation_of_a_multi_label_corpus(tmp_path):
    pytest.importorskip("tensorflow")
    from toolkit.training.experiment import cross_validate

    path = _jsonl(tmp_path / "t.jsonl", topic_rows(60))
    config = tiny_config(path, epochs=2, **{"training.linear": "none", "training.calibration": "temperature"})
    result = cross_validate(config, k=2, progress=False)
    assert [set(row) >= {"accuracy", "macro_f1", "micro_f1"} for row in result["folds"]] == [True, True]
    calibration = result["calibration"]
    assert calibration["method"] == "label-temperature" and set(calibration) >= {"full", "records"}
    assert set(calibration["records"][0]["temperatures"]) == set(TOPICS)
    assert "ece_per_label" in calibration["full"]["after"]


@pytest.mark.slow
def test_without_a_dev_set_thresholds_come_from_out_of_fold_predictions_or_default_to_half(tmp_path):
    pytest.importorskip("tensorflow")
    from toolkit.training.experiment import train_model

    path = _jsonl(tmp_path / "t.jsonl", topic_rows(60))
    oof = train_model(tiny_config(path, epochs=2, **{"training.linear": "none",
                                                     "training.calibration": "length-temperature"}),
                      tmp_path / "oof", progress=False)
    assert "out-of-fold predictions, 3 folds" in oof["threshold_choice"]["chosen_on"]
    assert oof["calibration"]["method"] == "label-temperature"
    assert oof["calibration"]["requested"] == "length-temperature"  # asked for, and why it is per label instead
    none = train_model(tiny_config(path, epochs=2, **{"training.linear": "none"}), tmp_path / "none",
                       progress=False)
    assert none["thresholds"] == {t: 0.5 for t in TOPICS} and none["calibration"]["method"] == "none"
    assert none["threshold_choice"]["chosen_on"].startswith("default 0.5 (no dev set")
    meta = json.loads((tmp_path / "none" / "model.json").read_text())
    assert meta["multi_label"] is True and meta["thresholds"] == none["thresholds"]
