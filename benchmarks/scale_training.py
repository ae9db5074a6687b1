"""Training at scale: Ray Tune folds vs sequential folds, Ray Train data-parallel workers, worker memory.

    .venv/bin/python -m benchmarks.scale_training [--quick] [--out benchmarks/results_scale_training.json]

Same run, same machine, side by side:

1. **Cross-validation**: the polarity corpus's 10 folds of the default ``cnn``, fitted one after another in
   this process (TensorFlow using every core) and as parallel Ray Tune trials (one CPU and one TensorFlow
   thread each): wall-time ratio and the fold accuracies of both.
2. **Data-parallel training**: a synthetic corpus (>= 200,000 documents in the full run) of windows of
   consecutive polarity sentences (training windows from folds 0-8, test windows from fold 9), written
   as JSONL in a temp folder; Ray Train with 1 and with 2 workers (epoch times, test accuracy), and the
   single-process ``fit`` path on the same files loaded in memory (test accuracy).
3. **Worker memory**: peak resident memory (VmHWM) of one training worker streaming a corpus of N and
   of 5 N documents (one epoch each; vocabulary capped at 100,000 entries so the model is the same size).

``--quick`` uses fewer documents and epochs (the ratios, not the absolute figures, are the point).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from .common import BENCH_DIR, machine_info, peak_rss_mib  # noqa: E402

DEFAULT_OUT = BENCH_DIR / "results_scale_training.json"
FULL = {"cv_epochs": 5, "docs": 200_000, "big_factor": 5, "epochs": 2, "test_docs": 5000}
VOCAB_CAP = 100_000  # memory part: vocab.max_size, so both corpora train the same model
QUICK = {"cv_epochs": 2, "docs": 20_000, "big_factor": 5, "epochs": 2, "test_docs": 2000}


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------
# Synthetic corpus: windows of consecutive polarity sentences
# --------------------------------------------------------------------------
def _reviews(corpus, folds: set[int]) -> list[tuple[list[str], str]]:
    return [([s for s in d.text.splitlines() if s.strip()], d.label) for d in corpus if d.fold in folds]


def _windows(reviews, n: int, seed: int, sizes=(1, 2, 3, 4)) -> Iterator[dict[str, str]]:
    """``n`` documents: each a window of 1-4 consecutive sentences of one review, in a seeded order;
    once every window has been used, again in another order (the 5 N corpus repeats windows)."""
    spots = [(r, i, w) for r, (sents, _) in enumerate(reviews) for i in range(len(sents)) for w in sizes
             if i + w <= len(sents)]
    made, rep = 0, 0
    while made < n:
        random.Random(seed + rep).shuffle(spots)
        for r, i, w in spots:
            sents, label = reviews[r]
            yield {"text": " ".join(sents[i:i + w]), "label": label}
            made += 1
            if made >= n:
                return
        rep += 1


def write_jsonl(path: Path, rows: Iterator[dict[str, str]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
            n += 1
    return n


# --------------------------------------------------------------------------
# Parts
# --------------------------------------------------------------------------
def part_cv(results: dict, epochs: int) -> None:
    from toolkit.training.corpus import k_folds, load_polarity
    from toolkit.training.distributed.tune import cross_validate_ray
    from toolkit.training.loop import fit
    from toolkit.training.evaluation import evaluate_fit

    from .accuracy import config_for

    config = config_for("cnn").with_overrides({"training.epochs": epochs})
    corpus = load_polarity()
    log(f"[cv] 10 folds of the default cnn, {epochs} epochs: sequential (one process, all cores)")
    t0 = time.perf_counter()
    seq = []
    for i, (train, test) in enumerate(k_folds(corpus, 10)):
        m = evaluate_fit(fit(config, train, progress=False), test).metrics
        seq.append(m["accuracy"])
        log(f"  fold {i}: {m['accuracy']:.3f}")
    seq_s = time.perf_counter() - t0
    log("[cv] the same folds as parallel Ray Tune trials (1 CPU, 1 TensorFlow thread each)")
    t0 = time.perf_counter()
    tuned = cross_validate_ray(config, 10, corpus)
    tune_s = time.perf_counter() - t0
    tune_acc = [r["accuracy"] for r in tuned["folds"]]
    diffs = [abs(a - b) for a, b in zip(seq, tune_acc)]
    results["cv"] = {
        "epochs": epochs, "sequential_seconds": round(seq_s, 1), "tune_seconds": round(tune_s, 1),
        "speedup": round(seq_s / tune_s, 2), "sequential_accuracy": seq, "tune_accuracy": tune_acc,
        "sequential_mean": statistics.fmean(seq), "tune_mean": statistics.fmean(tune_acc),
        "max_fold_difference": max(diffs), "mean_fold_difference": statistics.fmean(diffs),
    }
    log(f"  sequential {seq_s:.0f}s, Tune {tune_s:.0f}s (x{seq_s / tune_s:.2f}); mean accuracy "
        f"{statistics.fmean(seq):.4f} vs {statistics.fmean(tune_acc):.4f}; largest fold difference {max(diffs):.3f}")


def _base_config(path: Path, epochs: int):
    from .accuracy import config_for

    # dynamic-length cnn, unigrams + bigrams; short documents: no max_len cap needed
    return config_for("cnn").with_overrides({"data.path": str(path), "training.epochs": epochs})


def part_parallel(results: dict, tmp: Path, docs: int, epochs: int, test_docs: int) -> Path:
    from toolkit.training.corpus import load_jsonl, load_polarity
    from toolkit.training.distributed.ray_train import train_distributed
    from toolkit.training.loop import fit
    from toolkit.training.evaluation import evaluate_fit

    corpus = load_polarity()
    train_path, test_path = tmp / "train.jsonl", tmp / "test.jsonl"
    write_jsonl(train_path, _windows(_reviews(corpus, set(range(9))), docs, seed=0))
    write_jsonl(test_path, _windows(_reviews(corpus, {9}), test_docs, seed=1, sizes=(3,)))
    log(f"[parallel] synthetic corpus: {docs} training windows, {test_docs} test windows ({train_path.stat().st_size / 1e6:.0f} MB)")
    config = _base_config(train_path, epochs)
    runs = {}
    for workers in (1, 2):
        log(f"[parallel] Ray Train, {workers} worker(s), {epochs} epochs")
        m = train_distributed(config, tmp / f"model-{workers}", workers=workers, progress=True, test_data=test_path,
                              storage=tmp / f"ray-{workers}")
        runs[str(workers)] = {"accuracy": m["accuracy"], "epoch_seconds": m["epoch_seconds"],
                         "train_seconds": m["train_seconds"], "worker_peak_mib": m["worker_peak_mib"],
                         "weight_hashes_equal": len(set(m["weight_hashes"] or [])) == 1}
        log(f"  accuracy {m['accuracy']:.4f}; epoch seconds {[round(s, 1) for s in m['epoch_seconds']]}; "
            f"worker peak {m['worker_peak_mib']} MiB")
    log("[parallel] single-process fit on the same files (in memory)")
    t0 = time.perf_counter()
    train, test = load_jsonl(train_path), load_jsonl(test_path)
    result = fit(config, train, progress=False)
    fit_acc = evaluate_fit(result, test).metrics["accuracy"]
    fit_s = time.perf_counter() - t0
    log(f"  accuracy {fit_acc:.4f} ({fit_s:.0f}s incl. loading and tokenizing; driver peak {peak_rss_mib():.0f} MiB)")
    epoch = {int(w): statistics.median(r["epoch_seconds"]) for w, r in runs.items()}
    results["parallel"] = {
        "documents": docs, "test_documents": test_docs, "epochs": epochs, "workers": runs,
        "fit_accuracy": fit_acc, "fit_seconds": round(fit_s, 1),
        "epoch_seconds_1": epoch[1], "epoch_seconds_2": epoch[2], "epoch_speedup": round(epoch[1] / epoch[2], 2),
        "accuracy_gap_points": {w: round(100 * (r["accuracy"] - fit_acc), 2) for w, r in runs.items()},
    }
    return train_path


def part_memory(results: dict, tmp: Path, docs: int, factor: int) -> None:
    from toolkit.training.corpus import load_polarity
    from toolkit.training.distributed.ray_train import train_distributed

    corpus = load_polarity()
    reviews = _reviews(corpus, set(range(9)))
    test_path = tmp / "test.jsonl"
    peaks = {}
    for n in (docs, docs * factor):
        path = tmp / f"mem-{n}.jsonl"
        write_jsonl(path, _windows(reviews, n, seed=0))
        log(f"[memory] one training worker, one epoch over {n} documents")
        # The vocabulary grows with the corpus (new bigrams); capped, the model is the same size for both, and
        # what is left to grow is what the stream holds.
        config = _base_config(path, 1).with_overrides({"vocab.max_size": VOCAB_CAP})
        m = train_distributed(config, tmp / f"mem-model-{n}", workers=1, progress=True,
                              test_data=test_path, storage=tmp / f"ray-mem-{n}")
        peaks[n] = m["worker_peak_mib"][0]
        path.unlink()
        log(f"  worker peak {peaks[n]:.0f} MiB")
    small, big = peaks[docs], peaks[docs * factor]
    results["memory"] = {"documents": [docs, docs * factor], "worker_peak_mib": [small, big], "vocab_max_size": VOCAB_CAP,
                         "growth": round(big / small - 1, 3)}


def markdown(results: dict) -> str:
    lines = ["| measure | value |", "|---|---|"]
    cv = results.get("cv")
    if cv:
        lines += [f"| 10-fold CV ({cv['epochs']} epochs): sequential / Ray Tune wall time | {cv['sequential_seconds']:.0f} s"
                  f" / {cv['tune_seconds']:.0f} s (x{cv['speedup']:.2f}) |",
                  f"| 10-fold CV mean accuracy: sequential / Tune | {cv['sequential_mean']:.4f} / {cv['tune_mean']:.4f} "
                  f"(largest fold difference {cv['max_fold_difference']:.3f}) |"]
    p = results.get("parallel")
    if p:
        lines += [f"| data-parallel, {p['documents']:,} docs: epoch time 1 / 2 workers | {p['epoch_seconds_1']:.1f} s / "
                  f"{p['epoch_seconds_2']:.1f} s (x{p['epoch_speedup']:.2f}) |",
                  f"| test accuracy: fit / 1 worker / 2 workers | {p['fit_accuracy']:.4f} / "
                  f"{p['workers']['1']['accuracy']:.4f} / {p['workers']['2']['accuracy']:.4f} |",
                  f"| 2 workers end with identical weights | {p['workers']['2']['weight_hashes_equal']} |"]
    m = results.get("memory")
    if m:
        lines.append(f"| worker peak memory, {m['documents'][0]:,} / {m['documents'][1]:,} docs | "
                     f"{m['worker_peak_mib'][0]:.0f} / {m['worker_peak_mib'][1]:.0f} MiB ({m['growth']:+.1%}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer documents and epochs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--parts", default="cv,parallel,memory", help="comma-separated: cv, parallel, memory")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {"machine": machine_info(), "quick": args.quick, "sizes": sizes}
    from toolkit.training.distributed import RaySession

    tmp = Path(tempfile.mkdtemp(prefix="toolkit-scale-bench-"))
    t0 = time.perf_counter()
    try:
        with RaySession(None, workers=2):
            if "cv" in parts:
                part_cv(results, sizes["cv_epochs"])
            if "parallel" in parts or "memory" in parts:
                from toolkit.training.corpus import load_polarity

                test = tmp / "test.jsonl"
                write_jsonl(test, _windows(_reviews(load_polarity(), {9}), sizes["test_docs"], seed=1, sizes=(3,)))
            if "parallel" in parts:
                part_parallel(results, tmp, sizes["docs"], sizes["epochs"], sizes["test_docs"])
            if "memory" in parts:
                part_memory(results, tmp, sizes["docs"], sizes["big_factor"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_out = tempfile.mkstemp(prefix=f".{args.out.name}-", dir=args.out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(results, indent=2) + "\n")
    os.replace(tmp_out, args.out)
    print(markdown(results))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
