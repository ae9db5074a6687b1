"""Training end to end on small data: every architecture x embedding, the model folder,
a clearly learnable corpus, reproducibility, evaluate, cross-validation and bad input."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.training.config import Config
from toolkit.core.errors import CorpusError, EmbeddingError, OutputExistsError
from toolkit.training.experiment import cross_validate, evaluate_model, train_model

from corpora import FILLER, NEGATIVE, POSITIVE, learnable_corpus, tiny_config  # noqa: F401


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    return learnable_corpus(tmp_path_factory.mktemp("corpus") / "reviews.jsonl")


@pytest.fixture(scope="module")
def glove_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("glove") / "vectors.txt"
    words = POSITIVE + NEGATIVE + FILLER + ["the"]
    path.write_text("\n".join(w + " " + " ".join(f"{x:.5f}" for x in rng.normal(size=16)) for w in words) + "\n")
    return path


EMBEDDINGS = {
    "learned": {"embedding.options": {"dim": 16}},
    "word2vec": {"embedding.options": {"dim": 16, "epochs": 2, "min_count": 1}},
    "glove": {"embedding.options": {"path": "{glove}", "dim": 16, "trainable": True}},
}
ARCHITECTURES = {
    "cnn": {},
    "seed-cnn": {},
    "cnn-lstm": {"architecture.options": {"chunk_len": 10}},
}


@pytest.mark.slow
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
@pytest.mark.parametrize("embedding", list(EMBEDDINGS))
def test_every_architecture_trains_with_every_embedding(tmp_path, corpus_file, glove_file, architecture, embedding):
    extra = {**ARCHITECTURES[architecture], **json.loads(json.dumps(EMBEDDINGS[embedding]).replace(
        "{glove}", str(glove_file)))}
    config = tiny_config(corpus_file, architecture, embedding, epochs=1, **extra)
    out = tmp_path / "model"
    metrics = train_model(config, out, progress=False)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["n_test"] == 12
    meta = json.loads((out / "model.json").read_text())
    assert meta["architecture"]["name"] == architecture and meta["embedding"]["name"] == embedding
    result = evaluate_model(out)
    assert result["accuracy"] == pytest.approx(metrics["accuracy"])


@pytest.mark.slow
def test_learnable_corpus_is_learned_and_folder_is_complete(tmp_path, corpus_file):
    out = tmp_path / "model"
    config = tiny_config(corpus_file, epochs=6)
    metrics = train_model(config, out, progress=False)
    assert metrics["accuracy"] > 0.9, metrics
    expected = {"model.keras", "vocab.txt", "config.toml", "model.json", "metrics.json", "test_data.npz",
                "training_curve.png"}
    assert expected <= {p.name for p in out.iterdir()}
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "per_label", "confusion_matrix", "labels", "history", "best_epoch"):
        assert key in saved
    assert set(saved["per_label"]) == {"neg", "pos"}
    assert {"precision", "recall", "f1", "support"} <= set(saved["per_label"]["pos"])
    assert np.sum(saved["confusion_matrix"]) == saved["n_test"] == 12
    assert Config.from_file(out / "config.toml") == config
    assert (out / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = np.load(out / "test_data.npz")
    assert data["token_ids"].shape[0] == data["labels"].shape[0] == 12
    assert [p for p in tmp_path.iterdir() if p.name != "model"] == []  # no temporary folders left


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path, corpus_file):
    config = tiny_config(corpus_file, epochs=2)
    a = train_model(config, tmp_path / "a", progress=False)
    b = train_model(config, tmp_path / "b", progress=False)
    assert a["accuracy"] == b["accuracy"]
    assert a["history"]["loss"] == b["history"]["loss"]


def test_best_epoch_by_loss_without_validation_and_by_monitor_with_it(corpus_file):
    from toolkit.training.corpus import load_corpus
    from toolkit.training.loop import fit

    corpus = load_corpus(corpus_file)
    # No validation split: training accuracy saturates, so the lowest training loss
    # picks the epoch and early stopping (patience 1 here) does not cut training short.
    result = fit(tiny_config(corpus_file, epochs=4, **{"training.early_stopping": 1}), corpus, progress=False)
    assert len(result.history["loss"]) == 4
    assert result.best_epoch == int(np.argmin(result.history["loss"]))  # 0-based, as Keras counts
    # With one: the best validation accuracy is kept.
    config = tiny_config(corpus_file, epochs=4, **{"training.validation_share": 0.25, "training.early_stopping": 0})
    result = fit(config, corpus, progress=False)
    val = result.history["val_accuracy"]
    assert result.best_epoch in [i for i, v in enumerate(val) if v == max(val)]


def test_training_options_reach_the_model_folder(tmp_path, corpus_file):
    """vocab.unknown = "drop" is recorded in model.json and used again by evaluate; a cosine
    schedule ends at a learning rate of 0; an unknown schedule is refused by name."""
    from toolkit.core.errors import TrainingError
    from toolkit.training.loop import _make_optimizer

    config = tiny_config(corpus_file, epochs=1, **{"vocab.unknown": "drop", "vocab.min_count": 2,
                                                   "training.lr_schedule": "cosine"})
    metrics = train_model(config, tmp_path / "m", progress=False)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["vocab"]["unknown"] == "drop"
    assert evaluate_model(tmp_path / "m")["accuracy"] == metrics["accuracy"]
    opt = _make_optimizer("adam", 0.01, "cosine", total_steps=10)
    assert float(opt.learning_rate) == pytest.approx(0.01)
    opt.iterations.assign(10)
    assert float(opt.learning_rate) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(TrainingError, match="training.lr_schedule"):
        _make_optimizer("adam", 0.01, "linear")


@pytest.mark.slow
def test_cross_validation_random_folds(corpus_file):
    config = tiny_config(corpus_file, epochs=1)
    result = cross_validate(config, k=3, progress=False)
    assert len(result["folds"]) == 3
    assert sum(f["n_test"] for f in result["folds"]) == 120
    assert result["mean_accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in result["folds"]]))


@pytest.mark.slow
def test_cli_train_then_evaluate(tmp_path, corpus_file):
    out = tmp_path / "m"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", str(corpus_file), "--out", str(out), "--epochs", "1",
                                 "--set", "vocab.min_count=1", "--set", "training.max_len=40", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    again = runner.invoke(app, ["train", "--data", str(corpus_file), "--out", str(out), "--epochs", "1"])
    assert again.exit_code != 0 and "--overwrite" in again.output
    evaluated = runner.invoke(app, ["evaluate", str(out), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["n_test"] == 12


def test_output_folder_that_exists_is_refused(tmp_path, corpus_file):
    (tmp_path / "m").mkdir()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        train_model(tiny_config(corpus_file), tmp_path / "m", progress=False)


def test_single_label_corpus_is_refused(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text("\n".join(json.dumps({"text": f"good film {i}", "label": "pos"}) for i in range(10)))
    with pytest.raises(CorpusError, match="1 label"):
        train_model(tiny_config(path), tmp_path / "m", progress=False)


@pytest.mark.slow
def test_embedding_dimension_contradicting_config(tmp_path, corpus_file, glove_file):
    config = tiny_config(corpus_file, embedding="glove",
                         **{"embedding.options": {"path": str(glove_file), "dim": 50}})
    with pytest.raises(EmbeddingError, match="16.*50|50.*16"):
        train_model(config, tmp_path / "m", progress=False)
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["fit", "write"])
def test_interrupt_leaves_no_output_folder(tmp_path, corpus_file, monkeypatch, where):
    import toolkit.training.experiment as train_module

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "evaluate_fit" if where == "fit" else "plot_history", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_model(tiny_config(corpus_file, epochs=1), tmp_path / "m", progress=False)
    assert list(tmp_path.iterdir()) == []
