"""The user's own splits: --test-data / --dev-data, a split or fold field in the records, spaCy .spacy
(DocBin) files and Parquet on the local engine; the data record of metrics.json and the model card; and
each bad input as a one-line error naming file, line (or record) and field."""

from __future__ import annotations

import csv
import json
import logging

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.core.errors import ConfigError, CorpusError
from toolkit.training.corpus import load_corpus
from toolkit.training.splits import data_record, resolve_splits
from toolkit.training.experiment import cross_validate, evaluate_model, load_training_corpus, train_model

from corpora import learnable_corpus, tiny_config


def records(path, n_per_label=30, seed=0):
    """The learnable corpus's records (text, label), written to ``path`` first."""
    learnable_corpus(path, n_per_label=n_per_label, seed=seed)
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path, rows):
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def splits_of(data, **extra):
    config = tiny_config(data, **extra)
    return config, resolve_splits(config, load_training_corpus(config))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("splits")
    return {"train": learnable_corpus(root / "train.jsonl", n_per_label=30, seed=1),
            "test": learnable_corpus(root / "test.jsonl", n_per_label=10, seed=2),
            "dev": learnable_corpus(root / "dev.jsonl", n_per_label=8, seed=3)}


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


# ---------------------------------------------------------------------------
# which documents train, validate and test (no training)
# ---------------------------------------------------------------------------
def test_a_test_file_is_used_whole_and_nothing_is_cut_from_data(files):
    config, splits = splits_of(files["train"], **{"data.test_path": str(files["test"])})
    assert (len(splits.train), len(splits.test), splits.dev) == (60, 20, None)
    assert splits.train.texts == load_corpus(files["train"]).texts  # all of --data, in order
    record = data_record(config, splits)
    assert record["train"] == {"source": str(files["train"]), "selection": "whole file", "documents": 60,
                               "labels": {"neg": 30, "pos": 30}}
    assert record["test"]["source"] == str(files["test"]) and record["test"]["documents"] == 20
    assert record["dev"] is None


def test_without_a_test_file_the_test_share_is_cut_as_before(files):
    config, splits = splits_of(files["train"])
    assert (len(splits.train), len(splits.test)) == (54, 6)
    assert data_record(config, splits)["test"]["selection"] == "cut from --data (10% of each label, seed 0)"


def test_a_split_column_in_csv_decides_train_dev_and_test(tmp_path):
    rows = records(tmp_path / "all.jsonl")
    names = ["train"] * 6 + ["Validation", "valid", "test", " TEST "]  # case and spaces do not matter
    for i, row in enumerate(rows):
        row["split"] = names[i % len(names)]
    _, splits = splits_of(write_csv(tmp_path / "all.csv", rows))
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (36, 12, 12)
    assert {d.split for d in splits.dev} == {"dev"} and {d.split for d in splits.test} == {"test"}
    assert splits.origin["test"] == (str(tmp_path / "all.csv"), "split = test (split field 'split')")


def test_the_split_field_name_is_configurable(tmp_path):
    rows = records(tmp_path / "all.jsonl")
    for i, row in enumerate(rows):
        row["part"] = "test" if i % 4 == 0 else "train"
        row["split"] = "not a split"  # another field of the same name is left alone
    _, splits = splits_of(write_jsonl(tmp_path / "all.jsonl", rows), **{"data.split_field": "part"})
    assert (len(splits.train), len(splits.test)) == (45, 15)


def test_a_fold_field_gives_the_test_fold(tmp_path):
    rows = records(tmp_path / "all.jsonl")
    for i, row in enumerate(rows):
        row["fold"] = i % 5 if i % 2 else str(i % 5)  # JSON numbers, or digits as a CSV cell holds them
    config, splits = splits_of(write_jsonl(tmp_path / "all.jsonl", rows), **{"data.test_fold": 3})
    assert len(splits.test) == 12 and {d.fold for d in splits.test} == {3}
    assert len(splits.train) == 48 and 3 not in {d.fold for d in splits.train}
    assert data_record(config, splits)["test"]["selection"] == "fold 3"


def test_a_dev_file_is_the_dev_set(files):
    config, splits = splits_of(files["train"], **{"data.test_path": str(files["test"]),
                                                  "data.dev_path": str(files["dev"])})
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (60, 16, 20)
    assert data_record(config, splits)["dev"]["used_for"] == "best epoch, early stopping, calibration"
    assert data_record(config, splits, calibrated=False)["dev"]["used_for"] == "best epoch, early stopping"


def test_without_a_dev_set_the_record_names_the_validation_cut(files):
    config, splits = splits_of(files["train"], **{"training.validation_share": 0.2})
    dev = data_record(config, splits)["dev"]
    assert dev["documents"] == 10 and "training.validation_share" in dev["selection"]  # 20% of 27 per label


def test_parquet_trains_on_the_local_engine_with_its_split_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = records(tmp_path / "all.jsonl")
    table = pa.table({"body": [r["text"] for r in rows], "label": [r["label"] for r in rows],
                      "split": ["test" if i % 5 == 0 else "train" for i in range(len(rows))]})
    for suffix in (".parquet", ".pq"):
        pq.write_table(table, tmp_path / f"all{suffix}")
        _, splits = splits_of(tmp_path / f"all{suffix}", **{"data.text_field": "body"})
        assert (len(splits.train), len(splits.test)) == (48, 12)
        assert splits.test.texts == [r["text"] for i, r in enumerate(rows) if i % 5 == 0]
    pq.write_table(pa.table({"text": ["a", "b"], "label": ["x", "y"], "split": ["train", "later"]}),
                   tmp_path / "bad.parquet")
    with pytest.raises(CorpusError, match=r"bad\.parquet, row 2: unknown split 'later' in field 'split'"):
        load_corpus(tmp_path / "bad.parquet")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(__import__("sys").modules, "pyarrow.parquet", None)
    with pytest.raises(CorpusError, match=r'pip install "toolkit\[score\]"'):
        load_corpus(tmp_path / "x.parquet")


# ---------------------------------------------------------------------------
# spaCy DocBin files
# ---------------------------------------------------------------------------
def write_docbin(path, docs):
    """``docs``: (text, cats) pairs."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    bin_ = DocBin()
    for text, cats in docs:
        doc = nlp.make_doc(text)
        doc.cats = cats
        bin_.add(doc)
    bin_.to_disk(path)
    return path


def spacy_docs(rows):
    return [(r["text"], {"POSITIVE": float(r["label"] == "pos"), "NEGATIVE": float(r["label"] == "neg")})
            for r in rows]


def test_an_exclusive_spacy_file_gives_one_label_per_doc(tmp_path):
    rows = records(tmp_path / "all.jsonl", n_per_label=5)
    corpus = load_corpus(write_docbin(tmp_path / "train.spacy", spacy_docs(rows)))
    assert corpus.texts == [r["text"] for r in rows]
    assert [d.label for d in corpus] == ["POSITIVE" if r["label"] == "pos" else "NEGATIVE" for r in rows]
    assert corpus.labels == ["NEGATIVE", "POSITIVE"]
    assert corpus.documents[3].source == "train.spacy:doc 3"


def test_a_non_exclusive_spacy_file_gives_sorted_tuples_of_its_positive_cats(tmp_path):
    path = write_docbin(tmp_path / "multi.spacy", [
        ("battery died, screen cracked", {"screen": 1.0, "battery": 0.9, "price": 0.1}),
        ("cheap", {"screen": 0.0, "battery": 0.0, "price": 0.5}),
        ("nothing to say", {"screen": 0.0, "battery": 0.2, "price": 0.0}),
    ])
    corpus = load_corpus(path)
    assert [d.label for d in corpus] == [("battery", "screen"), ("price",), ()]
    assert corpus.labels == ["battery", "price", "screen"]


def test_a_spacy_file_without_cats_names_the_file_and_the_doc(tmp_path):
    path = write_docbin(tmp_path / "nocats.spacy", [("fine", {"A": 1.0, "B": 0.0}), ("none here", {})])
    with pytest.raises(CorpusError, match=r"nocats\.spacy, doc 1: no categories \(doc\.cats is empty\)") as info:
        load_corpus(path)
    assert "\n" not in str(info.value)
    with pytest.raises(CorpusError, match=r"empty\.spacy holds no documents"):
        load_corpus(write_docbin(tmp_path / "empty.spacy", []))
    (tmp_path / "junk.spacy").write_bytes(b"not a docbin")
    with pytest.raises(CorpusError, match=r"junk\.spacy is not a readable spaCy DocBin file"):
        load_corpus(tmp_path / "junk.spacy")


# ---------------------------------------------------------------------------
# bad input: one line naming file, line and field
# ---------------------------------------------------------------------------
def test_an_unknown_split_value_names_file_line_and_value(tmp_path):
    rows = records(tmp_path / "all.jsonl", n_per_label=3)
    for row in rows:
        row["split"] = "train"
    rows[4]["split"] = "holdout"
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(CorpusError, match=r"bad\.jsonl, line 5: unknown split 'holdout' in field 'split'; use "
                                          r"train, dev \(or validation, valid\) or test"):
        load_corpus(path)
    rows[4]["split"] = None
    with pytest.raises(CorpusError, match=r"line 5: unknown split None"):
        load_corpus(write_jsonl(path, rows))


def test_a_split_field_in_some_records_only_is_refused(tmp_path):
    rows = records(tmp_path / "all.jsonl", n_per_label=3)
    rows[0]["split"] = "train"
    with pytest.raises(CorpusError, match=r"line 2: no field 'split', unlike the first record"):
        load_corpus(write_jsonl(tmp_path / "some.jsonl", rows))


def test_a_fold_that_is_not_an_integer_names_file_line_and_field(tmp_path):
    rows = records(tmp_path / "all.jsonl", n_per_label=3)
    for i, row in enumerate(rows):
        row["fold"] = i
    rows[2]["fold"] = "two"
    with pytest.raises(CorpusError, match=r"folds\.csv, line 4: field 'fold' must be an integer >= 0, got 'two'"):
        load_corpus(write_csv(tmp_path / "folds.csv", rows))


def test_an_unknown_label_in_the_test_data_names_file_line_and_field(tmp_path, files):
    rows = records(tmp_path / "t.jsonl", n_per_label=3)
    rows[3]["label"] = "neutral"
    test = write_jsonl(tmp_path / "test.jsonl", rows)
    with pytest.raises(CorpusError, match=rf"{test}, line 4: label 'neutral' in field 'label' of the test data is "
                                          rf"not among the training data's labels \(neg, pos\)"):
        splits_of(files["train"], **{"data.test_path": str(test)})
    with pytest.raises(CorpusError, match=r"line 4: label 'neutral' in field 'label' of the dev data"):
        splits_of(files["train"], **{"data.dev_path": str(test)})


def test_a_label_only_in_test_documents_of_a_split_field_is_unknown(tmp_path):
    rows = records(tmp_path / "all.jsonl", n_per_label=6)
    for row in rows:
        row["split"] = "train"
    rows.append({"text": "The film was fine.", "label": "mixed", "split": "test"})
    rows.append({"text": "The film was dull.", "label": "neg", "split": "test"})
    with pytest.raises(CorpusError, match=r"all\.jsonl, line 13: label 'mixed' in field 'label' of the test data"):
        splits_of(write_jsonl(tmp_path / "all.jsonl", rows))


def test_a_training_label_the_test_set_lacks_is_a_warning_and_recorded(tmp_path, files, caplog):
    test = write_jsonl(tmp_path / "pos_only.jsonl", [r for r in records(tmp_path / "t.jsonl") if r["label"] == "pos"])
    with caplog.at_level(logging.WARNING, logger="toolkit.training.splits"):
        config, splits = splits_of(files["train"], **{"data.test_path": str(test)})
    assert "has no document of training label(s) 'neg'" in caplog.text
    assert data_record(config, splits)["test"]["missing_labels"] == ["neg"]


def test_a_test_file_with_no_documents_is_refused(tmp_path, files):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(CorpusError, match=r"empty\.jsonl holds no documents"):
        splits_of(files["train"], **{"data.test_path": str(tmp_path / "empty.jsonl")})
    with pytest.raises(CorpusError, match=r"--test-data .*missing\.jsonl does not exist"):
        splits_of(files["train"], **{"data.test_path": str(tmp_path / "missing.jsonl")})


def test_split_field_rules(tmp_path, files):
    rows = records(tmp_path / "all.jsonl", n_per_label=4)
    for row in rows:
        row["split"] = "dev"
    with pytest.raises(CorpusError, match="no training documents"):
        splits_of(write_jsonl(tmp_path / "dev_only.jsonl", rows))
    for i, row in enumerate(rows):
        row["split"] = "train" if i % 2 else "dev"
    path = write_jsonl(tmp_path / "no_test.jsonl", rows)
    with pytest.raises(CorpusError, match=r"no document has split 'test' .*pass --test-data"):
        splits_of(path)
    with pytest.raises(CorpusError, match=r"4 document\(s\) have split 'dev' .* and --dev-data is given too"):
        splits_of(path, **{"data.test_path": str(files["test"]), "data.dev_path": str(files["dev"])})
    _, splits = splits_of(path, **{"data.test_path": str(files["test"])})  # dev from the field, test from the file
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (4, 4, 20)


def test_cv_refuses_a_test_file_and_a_split_field(tmp_path, files):
    out = tmp_path / "cv"
    result = CliRunner().invoke(app, ["train", "--data", str(files["train"]), "--test-data", str(files["test"]),
                                      "--cv", "3", "--out", str(out)])
    assert "--cv makes its test folds out of --data; it does not take --test-data" in error_line(result)
    assert not out.exists()
    rows = records(tmp_path / "all.jsonl", n_per_label=4)
    for row in rows:
        row["split"] = "train"
    with pytest.raises(ConfigError, match=r"all\.jsonl, line 1: --cv makes its own folds, but the records have a "
                                          r"split field"):
        cross_validate(tiny_config(write_jsonl(tmp_path / "all.jsonl", rows)), k=2, progress=False)


# ---------------------------------------------------------------------------
# training and evaluation on them (tiny models)
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_train_on_train_and_test_files_then_evaluate_and_export(tmp_path, files):
    out = tmp_path / "m"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", str(files["train"]), "--test-data", str(files["test"]),
                                 "--out", str(out), "--epochs", "2", "--set", "vocab.min_count=1",
                                 "--set", "training.max_len=40", "--set", "training.calibration=none", "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"test: 20 documents: {files['test']}, whole file" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["n_train"], metrics["n_test"], metrics["split"]) == (60, 20, "test file")
    assert metrics["data"]["train"]["documents"] == 60 and metrics["data"]["test"]["documents"] == 20
    evaluated = runner.invoke(app, ["evaluate", str(out), "--json"])  # the model's own test file
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads(evaluated.output)
    assert again["n_test"] == 20 and again["accuracy"] == pytest.approx(metrics["accuracy"])
    other = runner.invoke(app, ["evaluate", str(out), "--test-data", str(files["dev"]), "--json"])
    assert json.loads(other.output)["data"]["test"]["source"] == str(files["dev"])
    assert json.loads(other.output)["n_test"] == 16
    assert "no dev set" in error_line(runner.invoke(app, ["evaluate", str(out), "--split", "dev"]))

    from toolkit.training.export import export_model

    bundle = export_model(out, tmp_path / "bundle")
    card = (bundle / "README.md").read_text()
    assert f"  - train: 60 documents: {files['train']}, whole file" in card
    assert f"  - test: 20 documents: {files['test']}, whole file" in card
    # these texts are short: the short-text rule held 10% of the training documents out for validation
    assert (f"  - dev: 6 documents: {files['train']}, 10% of each label cut from the training documents, seed 0 "
            f"(training.validation_share), for best epoch, early stopping") in card


@pytest.mark.slow
def test_a_dev_set_picks_the_epoch_and_is_what_calibration_is_fitted_on(tmp_path, files):
    config = tiny_config(files["train"], epochs=3, **{"data.test_path": str(files["test"]),
                                                      "data.dev_path": str(files["dev"]),
                                                      "training.calibration": "temperature"})
    metrics = train_model(config, tmp_path / "m", progress=False)
    assert "val_accuracy" in metrics["history"] and len(metrics["history"]["val_accuracy"]) >= 1
    assert metrics["n_train"] == 60  # nothing held out of the training file
    cal = metrics["calibration"]
    assert cal["fitted_on"] == f"the dev set (16 documents of {files['dev']})" and cal["n"] == 16
    assert metrics["data"]["dev"]["used_for"] == "best epoch, early stopping, calibration"
    assert evaluate_model(tmp_path / "m", split="dev")["n_test"] == 16


@pytest.mark.slow
def test_cli_train_on_spacy_files(tmp_path):
    train = write_docbin(tmp_path / "train.spacy", spacy_docs(records(tmp_path / "a.jsonl", 30, seed=4)))
    dev = write_docbin(tmp_path / "dev.spacy", spacy_docs(records(tmp_path / "b.jsonl", 6, seed=5)))
    out = tmp_path / "m"
    result = CliRunner().invoke(app, ["train", "--data", str(train), "--test-data", str(dev), "--out", str(out),
                                      "--epochs", "2", "--set", "vocab.min_count=1", "--set", "training.max_len=40",
                                      "--set", "training.calibration=none", "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"] == ["NEGATIVE", "POSITIVE"] and metrics["n_test"] == 12 and metrics["n_train"] == 60


@pytest.mark.slow
def test_parquet_trains_locally(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = records(tmp_path / "all.jsonl")
    pq.write_table(pa.table({"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]}),
                   tmp_path / "all.parquet")
    metrics = train_model(tiny_config(tmp_path / "all.parquet"), tmp_path / "m", progress=False)
    assert (metrics["n_train"], metrics["n_test"]) == (54, 6)
    assert metrics["data"]["test"]["selection"] == "cut from --data (10% of each label, seed 0)"


def test_the_ray_engine_refuses_a_dev_set_before_starting(tmp_path, files):
    result = CliRunner().invoke(app, ["train", "--data", str(files["train"]), "--dev-data", str(files["dev"]),
                                      "--engine", "ray", "--out", str(tmp_path / "m")])
    assert "--engine ray trains without a validation set" in error_line(result) and "--dev-data" in result.output
    assert not (tmp_path / "m").exists()
