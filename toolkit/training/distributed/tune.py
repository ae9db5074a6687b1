"""Many models at once on Ray Tune: cross-validation folds and hyperparameter searches as parallel trials.

``toolkit train --cv K --engine ray`` runs the K folds as K trials
(:func:`cross_validate_ray`, same result as :func:`toolkit.training.experiment.cross_validate`).
``toolkit search SPACE.toml`` (:func:`run_search`) runs a grid or random search
over config fields; each trial is one (setting, fold) pair for the ``cv``
objective, or one setting fitted on the training split less a stratified
validation share for the ``validation`` objective (the test split is never
looked at). Settings are drawn on the driver (seeded), so Tune only schedules:
one CPU and one TensorFlow thread per trial, actors reused between trials.

The results table (``results.csv`` and ``results.json``: one row per trial) is
rewritten atomically after every finished trial; ``--resume`` skips the trials
already in it. At the end ``summary`` ranks the settings by their mean metric
and ``best_config.toml`` holds the base config with the best setting applied.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import random
import shutil
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from toolkit.core.errors import ConfigError, TrainingError
from toolkit.training.config import Config
from toolkit.training.distributed import RaySession, failure_summary, import_ray
from toolkit.core.atomic import refuse_existing, write_text_atomic

MODES = ("grid", "random")
OBJECTIVES = ("cv", "validation")
METRICS = ("accuracy", "macro_f1")
RESULTS_JSON, RESULTS_CSV, BEST_TOML = "results.json", "results.csv", "best_config.toml"


# --------------------------------------------------------------------------
# One trial: fit one config on one fold (or on train less validation)
# --------------------------------------------------------------------------
def run_trial(trial: dict[str, Any], config_dict: dict[str, Any], corpus: Any, k: int) -> dict[str, Any]:
    """Fit and score one trial; returns its metrics (used in Tune's actors and by the local engine)."""
    from toolkit.training.corpus import k_folds, stratified_holdout
    from toolkit.training.experiment import fit_fold, split_corpus

    config = Config.from_dict(config_dict).with_overrides(trial["params"]) if trial["params"] \
        else Config.from_dict(config_dict)
    if trial["fold"] is not None:
        train, test = k_folds(corpus, k, seed=config.data.split_seed)[trial["fold"]]
    else:
        train_all, _ = split_corpus(config, corpus)
        fit_idx, val_idx = stratified_holdout(train_all.label_ids, trial["validation_share"], config.training.seed)
        docs = train_all.documents
        train = train_all.subset([docs[i] for i in fit_idx], "search-train")
        test = train_all.subset([docs[i] for i in val_idx], "search-validation")
    row, _ = fit_fold(config, train, test, trial["fold"] if trial["fold"] is not None else -1)
    return {key: row[key] for key in ("accuracy", "macro_f1", "n_test", "train_seconds", "best_epoch")}


def _tune_trainable(params: dict[str, Any], config_dict=None, corpus=None, k=None) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from ray import tune

    from toolkit.training.distributed.scratch import worker_scratch

    try:  # one TensorFlow thread per trial: trials run side by side, one per CPU
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # a reused actor: TensorFlow is initialised already
        pass
    with worker_scratch():  # TensorFlow's scratch files: removed after the trial, on whichever node it ran
        metrics = run_trial(params["trial"], config_dict, corpus, k)
    tune.report(metrics)


def _trial_key(params: dict[str, Any], fold: int | None) -> str:
    return hashlib.sha1(json.dumps({"params": params, "fold": fold}, sort_keys=True).encode()).hexdigest()[:12]


def make_trials(settings: list[dict[str, Any]], folds: list[int] | None, validation_share: float = 0.1):
    """One trial per (setting, fold), or per setting with a validation split when ``folds`` is None."""
    trials = []
    for s, params in enumerate(settings):
        for fold in (folds if folds is not None else [None]):
            trials.append({"setting": s, "params": params, "fold": fold, "validation_share": validation_share,
                           "key": _trial_key(params, fold)})
    return trials


def run_trials(trials: list[dict[str, Any]], config: Config, corpus: Any, k: int, *, engine: str = "ray",
               address: str | None = None, concurrency: int | None = None, storage: Path | None = None,
               on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run ``trials`` (on Ray Tune, or one after another with ``engine="local"``); rows in trial order."""
    rows: dict[str, dict[str, Any]] = {}

    def record(trial: dict[str, Any], metrics: dict[str, Any]) -> None:
        row = {"key": trial["key"], "setting": trial["setting"], "fold": trial["fold"], "params": trial["params"],
               **{m: metrics[m] for m in ("accuracy", "macro_f1", "n_test", "train_seconds", "best_epoch")}}
        rows[trial["key"]] = row
        if on_row:
            on_row(row)

    if not trials:
        return []
    if engine == "local":
        for trial in trials:
            record(trial, run_trial(trial, config.to_dict(), corpus, k))
        return [rows[t["key"]] for t in trials]
    import_ray()
    from ray import tune

    from toolkit.training.distributed.scratch import sweep_nodes

    class Collect(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            if trial.last_result and "accuracy" in trial.last_result:
                record(trial.config["trial"], trial.last_result)

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no tables on the console
    own_storage = storage is None
    with RaySession(address, workers=1):
        import ray

        cpus = int(ray.cluster_resources().get("CPU", 1))
        trainable = tune.with_resources(
            tune.with_parameters(_tune_trainable, config_dict=config.to_dict(), corpus=corpus, k=k), {"cpu": 1})
        storage = Path(storage or tempfile.mkdtemp(prefix="toolkit-tune-"))
        tuner = tune.Tuner(
            trainable, param_space={"trial": tune.grid_search(trials)},
            tune_config=tune.TuneConfig(max_concurrent_trials=concurrency or cpus, reuse_actors=True),
            run_config=tune.RunConfig(name=f"toolkit-{int(time.time())}", storage_path=str(storage.resolve()),
                                      verbose=0, callbacks=[Collect()],
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
        try:
            grid = tuner.fit()
        finally:
            sweep_nodes()  # the scratch folders of trials Ray killed
            if own_storage:  # Tune's experiment folder: the results table is what is kept
                shutil.rmtree(storage, ignore_errors=True)
        for result in grid:
            if result.error is not None:
                trial = result.config["trial"] if result.config else {}
                raise TrainingError(f"trial {trial.get('key')} (setting {trial.get('params')}, fold "
                                    f"{trial.get('fold')}) failed: {failure_summary(result.error)}")
            if result.config["trial"]["key"] not in rows:  # the callback missed it (should not happen)
                record(result.config["trial"], result.metrics)
    return [rows[t["key"]] for t in trials]


def cross_validate_ray(config: Config, k: int = 10, corpus: Any = None, *, address: str | None = None,
                       concurrency: int | None = None,
                       on_fold: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """k-fold cross-validation with the folds as parallel Ray Tune trials (rows as ``cross_validate``)."""
    from toolkit.training.corpus import k_folds
    from toolkit.training.splits import check_cross_validation
    from toolkit.training.experiment import load_training_corpus

    check_cross_validation(config)
    corpus = load_training_corpus(config, corpus)
    check_cross_validation(config, corpus)  # no split field: the folds would train on its test documents
    k_folds(corpus, k, seed=config.data.split_seed)  # refuse a wrong k before starting Ray
    t0 = time.perf_counter()
    rows = run_trials(make_trials([{}], list(range(k))), config, corpus, k, address=address, concurrency=concurrency,
                      on_row=(lambda r: on_fold(r["fold"], r)) if on_fold else None)
    rows = [{key: r[key] for key in ("fold", "accuracy", "macro_f1", "n_test", "train_seconds", "best_epoch")}
            for r in rows]
    accs = np.array([r["accuracy"] for r in rows])
    return {"k": k, "folds": rows, "mean_accuracy": float(accs.mean()), "std_accuracy": float(accs.std(ddof=1)),
            "config": config.to_dict(), "corpus": corpus.name, "engine": "ray",
            "wall_seconds": round(time.perf_counter() - t0, 2)}


# --------------------------------------------------------------------------
# Searches
# --------------------------------------------------------------------------
def _flatten_space(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not {"low", "high"} & set(value):
            out.update(_flatten_space(value, name + "."))
        else:
            out[name] = value
    return out


def read_space(path: str | os.PathLike) -> dict[str, Any]:
    """``SPACE.toml``: a ``[search]`` table (mode, samples, seed, objective, folds, validation_share, metric)
    and a ``[space]`` table of config fields -> a list of values, or ``{low, high, log, type}`` (random only)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"search space {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    search = {"mode": "grid", "samples": 8, "seed": 0, "objective": "cv", "folds": 10, "validation_share": 0.1,
              "metric": "accuracy", **data.get("search", {})}
    unknown = sorted(set(data) - {"search", "space"}) + sorted(set(search) - {"mode", "samples", "seed", "objective",
                                                                                "folds", "validation_share", "metric"})
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; use [search] mode, samples, seed, objective, folds, "
                          f"validation_share, metric and a [space] table")
    for key, allowed in (("mode", MODES), ("objective", OBJECTIVES), ("metric", METRICS)):
        if search[key] not in allowed:
            raise ConfigError(f"{path}: search.{key} must be one of {', '.join(allowed)}, got {search[key]!r}")
    space = _flatten_space(data.get("space", {}))
    if not space:
        raise ConfigError(f"{path}: the [space] table is empty; add e.g. \"training.learning_rate\" = [0.001, 0.01]")
    for name, value in space.items():
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"{path}: space.{name} is an empty list")
        elif isinstance(value, dict):
            if search["mode"] == "grid":
                raise ConfigError(f"{path}: space.{name} is a range; a grid needs a list of values (or mode=random)")
            if not isinstance(value.get("low"), (int, float)) or not isinstance(value.get("high"), (int, float)) \
                    or value["low"] >= value["high"] or (value.get("log") and value["low"] <= 0):
                raise ConfigError(f"{path}: space.{name} must have numbers low < high (low > 0 with log = true)")
        else:
            raise ConfigError(f"{path}: space.{name} must be a list of values or a {{low, high}} range")
    return {"search": search, "space": space, "source": str(path)}


def settings_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings to try: the grid's product, or ``samples`` seeded draws."""
    space, search = spec["space"], spec["search"]
    names = list(space)
    if search["mode"] == "grid":
        return [dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names))]
    rng = random.Random(search["seed"])
    out, seen = [], set()
    for _ in range(search["samples"] * 20):
        setting = {}
        for n in names:
            v = space[n]
            if isinstance(v, list):
                setting[n] = rng.choice(v)
            else:
                lo, hi = float(v["low"]), float(v["high"])
                x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if v.get("log") else rng.uniform(lo, hi)
                setting[n] = int(round(x)) if v.get("type") == "int" else x
        key = json.dumps(setting, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(setting)
        if len(out) == search["samples"]:
            break
    return out


def _summary(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    by: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["setting"], []).append(r)
    out = []
    for s, rs in by.items():
        vals = np.array([r[metric] for r in rs], dtype=float)
        out.append({"setting": s, "params": rs[0]["params"], f"mean_{metric}": float(vals.mean()),
                    f"std_{metric}": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, "trials": len(rs)})
    return sorted(out, key=lambda x: (-x[f"mean_{metric}"], x["setting"]))


def write_results(out: Path, spec: dict[str, Any], rows: list[dict[str, Any]], complete: bool) -> None:
    """``results.json`` and ``results.csv`` (one row per trial, parameters as columns), atomically."""
    metric = spec["search"]["metric"]
    names = list(spec["space"])
    write_text_atomic(out / RESULTS_JSON, json.dumps({"search": spec, "complete": complete, "rows": rows,
                                                  "summary": _summary(rows, metric)}, indent=2) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["key", "setting", "fold", *names, "accuracy", "macro_f1", "n_test", "train_seconds", "best_epoch"])
    for r in sorted(rows, key=lambda r: (r["setting"], -1 if r["fold"] is None else r["fold"])):
        w.writerow([r["key"], r["setting"], "" if r["fold"] is None else r["fold"],
                    *[json.dumps(r["params"].get(n)) for n in names],
                    r["accuracy"], r["macro_f1"], r["n_test"], r["train_seconds"], r["best_epoch"]])
    write_text_atomic(out / RESULTS_CSV, buf.getvalue(), newline="")


def run_search(space_file: str | os.PathLike, out: str | os.PathLike, config: Config, *, corpus: Any = None,
               resume: bool = False, overwrite: bool = False, engine: str = "ray", address: str | None = None,
               concurrency: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the search of ``space_file`` over ``config``; write the results table and the best config to ``out``."""
    from toolkit.core import registry
    from toolkit.training.corpus import k_folds
    from toolkit.training.experiment import load_training_corpus

    spec = read_space(space_file)
    out = Path(out)
    done: dict[str, dict[str, Any]] = {}
    if (out / RESULTS_JSON).is_file():
        if resume:
            previous = json.loads((out / RESULTS_JSON).read_text(encoding="utf-8"))
            if previous.get("search", {}).get("space") != spec["space"] or \
                    previous.get("search", {}).get("search") != spec["search"]:
                raise ConfigError(f"--resume: {out / RESULTS_JSON} is from a different search; use another --out")
            done = {r["key"]: r for r in previous.get("rows", [])}
        else:
            refuse_existing(out, overwrite, problem="holds search results", or_pass="--resume to continue it")
    elif not resume and not (out.is_dir() and not any(out.iterdir())):  # an empty folder is filled
        refuse_existing(out, overwrite, what="output folder")
    out.mkdir(parents=True, exist_ok=True)
    settings = settings_of(spec)
    for params in settings:  # refuse a bad setting before any training starts
        c = config.with_overrides(params)
        registry.create("architecture", c.architecture.name, **c.architecture.options)
        registry.create("embedding", c.embedding.name, **c.embedding.options)
        registry.create("tokenizer", c.tokenizer.name, **c.tokenizer.options)
    corpus = load_training_corpus(config, corpus)
    search = spec["search"]
    k = int(search["folds"])
    folds = list(range(k)) if search["objective"] == "cv" else None
    if folds is not None:
        k_folds(corpus, k, seed=config.data.split_seed)
    trials = make_trials(settings, folds, float(search["validation_share"]))
    todo = [t for t in trials if t["key"] not in done]
    rows = [done[t["key"]] for t in trials if t["key"] in done]
    log(f"search: {len(settings)} settings x {len(folds) if folds else 1} = {len(trials)} trials; "
        f"{len(trials) - len(todo)} already done, {len(todo)} to run")

    def on_row(row: dict[str, Any]) -> None:
        rows.append(row)
        write_results(out, spec, rows, complete=False)
        log(f"  setting {row['setting']} fold {row['fold']}: {search['metric']} {row[search['metric']]:.4f}")

    run_trials(todo, config, corpus, k, engine=engine, address=address, concurrency=concurrency, on_row=on_row)
    rows = [next(r for r in rows if r["key"] == t["key"]) for t in trials]
    write_results(out, spec, rows, complete=True)
    summary = _summary(rows, search["metric"])
    best = summary[0]
    best_config = config.with_overrides(best["params"]) if best["params"] else config
    write_text_atomic(out / BEST_TOML, best_config.to_toml())
    return {"summary": summary, "best": best, "rows": rows, "out": str(out)}
