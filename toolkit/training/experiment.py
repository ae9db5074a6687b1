"""``toolkit train``, ``evaluate`` and cross-validation: corpus -> fit -> metrics -> model folder.

The loop itself is :mod:`toolkit.training.loop`; the folder format is
:mod:`toolkit.training.model_folder`. TensorFlow is imported inside functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from toolkit import __version__
from toolkit.core import registry
from toolkit.core.errors import OutputExistsError, TrainingError
from toolkit.core.atomic import check_parent_writable, refuse_existing
from toolkit.core.vocab import Vocab
from toolkit.training.config import Config
from toolkit.training.calibrate import (RELIABILITY_PNG, as_calibration, before_after, calibrate,
                                          cross_fitted_calibration, reliability_plot, score_heldout)
from toolkit.training.corpus import Corpus, k_folds, load_corpus, require_labels, resolve_label_mode
from toolkit.training.evaluation import evaluate_fit
from toolkit.training.keras_io import load_keras_model
from toolkit.training.loop import FitResult, fit, predict_ids
from toolkit.training.metrics import check_ordered, classification_metrics, multilabel_metrics
from toolkit.training.model_folder import MODEL_FORMAT, MODEL_FORMAT_VERSION, read_model_dir, write_model_folder
from toolkit.training.plots import plot_history
from toolkit.training.prepare import tokenize_texts
from toolkit.training.thresholds import calibrate_and_choose
from toolkit.training.splits import (Splits, check_cross_validation, check_labels, data_record, label_field_name,
                                    part_record, resolve_splits)


def load_training_corpus(config: Config, corpus: Corpus | None = None) -> Corpus:
    if corpus is None:
        d = config.data
        corpus = load_corpus(d.path, text_field=d.text_field, label_field=d.label_field, encoding=d.encoding,
                             split_field=d.split_field, fold_field=d.fold_field)
    ordered = config.data.ordered
    if ordered is not None and ordered != corpus.ordered:  # the config decides: labels re-ordered to match
        if ordered:
            check_ordered(corpus.labels, f"{corpus.name}: data.ordered = true")
        corpus = Corpus(corpus.documents, name=corpus.name, ordered=ordered)
    corpus = resolve_label_mode(corpus, config.data.multi_label, label_field_name(config, corpus.name))
    require_labels(corpus)
    return corpus

def split_corpus(config: Config, corpus: Corpus) -> tuple[Corpus, Corpus]:
    """The training and test documents (:func:`toolkit.training.splits.resolve_splits`; dev documents,
    if any, in neither)."""
    splits = resolve_splits(config, corpus)
    return splits.train, splits.test

def _split_name(config: Config, splits: Splits) -> str:
    """``metrics.json``'s ``split``: how the test set was chosen, in a few words."""
    if config.data.test_path:
        return "test file"
    if any(d.split is not None for d in splits.corpus):
        return f"split field {config.data.split_field!r}"
    return "predefined folds" if splits.corpus.has_folds else f"stratified {config.data.test_share:.0%}"

def _provenance(kind: str, name: str) -> dict[str, str]:
    reg = registry.lookup(kind, name)
    return {"plugin": reg.plugin, "distribution": reg.distribution, "version": reg.version}

def model_meta(config: Config, result: FitResult) -> dict[str, Any]:
    prep = result.prepared
    emb_info = {"name": config.embedding.name, "config": result.embedding.config,
                **_provenance("embedding", config.embedding.name)}
    report = getattr(result.embedding, "report", None)
    if report:
        emb_info["report"] = report
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "labels": prep.labels,
        "labels_ordered": prep.ordered,
        "tokenizer": {"name": config.tokenizer.name, "config": prep.tokenizer.config,
                      **_provenance("tokenizer", config.tokenizer.name)},
        "vocab": {"size": len(prep.vocab), "min_count": config.vocab.min_count, "max_size": config.vocab.max_size,
                  "ngrams": config.vocab.ngrams, "unknown": config.vocab.unknown},
        "length_policy": result.architecture.length_policy,
        "max_len": result.max_len,
        "min_len": int(getattr(result.architecture, "min_len", 1)),
        "architecture": {"name": config.architecture.name, "config": result.architecture.config,
                         **_provenance("architecture", config.architecture.name)},
        "embedding": emb_info,
        "toolkit_version": __version__,
        **({"linear_path": result.linear} if result.linear else {}),
        **({"multi_label": True} if prep.multi_label else {}),
    }

def check_output_folder(out_dir: Path, overwrite: bool) -> None:
    """Refuse, before any work, the output folder of ``toolkit train``: an existing one without
    ``overwrite`` (:func:`toolkit.core.atomic.refuse_existing`), a file in its place, or a parent folder
    that cannot be created or written (:func:`toolkit.core.atomic.check_parent_writable`). The one check of
    that folder: :func:`train_model`, the Ray engine and the command line's cross-validation call it."""
    out_dir = Path(out_dir)
    refuse_existing(out_dir, overwrite, what="output folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"output {out_dir} is a file; choose a folder path for --out")
    check_parent_writable(out_dir, "output folder")


#: Share held out as a validation set by the short-text rule (``training.short_text_words``).
SHORT_TEXT_VALIDATION_SHARE = 0.1
#: ... and only when every label has this many training documents (10% of each is then at least one).
SHORT_TEXT_MIN_PER_LABEL = 10
#: Short texts also keep every n-gram seen once (vocab.min_count 1 instead of the default 2): a sentence
#: rarely repeats a bigram, and the linear path gains from them (MR fold 0: 76.9 -> 78.1% for the linear
#: path alone, 78.2 -> 78.5% for the default mix; benchmarks/baselines.py has the whole table).
SHORT_TEXT_FROM_MIN_COUNT = 2
SHORT_TEXT_MIN_COUNT = 1


def short_text_rule(config: Config, train: Corpus) -> tuple[Config, dict[str, Any] | None]:
    """``config`` with a 10% validation set (and ``vocab.min_count`` 1 when it is the default 2) when the
    training split is made of short texts.

    Applies when ``training.validation_share`` is 0, every label has at least
    ten training documents, and the median training document has fewer than
    ``training.short_text_words`` words (white-space separated); returns the config to train with and a record of the decision
    (``None`` when the rule did not apply).
    """
    tr = config.training
    if tr.short_text_words <= 0 or tr.validation_share > 0 or len(train) == 0:
        return config, None
    if min(train.label_counts().values()) < SHORT_TEXT_MIN_PER_LABEL:  # too few to hold out 10% of each label
        return config, None
    words = sorted(len(text.split()) for text in train.texts)
    median = words[len(words) // 2]
    if median >= tr.short_text_words:
        return config, None
    overrides: dict[str, Any] = {"training.validation_share": SHORT_TEXT_VALIDATION_SHARE}
    if config.vocab.min_count == SHORT_TEXT_FROM_MIN_COUNT:  # the default: every n-gram of short texts counts
        overrides["vocab.min_count"] = SHORT_TEXT_MIN_COUNT
    record = {"rule": "training.short_text_words", "median_words": median, "threshold": tr.short_text_words,
              "validation_share": SHORT_TEXT_VALIDATION_SHARE,
              "min_count": overrides.get("vocab.min_count", config.vocab.min_count)}
    return config.with_overrides(overrides), record


def train_model(config: Config, out_dir: str | os.PathLike, *, overwrite: bool = False, progress: bool = True,
                corpus: Corpus | None = None, command: str | None = None) -> dict[str, Any]:
    """Run the whole chain and write the model folder; returns the test metrics."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir, overwrite)  # before training, not after it
    corpus = load_training_corpus(config, corpus)
    if config.data.multi_label is None and corpus.multi_label:  # chosen from the data: recorded in config.toml
        config = config.with_overrides({"data.multi_label": True})
    splits = resolve_splits(config, corpus)
    train, test, dev = splits.train, splits.test, splits.dev
    # a dev set is the validation set: the short-text rule would cut another one out of train
    config, short_text = short_text_rule(config, train) if dev is None else (config, None)
    result = fit(config, train, progress=progress, dev=dev)
    evaluation = evaluate_fit(result, test)
    metrics, ids, y_true, probs = dict(evaluation.metrics), evaluation.ids, evaluation.y_true, evaluation.probs
    lengths = [min(len(x), result.max_len) for x in ids]  # model ids per test document (length-temperature)
    decision = None
    if result.prepared.multi_label:  # a temperature and a threshold per label, on held-out documents
        record, heldout, decision = calibrate_and_choose(config, train, result, progress=progress, dev=dev)
        labels = result.prepared.labels
        served = as_calibration(record).apply(probs, lengths)  # the test set as the bundle will score it
        metrics = multilabel_metrics(y_true, served, labels, [decision["thresholds"][lab] for lab in labels])
        metrics["threshold_choice"] = {k: v for k, v in decision.items() if k != "thresholds"}
    else:
        record, heldout = calibrate(config, train, result, progress=progress, dev=dev)
    if short_text:
        metrics["short_text_rule"] = short_text
    metrics.update({
        "train_seconds": round(result.train_seconds, 2),
        "best_epoch": result.best_epoch + 1,
        "epochs_run": len(result.history.get("loss", [])),
        "n_train": len(train),
        "history": result.history,
        "split": _split_name(config, splits),
        "data": data_record(config, splits, calibrated=record is not None),
        "calibration": {"method": config.training.calibration, **(record or {}), "heldout": heldout,
                        "test": before_after(probs, y_true, record, lengths)},
    })
    meta = model_meta(config, result)
    if record:
        meta["calibration"] = record
    if decision is not None:
        meta["thresholds"] = decision["thresholds"]
        meta["thresholds_chosen_on"] = decision["chosen_on"]
    if command:
        meta["command"] = command

    def extras(tmp: Path) -> None:
        plot_history(result.history, tmp / "training_curve.png",
                     title=f"{config.architecture.name} + {config.embedding.name}: test accuracy {metrics['accuracy']:.3f}")
        reliability_plot(probs, y_true, record, result.prepared.labels, tmp / RELIABILITY_PNG,
                         title=f"reliability on the test split ({len(y_true)} documents)", lengths=lengths)

    write_model_folder(
        out_dir, model=result.model, vocab=result.prepared.vocab, config_toml=config.to_toml(), meta=meta,
        metrics=metrics, test_ids=ids, test_labels=y_true, max_len=result.max_len, overwrite=overwrite,
        extras=extras,
    )
    return metrics


#: The parts ``toolkit evaluate --split`` scores.
EVALUATE_SPLITS = ("test", "dev", "train", "all")


def evaluate_model(model_dir: str | os.PathLike, data: str | os.PathLike | None = None, split: str = "test",
                   config: Config | None = None, *, test_data: str | os.PathLike | None = None,
                   dev_data: str | os.PathLike | None = None) -> dict[str, Any]:
    """Metrics of a trained model folder on a part of its data (``test``, ``dev``, ``train`` or ``all`` of
    ``--data``), chosen as ``toolkit train`` chose it (:func:`toolkit.training.splits.resolve_splits`).

    ``data``, ``test_data``, ``dev_data``: instead of the model's ``data.path``, ``data.test_path`` and
    ``data.dev_path`` (a new ``data`` drops the model's test and dev files, unless they are given too)."""
    if split not in EVALUATE_SPLITS:
        raise TrainingError(f"unknown split {split!r}; use test, train or all (of --data), or dev")
    model_dir = Path(model_dir)
    meta = read_model_dir(model_dir)
    model = load_keras_model(model_dir / "model.keras", meta)
    if config is None:
        config = Config.from_file(model_dir / "config.toml")
    overrides: dict[str, Any] = {"data.multi_label": bool(meta.get("multi_label", False))}  # the model's mode
    if data is not None:
        overrides.update({"data.path": str(data), "data.test_path": None, "data.dev_path": None})
    for dotted, value in (("data.test_path", test_data), ("data.dev_path", dev_data)):
        if value is not None:
            overrides[dotted] = str(value)
    config = config.with_overrides(overrides, source="command line")
    splits = resolve_splits(config, load_training_corpus(config))
    corpus = splits.corpus
    part = {"test": splits.test, "dev": splits.dev, "train": splits.train, "all": corpus}[split]
    if part is None:
        raise TrainingError(f"{corpus.name}: no dev set to evaluate on; pass --dev-data, or mark dev documents "
                            f"in the split field ({config.data.split_field!r})")
    origin = splits.origin.get(split, (corpus.name, "all documents"))
    registry.require("tokenizer", meta["tokenizer"], where=f"model {model_dir}")
    tok = registry.create("tokenizer", meta["tokenizer"]["name"], **meta["tokenizer"]["config"])
    vocab = Vocab.from_file(model_dir / "vocab.txt", ngrams=meta["vocab"]["ngrams"],
                            unknown=meta["vocab"].get("unknown", "map"))
    labels = meta["labels"]
    index = {label: i for i, label in enumerate(labels)}
    check_labels(config, part, origin[0], labels, split, warn=False, known_as="the model's labels")
    ids = vocab.encode_many(tokenize_texts(part.texts, tok, progress=True))
    probs = predict_ids(model, ids, meta["max_len"], meta["length_policy"], meta.get("min_len", 1))
    record = meta.get("calibration")
    lengths = [min(len(x), meta["max_len"]) for x in ids]
    if meta.get("multi_label"):  # decided as the bundle decides: calibrated probabilities, per-label thresholds
        y_part = Corpus(part.documents, labels=list(labels), multi_label=True).label_matrix
        thresholds = meta.get("thresholds") or {}
        metrics = multilabel_metrics(y_part, as_calibration(record).apply(probs, lengths), labels,
                                     [thresholds.get(label, 0.5) for label in labels])
    else:
        y_part = [index[d.label] for d in part]
        metrics = classification_metrics(y_part, probs.argmax(axis=1), labels,
                                         ordered=bool(meta.get("labels_ordered")))
    metrics["calibration"] = {**(record or {"method": "none"}), split: before_after(probs, y_part, record, lengths)}
    metrics["split"] = split
    metrics["corpus"] = corpus.name
    metrics["data"] = {split: part_record(part, origin)}
    return metrics


def fit_fold(config: Config, train: Corpus, test: Corpus, fold: int, progress: bool = False
             ) -> tuple[dict[str, Any], FitResult]:
    """Fit on ``train`` (the short-text rule applied) and score ``test``: one cross-validation fold's row,
    the same whether the folds run here one after another or as Ray Tune trials."""
    result = fit(short_text_rule(config, train)[0], train, progress=progress)
    m = evaluate_fit(result, test).metrics
    row = {"fold": fold, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "n_test": m["n_test"],
           "train_seconds": round(result.train_seconds, 2), "best_epoch": result.best_epoch + 1}
    if "ordinal" in m:
        row["mae"] = m["ordinal"]["mae"]
    if m.get("multi_label"):
        row["micro_f1"] = m["micro_f1"]
    return row, result


def cross_validate(config: Config, k: int = 10, corpus: Corpus | None = None, progress: bool = True,
                   on_fold: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """k-fold cross-validation: the corpus's own folds when it has them, else k stratified folds.
    No test or dev file, nor a split field (:func:`toolkit.training.splits.check_cross_validation`)."""
    check_cross_validation(config)
    corpus = load_training_corpus(config, corpus)
    check_cross_validation(config, corpus)
    folds = k_folds(corpus, k, seed=config.data.split_seed)
    rows, oof = [], []
    for i, (train, test) in enumerate(folds):
        row, result = fit_fold(config, train, test, i, progress=progress)
        # out-of-fold scores of the fold and its short views
        views = not corpus.multi_label  # a multi-label model is calibrated per label on full documents only
        oof.append(dict(zip(("full", "first", "window20"), score_heldout(result, test, list(corpus.labels), views, i))))
        rows.append(row)
        if on_fold:
            on_fold(i, row)
    accs = np.array([r["accuracy"] for r in rows])
    return {"k": k, "folds": rows, "mean_accuracy": float(accs.mean()), "std_accuracy": float(accs.std(ddof=1)),
            "calibration": cross_fitted_calibration(oof, config.training.calibration, list(corpus.labels)),
            "config": config.to_dict(), "corpus": corpus.name}
