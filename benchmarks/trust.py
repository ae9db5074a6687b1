"""Scores a user can trust: calibration and robustness on short texts, a short-text corpus, explanation cost.

Runnable alone (``python -m benchmarks.trust [--quick] [--parts ...] [--out FILE]``); prints markdown
tables and writes JSON (default ``benchmarks/results_trust.json``; ``--quick``: ``results_trust.quick.json``).

Parts:

* ``robustness``: on the standard polarity split (train cv0-8, test cv9), the default ``toolkit train``
  configuration, the same configuration trained with extra window examples (``--augment``: each training
  review also gives windows of 20-30 words with its label), and spaCy's textcat (bag of words, unigrams +
  bigrams, as ``benchmarks/peers.py``). Each is scored on the 200 full test reviews, their first sentence
  (the corpus has one sentence per line) and one random 20-word window each (seeded), with the review's
  label: accuracy, ECE (top-label, 10 equal-width bins), Brier, the share of predictions above 0.99 and the
  share of those that are wrong. For toolkit models: raw, with the temperature ``toolkit train`` fits
  (out-of-fold on full reviews, ``training.calibration_folds`` folds), with one temperature fitted on
  out-of-fold full reviews + first sentences + windows ("mixed"), and with a length-aware temperature
  ``T(n) = exp(a + b log n)`` (``n`` = model ids) fitted on the same mixed out-of-fold predictions.
* ``short``: a short-text corpus cut from the polarity reviews (windows of 20-30 words, non-overlapping, at
  most ``--windows`` per review, the review's label; split by review: windows of cv9 reviews are the test
  set), default ``toolkit train`` vs spaCy textcat bow, same split, ``--seeds``.
* ``explain``: occlusion explanations of the shipped default bundle: ms per test review, and the deletion
  test (removing the 5 strongest positive terms lowers P(POSITIVE) more than removing 5 random words).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH = Path(__file__).resolve().parent
VIEWS = ("full", "first", "window20")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def first_sentence(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), text)


def window(text: str, rng: random.Random, n: int = 20) -> str:
    words = text.split()
    start = rng.randrange(max(1, len(words) - n + 1))
    return " ".join(words[start:start + n])


def cut_windows(text: str, rng: random.Random, most: int, lo: int = 20, hi: int = 30) -> list[str]:
    """Non-overlapping windows of lo..hi words, at most ``most`` of them, chosen at random."""
    words, chunks, i = text.split(), [], 0
    while i + lo <= len(words):
        n = rng.randint(lo, hi)
        chunks.append(" ".join(words[i:i + n]))
        i += n
    rng.shuffle(chunks)
    return chunks[:most]


def with_texts(corpus, texts, name):
    from toolkit.training.corpus import Document

    return corpus.subset([Document(t, d.label, d.source, d.fold) for d, t in zip(corpus, texts)], name)


def view_corpora(corpus, seed: int = 0) -> dict:
    rng = random.Random(seed)
    return {"full": corpus, "first": with_texts(corpus, [first_sentence(d.text) for d in corpus], "first"),
            "window20": with_texts(corpus, [window(d.text, rng) for d in corpus], "window20")}


def augmented(train, per_review: int, seed: int = 0):
    rng = random.Random(seed)
    from toolkit.training.corpus import Document

    extra = [Document(w, d.label, d.source, d.fold) for d in train for w in cut_windows(d.text, rng, per_review)]
    return train.subset(list(train) + extra, f"{train.name}+windows")


def length_temperature(probs, y, lengths):
    """(a, b) of T(n) = exp(a + b log n) minimising the log loss."""
    from scipy.optimize import minimize

    log_p = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-38, 1))
    ln = np.log(np.maximum(np.asarray(lengths, dtype=np.float64), 1))

    def nll(params):
        t = np.exp(params[0] + params[1] * ln)[:, None]
        z = log_p / t
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    return minimize(nll, x0=[0.0, 0.0], method="Nelder-Mead").x.tolist()


def apply_length_temperature(probs, lengths, ab):
    t = np.exp(ab[0] + ab[1] * np.log(np.maximum(np.asarray(lengths, dtype=np.float64), 1)))[:, None]
    z = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-38, 1)) / t
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def score_views(result, views: dict) -> dict:
    from toolkit.training.evaluation import evaluate_fit

    out = {}
    for name, corpus in views.items():
        scored = evaluate_fit(result, corpus)
        out[name] = (scored.probs, np.array([len(x) for x in scored.ids]), scored.y_true)
    return out


def toolkit_robustness(config, train, test, k: int, label: str, augment: int = 0) -> dict:
    """Fit on ``train`` (+ ``augment`` windows per review), score the test views; out-of-fold views of
    ``train``'s reviews (folds over reviews; the fitting folds get their windows) for the calibration variants."""
    from toolkit.core.calibration import apply_temperature
    from toolkit.training.calibrate import before_after, calibration_metrics, fit_temperature
    from toolkit.training.corpus import stratified_folds
    from toolkit.training.loop import fit

    t0 = time.perf_counter()
    result = fit(config, augmented(train, augment) if augment else train, progress=False)
    train_seconds = time.perf_counter() - t0
    test_scores = score_views(result, view_corpora(test))
    log(f"[robustness] {label}: fitted in {train_seconds:.0f}s; test accuracy {calibration_metrics(*test_scores['full'][::2])['accuracy']:.3f}")
    base = train
    folds = stratified_folds(base.label_ids, k, config.training.seed)
    oof = {v: [None] * len(base) for v in VIEWS}
    docs = base.documents
    for f in range(k):
        held = base.subset([docs[i] for i in np.flatnonzero(folds == f)], f"held-{f}")
        rest = base.subset([docs[i] for i in np.flatnonzero(folds != f)], f"rest-{f}")
        r = fit(config, augmented(rest, augment, seed=f) if augment else rest, progress=False)
        scores = score_views(r, view_corpora(held, seed=f))
        for v, (p, n, y) in scores.items():
            for j, i in enumerate(np.flatnonzero(folds == f)):
                oof[v][i] = (p[j], n[j], y[j])
        log(f"[robustness] {label}: calibration fold {f + 1}/{k} done")
    stack = {v: tuple(np.array([row[c] for row in oof[v]]) for c in range(3)) for v in VIEWS}
    t_full = fit_temperature(stack["full"][0], stack["full"][2])
    mixed_p = np.concatenate([stack[v][0] for v in VIEWS])
    mixed_n = np.concatenate([stack[v][1] for v in VIEWS])
    mixed_y = np.concatenate([stack[v][2] for v in VIEWS])
    t_mixed = fit_temperature(mixed_p, mixed_y)
    ab = length_temperature(mixed_p, mixed_y, mixed_n)
    rows = {}
    for v, (p, n, y) in test_scores.items():
        rows[v] = {"raw": calibration_metrics(p, y),
                   "T_full": calibration_metrics(apply_temperature(p, t_full), y),
                   "T_mixed": calibration_metrics(apply_temperature(p, t_mixed), y),
                   "T_length": calibration_metrics(apply_length_temperature(p, n, ab), y),
                   "mean_ids": float(np.mean(n))}
    oof_rows = {v: before_after(stack[v][0], stack[v][2], t_full) for v in VIEWS}
    return {"label": label, "train_seconds": round(train_seconds, 1), "calibration_folds": k,
            "temperature_full": t_full, "temperature_mixed": t_mixed, "length_temperature_ab": ab,
            "test": rows, "oof_full_T": oof_rows}


def textcat_robustness(train, test, epochs: int, seed: int = 0) -> dict:
    from toolkit.training.calibrate import calibration_metrics

    from .peers import train_textcat

    labels = train.labels
    nlp, seconds = train_textcat(train.texts, [d.label for d in train], labels, "bow", epochs=epochs, seed=seed)
    rows = {}
    for v, corpus in view_corpora(test).items():
        probs = np.array([[doc.cats[lab] for lab in labels] for doc in nlp.pipe(corpus.texts, batch_size=64)])
        rows[v] = {"raw": calibration_metrics(probs, np.asarray(corpus.label_ids))}
    log(f"[robustness] textcat bow: {seconds:.0f}s, full accuracy {rows['full']['raw']['accuracy']:.3f}")
    return {"label": "spaCy textcat bow", "train_seconds": round(seconds, 1), "test": rows}


# ---------------------------------------------------------------------------
# parts
# ---------------------------------------------------------------------------
def part_robustness(args, results) -> None:
    from toolkit.training.config import Config
    from toolkit.training.corpus import load_polarity, train_test_split

    corpus = load_polarity()
    train, test = train_test_split(corpus)
    config = Config().with_overrides(args.overrides)
    k = config.training.calibration_folds
    out = results.setdefault("robustness", {})
    out["default"] = toolkit_robustness(config, train, test, k, "toolkit default")
    checkpoint(args, results)
    if args.augment:
        out[f"windows{args.augment}"] = toolkit_robustness(config, train, test, k,
                                                          f"toolkit + {args.augment} windows/review", args.augment)
        checkpoint(args, results)
    out["textcat_bow"] = textcat_robustness(train, test, epochs=3 if args.quick else 10)
    checkpoint(args, results)


def part_short(args, results) -> None:
    from toolkit.training.config import Config
    from toolkit.training.corpus import load_polarity, train_test_split
    from toolkit.training.loop import fit
    from toolkit.training.evaluation import evaluate_fit

    from .peers import textcat_accuracy, train_textcat

    corpus = load_polarity()
    train_reviews, test_reviews = train_test_split(corpus)
    rng = random.Random(0)
    from toolkit.training.corpus import Document

    def windows_of(c, name):
        return c.subset([Document(w, d.label, d.source, d.fold) for d in c for w in cut_windows(d.text, rng, args.windows)], name)

    train, test = windows_of(train_reviews, "short-train"), windows_of(test_reviews, "short-test")
    log(f"[short] {len(train)} training windows, {len(test)} test windows")
    rows = {"n_train": len(train), "n_test": len(test), "windows_per_review": args.windows, "toolkit": [], "textcat_bow": []}
    for seed in args.seeds:
        config = Config().with_overrides({**args.overrides, "training.seed": seed, "training.calibration": "none"})
        t0 = time.perf_counter()
        m = evaluate_fit(fit(config, train, progress=False), test).metrics
        rows["toolkit"].append({"seed": seed, "accuracy": m["accuracy"], "seconds": round(time.perf_counter() - t0, 1)})
        nlp, seconds = train_textcat(train.texts, [d.label for d in train], train.labels, "bow",
                                     epochs=3 if args.quick else 10, seed=seed)
        rows["textcat_bow"].append({"seed": seed, "accuracy": textcat_accuracy(nlp, test.texts, [d.label for d in test]),
                                    "seconds": round(seconds, 1)})
        log(f"[short] seed {seed}: toolkit {rows['toolkit'][-1]['accuracy']:.4f}, textcat bow {rows['textcat_bow'][-1]['accuracy']:.4f}")
        results["short"] = rows
        checkpoint(args, results)


#: Candidate settings for short-text corpora (``variants`` part): name -> config overrides.
VARIANTS = {
    "validation 0.1 + early stopping": {"training.validation_share": 0.1},
    "5 epochs": {"training.epochs": 5},
    "dim 64": {"embedding.options": {"dim": 64}},
}


def part_variants(args, results) -> None:
    """Each candidate: accuracy on the short-text corpus and on the full cv9 reviews, same seeds."""
    from toolkit.training.config import Config
    from toolkit.training.corpus import Document, load_polarity, train_test_split
    from toolkit.training.loop import fit
    from toolkit.training.evaluation import evaluate_fit

    corpus = load_polarity()
    reviews_train, reviews_test = train_test_split(corpus)
    rng = random.Random(0)  # the same windows as the short part

    def windows_of(c, name):
        return c.subset([Document(w, d.label, d.source, d.fold) for d in c for w in cut_windows(d.text, rng, args.windows)], name)

    short_train, short_test = windows_of(reviews_train, "short-train"), windows_of(reviews_test, "short-test")
    out = results.setdefault("variants", {})
    names = [n.strip() for n in args.variants.split(";")] if args.variants else list(VARIANTS)
    for name in names:
        row = out.setdefault(name, {"overrides": VARIANTS[name], "short": [], "full_cv9": []})
        for seed in args.seeds:
            config = Config().with_overrides({**VARIANTS[name], "training.seed": seed, "training.calibration": "none"})
            for key, (train, test) in (("short", (short_train, short_test)), ("full_cv9", (reviews_train, reviews_test))):
                if any(r["seed"] == seed for r in row[key]):
                    continue
                m = evaluate_fit(fit(config, train, progress=False), test).metrics
                row[key].append({"seed": seed, "accuracy": m["accuracy"]})
                log(f"[variants] {name}, seed {seed}, {key}: {m['accuracy']:.4f}")
                checkpoint(args, results)


def part_explain(args, results) -> None:
    from toolkit.serving.occlusion import explain_texts
    from toolkit.serving.runtime import Runtime
    from toolkit.serving.component_bundle import default_model_path
    from toolkit.training.corpus import load_polarity, train_test_split

    _, test = train_test_split(load_polarity())
    rt = Runtime.load(default_model_path())
    docs = list(test)[:: max(1, len(test) // (10 if args.quick else 50))][: 10 if args.quick else 50]
    texts = [d.text for d in docs]
    explain_texts(rt, texts[:1])
    t0 = time.perf_counter()
    explanations = explain_texts(rt, texts, top=None)
    ms = 1000 * (time.perf_counter() - t0) / len(texts)
    pos = rt.labels.index("POSITIVE")
    wins, rng = 0, random.Random(0)
    for text, e in zip(texts, explanations):
        top5 = [t for t in e.terms if t.weight > 0][:5]
        words = e.words
        rand = rng.sample(words, min(5, len(words)))
        variants = [text, _cut(text, top5), _cut(text, rand)]
        p = rt.score(variants)[:, pos]
        wins += (p[0] - p[1]) > (p[0] - p[2])
    results["explain"] = {"reviews": len(texts), "ms_per_review": round(ms, 1),
                          "mean_words": float(np.mean([len(t.split()) for t in texts])),
                          "deletion_test_wins": int(wins), "bundle": "toolkit/serving/models/default"}
    log(f"[explain] {ms:.0f} ms/review; deletion test {wins}/{len(texts)}")
    checkpoint(args, results)


def part_cv10(args, results) -> None:
    """The ten polarity folds once: out-of-fold scores of every review, its first sentence and a 20-word
    window; each fold calibrated by the record fitted on the other nine folds (no extra fits)."""
    from toolkit.training.calibrate import cross_fitted_calibration, score_heldout
    from toolkit.training.config import Config
    from toolkit.training.corpus import k_folds, load_polarity
    from toolkit.training.loop import fit

    corpus = load_polarity()
    config = Config().with_overrides(args.overrides)
    folds, accs = [], []
    for i, (train, test) in enumerate(k_folds(corpus, 10, seed=config.data.split_seed)):
        if args.quick and i >= 3:
            break
        t0 = time.perf_counter()
        result = fit(config, augmented(train, args.augment) if args.cv_augment else train, progress=False)
        parts = score_heldout(result, test, list(corpus.labels), True, i)
        folds.append(dict(zip(VIEWS, parts)))
        accs.append(float((parts[0][0].argmax(axis=1) == parts[0][2]).mean()))
        log(f"[cv10] fold {i}: accuracy {accs[-1]:.3f} ({time.perf_counter() - t0:.0f}s)")
    out = {"folds": len(folds), "accuracy": {"mean": float(np.mean(accs)), "std": float(np.std(accs, ddof=1)),
                                             "per_fold": accs},
           "augment": args.augment if args.cv_augment else 0}
    for method in ("temperature", "length-temperature"):
        out[method] = cross_fitted_calibration(folds, method)
    results["cv10"] = out
    checkpoint(args, results)


def _cut(text, terms):
    for t in sorted(terms, key=lambda t: -t.start):
        text = text[:t.start] + " " + text[t.end:]
    return text


# ---------------------------------------------------------------------------
def checkpoint(args, results) -> None:
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)


def fmt(x, pct=False):
    return "n/a" if x is None else (f"{100 * x:.1f}" if pct else f"{x:.3f}")


def markdown(results) -> str:
    lines = []
    rob = results.get("robustness") or {}
    if rob:
        lines += ["## Calibration and robustness (train cv0-8, test cv9: 200 reviews)", "",
                  "| model | calibration | text | accuracy (%) | ECE | Brier | share > 0.99 | wrong among > 0.99 |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, row in rob.items():
            for view in VIEWS:
                for cal, m in row["test"][view].items():
                    if cal == "mean_ids":
                        continue
                    name = {"raw": "none", "T_full": f"T={row.get('temperature_full', 0):.2f} (full, as trained)",
                            "T_mixed": f"T={row.get('temperature_mixed', 0):.2f} (mixed)",
                            "T_length": "T(length)"}[cal]
                    lines.append(f"| {row['label']} | {name} | {view} | {fmt(m['accuracy'], True)} | {fmt(m['ece'])} | "
                                 f"{fmt(m['brier'])} | {fmt(m['share_above_099'], True)}% | {fmt(m['wrong_above_099'], True)}% |")
        lines.append("")
    short = results.get("short")
    if short:
        def ms(rows):
            a = np.array([r["accuracy"] for r in rows]) * 100
            return f"{a.mean():.1f} +- {a.std(ddof=1) if len(a) > 1 else 0:.1f}"

        lines += [f"## Short-text corpus ({short['n_train']} training / {short['n_test']} test windows of 20-30 words, "
                  f"split by review)", "", "| model | accuracy (%) | seeds |", "|---|---|---|",
                  f"| toolkit default | {ms(short['toolkit'])} | {len(short['toolkit'])} |",
                  f"| spaCy textcat bow | {ms(short['textcat_bow'])} | {len(short['textcat_bow'])} |", ""]
    cv = results.get("cv10")
    if cv:
        lines += [f"## {cv['folds']}-fold cross-validation, out-of-fold (all reviews; each fold calibrated on the others)",
                  "", f"accuracy {100 * cv['accuracy']['mean']:.2f} +- {100 * cv['accuracy']['std']:.2f}%", "",
                  "| calibration | text | accuracy (%) | ECE | Brier | share > 0.99 | wrong among > 0.99 |",
                  "|---|---|---|---|---|---|---|"]
        for method in ("temperature", "length-temperature"):
            for view in VIEWS:
                for phase in ("before", "after"):
                    if phase == "before" and method != "temperature":
                        continue
                    m = cv[method][view][phase]
                    name = "none" if phase == "before" else method
                    lines.append(f"| {name} | {view} | {fmt(m['accuracy'], True)} | {fmt(m['ece'])} | {fmt(m['brier'])} | "
                                 f"{fmt(m['share_above_099'], True)}% | {fmt(m['wrong_above_099'], True)}% |")
        lines.append("")
    var = results.get("variants")
    if var:
        def acc(rows):
            a = np.array([r["accuracy"] for r in rows]) * 100
            return "n/a" if not len(a) else f"{a.mean():.1f} +- {a.std(ddof=1) if len(a) > 1 else 0:.1f} ({len(a)})"

        lines += ["## Candidate settings for short-text corpora (accuracy %, mean +- std (seeds))", "",
                  "| setting | short-text corpus | full reviews, cv9 |", "|---|---|---|"]
        for name, row in var.items():
            lines.append(f"| {name} | {acc(row['short'])} | {acc(row['full_cv9'])} |")
        lines.append("")
    ex = results.get("explain")
    if ex:
        lines += ["## Explanations", "", f"{ex['ms_per_review']} ms per review ({ex['reviews']} test reviews, "
                  f"{ex['mean_words']:.0f} words on average); deletion test passed on {ex['deletion_test_wins']}/{ex['reviews']}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, fewer windows and epochs for the peer")
    ap.add_argument("--parts", default="robustness,short,explain")
    ap.add_argument("--out", default=None)
    ap.add_argument("--seeds", type=int, nargs="*", default=None)
    ap.add_argument("--windows", type=int, default=None, help="windows per review in the short-text corpus")
    ap.add_argument("--augment", type=int, default=2, help="extra windows per training review for the augmented "
                    "model in the robustness part (0: skip it)")
    ap.add_argument("--variants", default=None, help="variants part: names from VARIANTS separated by ';' (default all)")
    ap.add_argument("--cv-augment", action="store_true", help="cv10: train each fold with --augment windows per review")
    ap.add_argument("--set", action="append", default=[], help="config override for the toolkit models, section.field=value")
    args = ap.parse_args(argv)
    from toolkit.training.config import parse_set_options

    args.overrides = parse_set_options(args.set)
    args.out = args.out or str(BENCH / ("results_trust.quick.json" if args.quick else "results_trust.json"))
    args.seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    args.windows = args.windows or (2 if args.quick else 5)
    results = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    from .common import machine_info

    results["machine"] = machine_info()
    for part in filter(None, (p.strip() for p in args.parts.split(","))):  # --parts "": the tables only
        {"robustness": part_robustness, "short": part_short, "explain": part_explain, "cv10": part_cv10,
         "variants": part_variants}[part](args, results)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
