"""``make bench``: every benchmark, one run, one machine; writes RESULTS.md and results.json.

    python -m benchmarks.run              # everything (< 60 min on 2 cores)
    python -m benchmarks.run --quick      # one seed, fewer epochs, no CV, no ensemble peer (< 10 min)
    python -m benchmarks.run --only accuracy,inference   # some parts; other parts keep their last figures

Parts: accuracy (configs x seeds + spaCy textcat peers), cv (10-fold, default cnn),
inference (runtime vs Keras, bundle sizes, compute bound), spacy (nlp.pipe, cold start,
memory, default model through the component), scaling (100/1k/10k docs, short vs long),
coldstart (the component's cold start before and after the layout change, vs spaCy alone),
trust (calibration, short texts, explanations: benchmarks/trust.py), http (load test of
`toolkit serve`: benchmarks/load_http.py), scoring (`toolkit score` engines:
benchmarks/scale_scoring.py), training_scale (Ray Train workers and memory:
benchmarks/scale_training.py), baselines (default training beside NB-weighted logistic regression and spaCy
textcat bow on every corpus shape: benchmarks/baselines.py). The 10-fold CV runs its folds as Ray Tune trials.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .common import BENCH_DIR, REPO, WORK_DIR, machine_info, mean_std  # noqa: E402

PARTS = ("accuracy", "inference", "spacy", "scaling", "cv", "coldstart", "trust", "http", "scoring", "training_scale",
         "baselines")
RESULTS_JSON = BENCH_DIR / "results.json"
TEXTCAT_BOW_DIR = WORK_DIR / "textcat-bow"  # the bow peer of seed 0, reused by the spacy part
TEXTCAT_ENSEMBLE_DIR = WORK_DIR / "textcat-ensemble"
# spaCy's default ensemble (a CNN tok2vec + BOW) trains at about 90 s per epoch
# on the 1,800 reviews here; 3 epochs keep `make bench` within its hour.
ENSEMBLE_EPOCHS = 3


def log(message: str) -> None:
    print(message, flush=True)


def train_in_subprocess(name: str, seed: int, out: Path, extra: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.one_run", name, str(seed), str(out)]
    for item in extra:
        cmd += ["--set", item]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"training {name} seed {seed} failed:\n{proc.stderr[-4000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_seconds"] = time.perf_counter() - t0
    return row


def checkpoint(results: dict, quick: bool) -> None:
    """Write what has been measured so far (a long run that is cut short keeps its figures)."""
    out = BENCH_DIR / ("results.quick.json" if quick else "results.json")
    partial = dict(results, machine=machine_info(), partial=True)
    out.write_text(json.dumps(partial, indent=2) + "\n")


def part_accuracy(results: dict, quick: bool) -> None:
    from toolkit.training.config import parse_set_options

    from .accuracy import CONFIGS, config_for, load_corpus, run_peer

    seeds = [0] if quick else [0, 1, 2]
    extra = ["training.epochs=3"] if quick else []
    configs = ["cnn"] if quick else list(CONFIGS)
    rows = {}
    results["accuracy"] = {"seeds": seeds, "quick": quick, "configs": rows, "peers": {}}
    for name in configs:
        log(f"[accuracy] {name}: {CONFIGS[name][0]}")
        runs = []
        for seed in seeds:
            out = WORK_DIR / "models" / f"{name}-seed{seed}"
            row = train_in_subprocess(name, seed, out, extra)
            log(f"  seed {seed}: accuracy {row['accuracy']:.3f}, train {row['train_seconds']:.0f}s, "
                f"peak {row['peak_rss_mib']:.0f} MiB")
            runs.append(row)
            if seed != seeds[0]:
                shutil.rmtree(out, ignore_errors=True)
        rows[name] = {
            "description": CONFIGS[name][0],
            "config": config_for(name).with_overrides(parse_set_options(extra)).to_dict(),
            "accuracy": mean_std([r["accuracy"] for r in runs]),
            "train_seconds": mean_std([r["train_seconds"] for r in runs]),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "runs": runs,
            "model_dir": str(WORK_DIR / "models" / f"{name}-seed{seeds[0]}"),
        }
        checkpoint(results, quick)
    corpus = load_corpus()
    peers = results["accuracy"]["peers"]
    shutil.rmtree(TEXTCAT_BOW_DIR, ignore_errors=True)
    peers["textcat-bow"] = run_peer("bow", seeds, corpus, epochs=3 if quick else 10, log=log,
                                    save_first=TEXTCAT_BOW_DIR)
    checkpoint(results, quick)
    if not quick:
        shutil.rmtree(TEXTCAT_ENSEMBLE_DIR, ignore_errors=True)
        peers["textcat-ensemble"] = run_peer("ensemble", [0], corpus, epochs=ENSEMBLE_EPOCHS, log=log,
                                             save_first=TEXTCAT_ENSEMBLE_DIR)




def part_cv(results: dict, quick: bool) -> None:
    if quick:
        log("[cv] skipped in --quick mode")
        return
    from toolkit.training.distributed import RaySession
    from toolkit.training.distributed.tune import cross_validate_ray

    from .accuracy import config_for, load_corpus

    log(f"[cv] 10-fold cross-validation of the default cnn: the folds as Ray Tune trials ({os.cpu_count()} CPUs)")
    with RaySession(None, workers=1):  # a local Ray on 127.0.0.1, every core, stopped at the end
        cv = cross_validate_ray(config_for("cnn"), 10, load_corpus())
    rows = [{"fold": r["fold"], "accuracy": r["accuracy"], "train_seconds": r["train_seconds"]} for r in cv["folds"]]
    for r in rows:
        log(f"  cv fold {r['fold']}: accuracy {r['accuracy']:.3f} ({r['train_seconds']:.0f}s, one thread)")
    if len(rows) != 10:
        raise SystemExit(f"cv: expected 10 folds, got {len(rows)}")
    results["cv"] = {"name": "cnn", "folds": rows, "accuracy": mean_std([r["accuracy"] for r in rows]),
                     "workers": os.cpu_count(), "engine": "ray-tune", "wall_seconds": cv.get("wall_seconds")}


def _export(model_dir: Path, name: str, quantize: str | None = None) -> Path:
    from toolkit.training.export import export_model

    out = WORK_DIR / "bundles" / name
    return export_model(model_dir, out, overwrite=True, quantize=quantize)


def part_inference(results: dict, quick: bool) -> None:
    from .inference import bundle_sizes, keras_vs_runtime, test_texts

    acc = results.get("accuracy", {}).get("configs", {})
    texts, _ = test_texts()
    log("[inference] exporting the default cnn (fp32 and int8)")
    model_dir = Path(acc.get("cnn", {}).get("model_dir", WORK_DIR / "models" / "cnn-seed0"))
    fp32 = _export(model_dir, "cnn-fp32")
    int8 = _export(model_dir, "cnn-int8", quantize="int8")
    log("[inference] runtime vs Keras model.predict vs tf.function")
    res = keras_vs_runtime(model_dir, fp32, texts, repeat=3 if quick else 5)
    res["bundles"] = bundle_sizes(fp32, int8)
    per_config = {}
    for name, row in acc.items():
        if name == "cnn":
            bundle = fp32
        else:
            log(f"[inference] exporting {name}")
            bundle = _export(Path(row["model_dir"]), f"{name}-fp32")
        per_config[name] = _runtime_docs_per_s(bundle, texts)
        log(f"  {name}: {per_config[name]['end_to_end_docs_per_s']:.0f} docs/s end to end")
    res["per_config"] = per_config
    results["inference"] = res
    log(f"  runtime {res['runtime']['model_docs_per_s']:.0f} docs/s; model.predict "
        f"{res['keras_predict']['model_docs_per_s']:.0f}; tf.function {res['keras_tf_function']['model_docs_per_s']:.0f}")


def _runtime_docs_per_s(bundle: Path, texts: list[str]) -> dict[str, float]:
    from toolkit.serving.runtime import Runtime

    from .common import best_of

    runtime = Runtime.load(bundle)
    ids = runtime.encode(texts)
    model_s = best_of(lambda: runtime.score_ids(ids, batch_size=64), repeat=3)
    e2e_s = best_of(lambda: runtime.score(texts, batch_size=64), repeat=3)
    return {"model_docs_per_s": len(texts) / model_s, "end_to_end_docs_per_s": len(texts) / e2e_s}


def part_spacy(results: dict, quick: bool) -> None:
    from toolkit.training.corpus import load_polarity, train_test_split

    import spacy

    from .inference import cold_start, spacy_pipelines, test_texts
    from .peers import train_textcat

    texts, labels = test_texts()
    bundle = WORK_DIR / "bundles" / "cnn-fp32"
    if not bundle.exists():
        raise SystemExit("run the inference part first (it exports the bundle)")
    corpus = load_polarity()
    train, _ = train_test_split(corpus)
    if (TEXTCAT_BOW_DIR / "config.cfg").exists():
        log(f"[spacy] the textcat peer: {TEXTCAT_BOW_DIR} (trained by the accuracy part)")
        textcat_nlp = spacy.load(TEXTCAT_BOW_DIR)
    else:
        log("[spacy] training the textcat peer for the pipeline comparison")
        textcat_nlp, _ = train_textcat(train.texts, [d.label for d in train], corpus.labels, "bow",
                                       epochs=3 if quick else 10, seed=0)
    peers = {"textcat": textcat_nlp}
    if (TEXTCAT_ENSEMBLE_DIR / "config.cfg").exists():
        peers["textcat_ensemble"] = spacy.load(TEXTCAT_ENSEMBLE_DIR)
    log("[spacy] nlp.pipe throughput")
    res = spacy_pipelines(bundle, texts, peers, repeat=3 if quick else 5, warm_texts=train.texts)
    log(f"  blank {res['blank']['docs_per_s']:.0f} docs/s, review_sentiment {res['review_sentiment']['docs_per_s']:.0f} "
        f"({res['review_sentiment_share_of_floor']:.0%} of the floor), textcat {res['textcat']['docs_per_s']:.0f}")
    log("[spacy] cold start and serving memory")
    work = WORK_DIR / "spacy"
    work.mkdir(parents=True, exist_ok=True)
    res["cold_start"] = cold_start(bundle, texts, work)
    res["default_model"] = default_model_accuracy(texts, labels)
    results["spacy"] = res


def default_model_accuracy(texts: list[str], labels: list[str]) -> dict[str, Any] | None:
    """Accuracy of the shipped default model through the spaCy component on cv9*."""
    import spacy

    default = REPO / "toolkit" / "models" / "default"
    if not (default / "bundle.json").exists():
        log("  no shipped default model yet")
        return None
    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment")
    predicted = [max(doc.cats, key=doc.cats.get) for doc in nlp.pipe(texts, batch_size=64)]
    acc = sum(p == y for p, y in zip(predicted, labels)) / len(labels)
    meta = json.loads((default / "bundle.json").read_text())
    size = sum(p.stat().st_size for p in default.iterdir() if p.is_file())
    log(f"  shipped default model through spaCy: accuracy {acc:.3f}, {size / 1e6:.1f} MB")
    return {"accuracy": acc, "n_docs": len(texts), "bundle_bytes": size, "quantization": meta.get("quantization")}


def part_scaling(results: dict, quick: bool) -> None:
    from .inference import scaling, test_texts

    texts, _ = test_texts()
    bundle = WORK_DIR / "bundles" / "cnn-fp32"
    sizes = (100, 1000) if quick else (100, 1000, 10000)
    log(f"[scaling] {sizes} documents; short vs long documents")
    results["scaling"] = scaling(bundle, texts, sizes=sizes, repeat=2 if quick else 3)
    for row in results["scaling"]["sizes"]:
        log(f"  {row['n_docs']} docs: {row['seconds']:.2f}s ({row['ms_per_doc']:.2f} ms/doc)")


def section(results: dict, name: str, title: str, lines: list[str]) -> None:
    """A rendered section of RESULTS.md (wave-2 parts render their own tables)."""
    results.setdefault("sections", {})[name] = {"title": title, "lines": lines}


def coldstart_lines(res: dict) -> list[str]:
    from .coldstart import markdown

    r = res["ratio_to_spacy"]
    return markdown(res) + [
        "",
        f"A new process that imports spaCy, adds `review_sentiment` and scores one doc takes {r['after']:.2f}x "
        f"the time of `spacy.blank(\"en\")` plus one doc, against {r['before']:.2f}x before the layout change "
        f"(same run, round-robin, minimum of {res['repeat']}); the training-side modules it loaded went from "
        f"{len(res['training_modules']['before'])} to {len(res['training_modules']['after'])}. The component now "
        f"checks the whole bundle (checksums, id, cross-checks) at `add_pipe`, inside the measured time. The "
        f"shipped model is now calibrated, so its probabilities differ from the old one's (max difference "
        f"{res['max_abs_diff_before_after']:.2f} on the measured doc); same label: "
        f"{res.get('same_label_before_after', 'not recorded')}.",
    ]


def part_coldstart(results: dict, quick: bool) -> None:
    from .coldstart import cold_start_layout

    log("[coldstart] spaCy alone vs the component before and after the layout change, fresh processes")
    res = cold_start_layout(repeat=3 if quick else 5)
    results["coldstart"] = res
    section(results, "coldstart", "Cold start: before and after the serving/training layout", coldstart_lines(res))
    r = res["ratio_to_spacy"]
    log(f"  ratio to spaCy alone: before {r['before']:.2f}x, after {r['after']:.2f}x")


#: The parts of the reference run whose wall time the targets report.
FULL_RUN_PARTS = {"accuracy", "cv", "inference", "spacy", "scaling"}

#: Wave-2 parts run as their own modules in a subprocess (each starts and stops its own engines):
#: part -> (module, arguments, arguments with --quick, section title).
MODULE_PARTS: dict[str, tuple[str, list[str], list[str], str]] = {
    "trust": ("benchmarks.trust", ["--parts", "robustness,short,explain"],
              ["--quick", "--parts", "robustness,short,explain"], "Calibration, robustness and short texts"),
    "http": ("benchmarks.load_http", [], ["--quick"], "Serving over HTTP: load test on 127.0.0.1"),
    "scoring": ("benchmarks.scale_scoring", [], ["--quick"], "Scoring at scale"),
    "training_scale": ("benchmarks.scale_training", ["--parts", "parallel,memory"],
                       ["--quick", "--parts", "parallel,memory"], "Training at scale"),
    "baselines": ("benchmarks.baselines", [], ["--quick"],
                  "Default training against simple baselines: every corpus shape, the same splits"),
}


def _module_part(name: str, results: dict, quick: bool) -> None:
    module, full, fast, _ = MODULE_PARTS[name]
    out = WORK_DIR / f"{name}{'.quick' if quick else ''}.json"
    log(f"[{name}] python -m {module} {' '.join(fast if quick else full)}")
    subprocess.run([sys.executable, "-m", module, *(fast if quick else full), "--out", str(out)], cwd=REPO, check=True)
    render_module_part(name, results, out)


def render_module_part(name: str, results: dict, path: Path, note: str = "") -> None:
    """Put a module part's JSON results (``path``) into ``results`` and its section into RESULTS.md."""
    import importlib

    module, _, _, title = MODULE_PARTS[name]
    data = json.loads(Path(path).read_text())
    results[name] = data
    rendered = importlib.import_module(module).markdown(data)
    lines = rendered.splitlines() if isinstance(rendered, str) else list(rendered)
    section(results, name, title, ([f"> {note}", ""] if note else []) + lines)


def part_trust(results: dict, quick: bool) -> None:
    _module_part("trust", results, quick)


def part_http(results: dict, quick: bool) -> None:
    _module_part("http", results, quick)


def part_scoring(results: dict, quick: bool) -> None:
    _module_part("scoring", results, quick)


def part_training_scale(results: dict, quick: bool) -> None:
    _module_part("training_scale", results, quick)


def part_baselines(results: dict, quick: bool) -> None:
    _module_part("baselines", results, quick)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one seed, 3 epochs, no CV: a smoke run (< 10 min)")
    parser.add_argument("--only", default="", help=f"comma list of parts: {', '.join(PARTS)}")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite RESULTS.md / README")
    parser.add_argument("--from-json", action="append", default=[], metavar="PART=FILE",
                        help=f"render a part ({', '.join(MODULE_PARTS)}) from the JSON its module wrote when run "
                             f"alone, instead of running it")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()] or list(PARTS)
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}; parts: {', '.join(PARTS)}")

    results: dict[str, Any] = {}
    if RESULTS_JSON.exists() and (args.only or args.from_json):
        results = json.loads(RESULTS_JSON.read_text())
    for item in args.from_json:
        name, _, path = item.partition("=")
        if name not in MODULE_PARTS or not Path(path).is_file():
            parser.error(f"--from-json {item!r}: expected PART=FILE with PART one of {', '.join(MODULE_PARTS)}")
        render_module_part(name, results, Path(path), note=f"Rendered from `{path}`, written by "
                           f"`python -m {MODULE_PARTS[name][0]}` run on its own (see the docs page for the command).")
        if not args.only:
            parts = []
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timings = results.setdefault("part_seconds", {})
    for part in parts:
        t = time.perf_counter()
        globals()[f"part_{part}"](results, args.quick)
        timings[part] = time.perf_counter() - t
        checkpoint(results, args.quick)
    results.pop("partial", None)
    results["machine"] = machine_info()
    previous = results.get("run") or {}
    if previous and not previous.get("quick") and set(previous.get("parts", [])) >= FULL_RUN_PARTS:
        results["last_full_run"] = previous  # a run of some parts keeps the figures of the last whole one
    results["run"] = {"quick": args.quick, "parts": parts, "seconds": time.perf_counter() - t0,
                      "command": "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])}
    out = BENCH_DIR / ("results.quick.json" if args.quick else "results.json")
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"written: {out} ({results['run']['seconds'] / 60:.1f} min)")
    if not args.no_report:
        from .report import write_report

        write_report(results, quick=args.quick)


if __name__ == "__main__":
    main()
