"""``toolkit train`` (one split or ``--cv``) and ``toolkit evaluate``: thin commands over
:mod:`toolkit.training.experiment`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

from toolkit.cli.common import cli_errors, parse_options
from toolkit.cli.quiet import import_tensorflow
from toolkit.core.errors import ConfigError

DataOpt = typer.Option(None, "--data", help="Corpus: folder tree, .jsonl, .csv, .parquet or .spacy (default: the "
                       "polarity corpus). A split or fold field in its records decides the test set.")
TestDataOpt = typer.Option(None, "--test-data", help="Test set (any corpus format): used whole, and nothing is cut "
                           "out of --data.")
DevDataOpt = typer.Option(None, "--dev-data", help="Dev set (any corpus format): picks the best epoch, stops early "
                          "and is what the calibration is fitted on.")


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``evaluate`` to the main app."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)


#: Config fields set by their own ``toolkit train`` options (named in error messages).
OPTION_NAMES = {
    "data.path": "--data", "data.test_path": "--test-data", "data.dev_path": "--dev-data",
    "data.text_field": "--text-field", "data.label_field": "--label-field",
    "data.encoding": "--encoding", "data.test_share": "--test-share", "data.multi_label": "--multi-label",
    "tokenizer.name": "--tokenizer",
    "embedding.name": "--embedding", "architecture.name": "--architecture", "training.epochs": "--epochs",
    "training.batch_size": "--batch-size", "training.learning_rate": "--learning-rate", "training.seed": "--seed",
}


def build_config(config_file: Optional[Path], overrides: dict[str, Any], preset: bool = False):
    """The config file (or the defaults) with ``overrides`` applied. ``preset``: the chosen
    architecture's ``recommended`` settings go in between (over the file, under the overrides).
    Every value is checked (type and range) before anything runs."""
    from toolkit.training.config import Config, preset_overrides

    base = Config.from_file(config_file) if config_file else Config()
    config = base.with_overrides(overrides, source="command line", aliases=OPTION_NAMES) if overrides else base
    if not preset:
        return config
    from toolkit.core import registry

    arch = registry.create("architecture", config.architecture.name, **config.architecture.options)
    recommended = getattr(arch, "recommended", None)
    if not recommended:
        raise ConfigError(f"--preset: architecture {config.architecture.name!r} has no recommended settings "
                          f"(its 'recommended' attribute is empty or missing)")
    return base.with_overrides({**preset_overrides(recommended), **overrides}, source="--preset and the command line",
                               aliases=OPTION_NAMES)


@cli_errors
def train_cmd(
    out: Path = typer.Option(Path("runs/model"), "--out", "-o", help="Output folder (refused if it exists)."),
    config_file: Optional[Path] = typer.Option(None, "--config", "-c", help="Training config (TOML or JSON)."),
    data: Optional[Path] = DataOpt,
    test_data: Optional[Path] = TestDataOpt,
    dev_data: Optional[Path] = DevDataOpt,
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Text column/field of CSV or JSONL."),
    label_field: Optional[str] = typer.Option(None, "--label-field", help="Label column/field of CSV or JSONL."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Text encoding of the corpus."),
    test_share: Optional[float] = typer.Option(None, "--test-share", help="Test share for corpora without folds."),
    multi_label: Optional[bool] = typer.Option(
        None, "--multi-label/--no-multi-label", show_default=False,
        help="Non-exclusive labels (a JSON list of labels per document, textcat_multilabel .spacy files): a "
             "sigmoid per label and per-label thresholds. Default: chosen from the data (data.multi_label)."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", "-t", help="Tokenizer name."),
    tokenizer_option: Optional[List[str]] = typer.Option(None, "--tokenizer-option", "-T", help="key=value."),
    embedding: Optional[str] = typer.Option(None, "--embedding", "-e", help="Embedding provider name."),
    embedding_option: Optional[List[str]] = typer.Option(None, "--embedding-option", "-E", help="key=value."),
    architecture: Optional[str] = typer.Option(None, "--architecture", "-a", help="Architecture name."),
    architecture_option: Optional[List[str]] = typer.Option(None, "--architecture-option", "-A", help="key=value."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size."),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="Learning rate."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Any config field: section.field=value."),
    preset: bool = typer.Option(False, "--preset", help="Use the architecture's recommended tokenizer, vocabulary, "
                                "embedding and training settings (over --config, under the other options)."),
    cv: int = typer.Option(0, "--cv", help="k-fold cross-validation instead of one split (polarity: 10)."),
    engine: str = typer.Option("local", "--engine", help="local (one process) or ray: data-parallel workers on Ray "
                               "Train (streams JSONL/CSV/Parquet files), or with --cv the folds as Ray Tune trials."),
    workers: int = typer.Option(2, "--workers", help="--engine ray: data-parallel training workers (1 CPU each)."),
    address: Optional[str] = typer.Option(None, "--address", help="--engine ray: Ray cluster HOST:PORT (default: "
                                          "start a local Ray on 127.0.0.1)."),
    max_failures: int = typer.Option(0, "--max-failures", help="--engine ray: restart the workers from the last "
                                     "checkpoint this many times when one dies (0: fail with its error)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="--engine ray: stop the run after this many "
                                            "seconds."),
    storage: Optional[Path] = typer.Option(None, "--storage", help="--engine ray: Ray Train's checkpoints (every "
                                           "node writes and reads them: shared storage on a cluster; default: beside "
                                           "--out)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch progress."),
) -> None:
    """Train a model: clean -> vocabulary -> embedding -> model -> fit; write a model folder."""
    from toolkit.training.config import parse_set_options

    overrides: dict[str, Any] = {}
    simple = {
        "data.path": str(data) if data else None, "data.test_path": str(test_data) if test_data else None,
        "data.dev_path": str(dev_data) if dev_data else None, "data.text_field": text_field, "data.label_field": label_field,
        "data.encoding": encoding, "data.test_share": test_share, "data.multi_label": multi_label,
        "tokenizer.name": tokenizer,
        "embedding.name": embedding, "architecture.name": architecture, "training.epochs": epochs,
        "training.batch_size": batch_size, "training.learning_rate": learning_rate, "training.seed": seed,
    }
    overrides.update({k: v for k, v in simple.items() if v is not None})
    # A new component name starts from that component's defaults, unless options are given.
    for section, name in (("tokenizer", tokenizer), ("embedding", embedding), ("architecture", architecture)):
        if name is not None:
            overrides[f"{section}.options"] = {}
    for section, pairs in (("tokenizer", tokenizer_option), ("embedding", embedding_option),
                           ("architecture", architecture_option)):
        for key, value in parse_options(pairs, section).items():
            overrides[f"{section}.options.{key}"] = value
    overrides.update(parse_set_options(set_))
    if cv < 0 or cv == 1:
        raise ConfigError(f"--cv must be 0 (one train/test split) or a number of folds >= 2, got {cv}")
    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine must be 'local' or 'ray', got {engine!r}")
    config = build_config(config_file, overrides, preset=preset)
    if engine == "ray" and config.data.multi_label:
        raise ConfigError("--engine ray trains exclusive labels; a multi-label run (--multi-label, "
                          "data.multi_label = true) trains on the local engine: drop --engine ray")
    if cv:
        from toolkit.training.splits import check_cross_validation

        check_cross_validation(config)  # before TensorFlow is imported
    command = "toolkit " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("toolkit") else None

    from toolkit.core.atomic import private_tempdir
    from toolkit.training.experiment import check_output_folder

    # The same check train_model, the Ray engine and run_cross_validation make, made here too for a fast
    # error: before private_tempdir makes a scratch folder beside --out and TensorFlow is imported (seconds).
    check_output_folder(out, overwrite)
    with private_tempdir(out):  # TensorFlow's scratch files (autograph) beside the output, swept if killed
        import_tensorflow()  # after the settings are checked: a bad option fails at once
        if cv:
            run_cross_validation(config, cv, out, overwrite=overwrite, progress=not quiet, engine=engine,
                                 address=address)
            return
        if engine == "ray":
            from toolkit.training.distributed.ray_train import train_distributed

            metrics = train_distributed(config, out, workers=workers, address=address, overwrite=overwrite,
                                        progress=not quiet, max_failures=max_failures, timeout=timeout,
                                        storage=storage, test_data=config.data.test_path, command=command)
        else:
            from toolkit.training.experiment import train_model

            metrics = train_model(config, out, overwrite=overwrite, progress=not quiet, command=command)
    typer.echo(format_metrics(metrics))
    typer.echo(f"model folder: {out}")


def run_cross_validation(config, k: int, out: Path, overwrite: bool, progress: bool, engine: str = "local",
                         address: Optional[str] = None) -> dict:
    from toolkit.core.atomic import atomic_dir, write_json
    from toolkit.training.experiment import check_output_folder, cross_validate

    check_output_folder(out, overwrite)  # before the k fits, not after them

    def on_fold(i: int, row: dict) -> None:
        typer.echo(f"fold {i}: accuracy {row['accuracy']:.4f} ({row['n_test']} docs, {row['train_seconds']:.0f}s)")

    if engine == "ray":  # the folds as parallel Ray Tune trials
        from toolkit.training.distributed.tune import cross_validate_ray

        result = cross_validate_ray(config, k, address=address, on_fold=on_fold)
    else:
        result = cross_validate(config, k, progress=progress, on_fold=on_fold)
    typer.echo(f"{k}-fold accuracy: {result['mean_accuracy']:.4f} +- {result['std_accuracy']:.4f}")
    cal = result.get("calibration") or {}
    for view in ("full", "first", "window20"):
        if isinstance(cal.get(view), dict):
            typer.echo(f"  out-of-fold ECE ({view}): {cal[view]['before']['ece']:.3f} -> {cal[view]['after']['ece']:.3f} "
                       f"({cal.get('method')}, each fold calibrated on the others)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out, overwrite=overwrite, expect=("cv.json",)) as tmp:
        write_json(Path(tmp) / "cv.json", result)
        (Path(tmp) / "config.toml").write_text(config.to_toml(), encoding="utf-8")
    typer.echo(f"written: {out / 'cv.json'}")
    return result


def format_metrics(metrics: dict) -> str:
    if metrics.get("multi_label"):
        lines = _multilabel_lines(metrics)
    else:
        lines = [f"test accuracy: {metrics['accuracy']:.4f} on {metrics['n_test']} documents "
                 f"(macro F1 {metrics['macro_f1']:.4f})"]
        for label, m in metrics["per_label"].items():
            lines.append(f"  {label}: precision {m['precision']:.3f} recall {m['recall']:.3f} f1 {m['f1']:.3f} "
                         f"support {m['support']}")
        labels = metrics["labels"]
        lines.append("  confusion (rows true, columns predicted): " + ", ".join(labels))
        for label, row in zip(labels, metrics["confusion_matrix"]):
            lines.append(f"    {label}: {row}")
    lines += _calibration_lines(metrics.get("calibration"), metrics.get("split", "test"))
    if isinstance(metrics.get("data"), dict):
        from toolkit.training.splits import describe_part

        lines.append("data:")
        lines += [f"  {part}: {describe_part(record)}" for part, record in metrics["data"].items()]
    if "train_seconds" in metrics:
        lines.append(f"train time: {metrics['train_seconds']:.1f}s; best epoch {metrics['best_epoch']} "
                     f"of {metrics['epochs_run']}")
    return "\n".join(lines)


def _multilabel_lines(metrics: dict) -> list[str]:
    """``format_metrics``' lines for a multi-label model: the averaged figures, then each label's."""
    lines = [f"test (multi-label, {metrics['n_test']} documents): micro F1 {metrics['micro_f1']:.4f}, macro F1 "
             f"{metrics['macro_f1']:.4f}, samples F1 {metrics['samples_f1']:.4f}, exact match "
             f"{metrics['accuracy']:.4f}, Hamming loss {metrics['hamming_loss']:.4f}, macro AUC "
             f"{metrics['macro_auc']:.4f}"]
    for label, m in metrics["per_label"].items():
        auc = "n/a" if m.get("auc") is None else f"{m['auc']:.3f}"
        lines.append(f"  {label}: threshold {m['threshold']:.2f} precision {m['precision']:.3f} recall "
                     f"{m['recall']:.3f} f1 {m['f1']:.3f} auc {auc} support {m['support']}")
    choice = metrics.get("threshold_choice")
    if isinstance(choice, dict):
        lines.append(f"  thresholds chosen on {choice.get('chosen_on', '?')}")
    return lines


def _calibration_lines(cal: Any, split: str) -> list[str]:
    """``format_metrics``' lines on calibration: the temperature and ECE / Brier / log loss before and after."""
    if not isinstance(cal, dict):
        return []
    if cal.get("method") == "temperature":
        what = f"temperature {cal['temperature']:.3f}"
    elif cal.get("method") == "length-temperature":
        what = f"T = exp({cal['a']:.3f} {cal['b']:+.3f} log n) by length"
    elif cal.get("method") == "label-temperature":
        what = "a temperature per label (" + ", ".join(f"{label} {t:.3f}" for label, t in
                                                     (cal.get("temperatures") or {}).items()) + ")"
    else:
        return ["calibration: none"]
    lines = [f"calibration: {what} (fitted on {cal.get('fitted_on', '?')}, {cal.get('n', '?')} examples)"]
    for name in dict.fromkeys(("heldout", "test", split)):
        part = cal.get(name)
        if isinstance(part, dict) and "before" in part:
            b, a = part["before"], part["after"]
            lines.append(f"  {name}: ECE {b['ece']:.3f} -> {a['ece']:.3f}, Brier {b['brier']:.3f} -> {a['brier']:.3f}, "
                         f"log loss {b['log_loss']:.3f} -> {a['log_loss']:.3f} (before -> after; ECE "
                         f"{'per label, averaged' if 'ece_per_label' in b else 'top-label'}, 10 bins)")
    return lines


@cli_errors
def evaluate_cmd(
    model_dir: Path = typer.Argument(..., help="A model folder written by `toolkit train`."),
    data: Optional[Path] = typer.Option(None, "--data", help="Corpus, as `toolkit train --data` takes it (default: "
                                        "the one the model was trained on, with its test and dev files)."),
    test_data: Optional[Path] = typer.Option(None, "--test-data", help="Test set (any corpus format)."),
    dev_data: Optional[Path] = typer.Option(None, "--dev-data", help="Dev set (any corpus format; --split dev)."),
    split: str = typer.Option("test", "--split", help="test, dev, train or all (of --data)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Evaluate a trained model on a part of its data, chosen as `toolkit train` chose it."""
    if split not in ("test", "dev", "train", "all"):
        raise ConfigError(f"--split must be test, train or all (of --data), or dev, got {split!r}")
    import_tensorflow()
    from toolkit.training.experiment import evaluate_model

    metrics = evaluate_model(model_dir, data=data, split=split, test_data=test_data, dev_data=dev_data)
    typer.echo(json.dumps(metrics, indent=2) if as_json else format_metrics(metrics))
