"""Baselines: the default ``toolkit train`` beside two simple systems, on the same splits, every corpus shape.

    python -m benchmarks.baselines                  # every row (tens of minutes on 2 cores)
    python -m benchmarks.baselines --rows mr,books  # some rows; the others keep their last figures
    python -m benchmarks.baselines --render         # RESULTS table from benchmarks/results_baselines.json
    python -m benchmarks.run --only baselines       # as a part of `make bench` (--quick: two domains only)

Systems (each trained on the training part only, scored on the test part):

* ``nb-lr``: binary unigrams + bigrams scaled by naive-Bayes log-count ratios, then scikit-learn's
  ``LogisticRegressionCV`` (C from 0.01 ... 100 by an inner stratified 5-fold CV on the training part): the
  NBSVM recipe (Wang & Manning 2012) with a logistic loss, the "twenty-line scikit-learn baseline".
* ``lr``: the same features without the NB scaling, the same ``LogisticRegressionCV`` (a plain logistic regression).
* ``textcat-bow``: spaCy's ``textcat`` with ``spacy.TextCatBOW.v3`` (unigrams + bigrams), 10 epochs.
* ``toolkit``: the default configuration of ``toolkit train`` (``Config()``, the short-text rule applied as
  ``toolkit train`` applies it), calibration off: calibration rescales each document's logits by a positive
  temperature and never changes its top label, so accuracy is the same with it and without it.

Rows: polarity (its 10 folds), MR (10 stratified folds, seed 0), each multi-domain domain (the standard
1,600 / 400 split: the last 200 reviews of each file test), the four domains pooled (6,400 / 1,600), and the
four-class star ratings of the pooled reviews (1, 2, 4, 5; accuracy and MAE). Never tuned on a test fold:
every choice a system makes (C, the linear path's weight, the best epoch) is made on training data.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .common import BENCH_DIR, machine_info

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = BENCH_DIR / "results_baselines.json"
SYSTEMS = ("toolkit", "nb-lr", "lr", "textcat-bow")
BASELINES = ("nb-lr", "lr", "textcat-bow")
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


# ---------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------
def _folds(corpus, k: int = 10) -> list[tuple[Any, Any]]:
    from toolkit.training.corpus import k_folds

    return k_folds(corpus, k, seed=0)


def _predefined(corpus) -> list[tuple[Any, Any]]:
    from toolkit.training.corpus import train_test_split

    return [train_test_split(corpus, test_fold=9)]


def rows() -> dict[str, tuple[str, Callable[[], list[tuple[Any, Any]]]]]:
    from toolkit.training.corpus import load_corpus

    out: dict[str, tuple[str, Callable[[], list]]] = {
        "polarity": ("polarity, 10-fold (2,000 long movie reviews)", lambda: _folds(load_corpus("polarity"))),
        "mr": ("MR sentences, 10-fold (10,662 snippets)", lambda: _folds(load_corpus("mr"))),
    }
    for domain in ("books", "dvd", "electronics", "kitchen"):
        out[domain] = (f"multi-domain {domain}, 1,600 / 400",
                       lambda d=domain: _predefined(load_corpus(f"multi-domain:{d}")))
    out["pooled"] = ("multi-domain, 4 domains pooled, 6,400 / 1,600", lambda: _predefined(load_corpus("multi-domain")))
    out["ratings"] = ("multi-domain star ratings (1/2/4/5), 6,400 / 1,600",
                      lambda: _predefined(load_corpus("multi-domain", label_field="rating")))
    return out


# ---------------------------------------------------------------------------
# systems: each returns the predicted labels of the test texts
# ---------------------------------------------------------------------------
def run_nb_lr(train, test) -> list[str]:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    labels = list(train.labels)
    y = np.array([labels.index(d.label) for d in train])
    vec = CountVectorizer(binary=True, ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[^\w\s]")
    x = vec.fit_transform(train.texts)
    counts = np.stack([np.asarray(x[y == c].sum(axis=0)).ravel() for c in range(len(labels))]) + 1.0
    ratios = np.log(counts / counts.sum(axis=1, keepdims=True))
    if len(labels) == 2:
        scale = np.abs(ratios[1] - ratios[0])
    else:  # one-vs-rest ratios, their largest magnitude
        rest = [np.log((counts.sum(0) - counts[c]) / (counts.sum() - counts[c].sum())) for c in range(len(labels))]
        scale = np.max([np.abs(ratios[c] - rest[c]) for c in range(len(labels))], axis=0)
    clf = LogisticRegressionCV(Cs=list(C_GRID), cv=StratifiedKFold(5, shuffle=True, random_state=0),
                               max_iter=5000).fit(x.multiply(scale).tocsr(), y)
    pred = clf.predict(vec.transform(test.texts).multiply(scale).tocsr())
    return [labels[i] for i in pred]


def run_plain_lr(train, test) -> list[str]:
    """scikit-learn's logistic regression on binary unigrams + bigrams, no NB scaling (C by the same inner CV)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    labels = list(train.labels)
    vec = CountVectorizer(binary=True, ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[^\w\s]")
    clf = LogisticRegressionCV(Cs=list(C_GRID), cv=StratifiedKFold(5, shuffle=True, random_state=0),
                               max_iter=5000).fit(vec.fit_transform(train.texts), [labels.index(d.label) for d in train])
    return [labels[i] for i in clf.predict(vec.transform(test.texts))]


def run_textcat(train, test) -> list[str]:
    from .peers import textcat_predict, train_textcat

    nlp, _ = train_textcat(train.texts, [d.label for d in train], list(train.labels), kind="bow", epochs=10, seed=0)
    return textcat_predict(nlp, test.texts)


def run_toolkit(train, test) -> list[str]:
    from toolkit.training.config import Config
    from toolkit.training.evaluation import evaluate_fit
    from toolkit.training.loop import fit
    from toolkit.training.experiment import short_text_rule

    config = Config().with_overrides({"training.calibration": "none"})
    result = fit(short_text_rule(config, train)[0], train, progress=False)
    probs = evaluate_fit(result, test).probs
    labels = result.prepared.labels
    return [labels[i] for i in probs.argmax(axis=1)]


RUNNERS = {"toolkit": run_toolkit, "nb-lr": run_nb_lr, "lr": run_plain_lr, "textcat-bow": run_textcat}


def score(predicted: Sequence[str], test) -> dict[str, float]:
    gold = [d.label for d in test]
    out = {"accuracy": float(np.mean([p == g for p, g in zip(predicted, gold)]))}
    if test.ordered:
        from toolkit.training.metrics import label_values

        value = dict(zip(test.labels, label_values(test.labels)))
        out["mae"] = float(np.mean([abs(value[p] - value[g]) for p, g in zip(predicted, gold)]))
    return out


def run_row(name: str, title: str, make_splits, systems: Sequence[str], log=print) -> dict[str, Any]:
    splits = make_splits()
    row: dict[str, Any] = {"title": title, "splits": len(splits), "systems": {}}
    for system in systems:
        folds = []
        for i, (train, test) in enumerate(splits):
            t0 = time.perf_counter()
            predicted = RUNNERS[system](train, test)
            folds.append({**score(predicted, test), "seconds": round(time.perf_counter() - t0, 2),
                          "n_train": len(train), "n_test": len(test)})
            log(f"[baselines] {name} {system} split {i}: {folds[-1]['accuracy']:.4f} ({folds[-1]['seconds']:.0f} s)")
        accs = np.array([f["accuracy"] for f in folds]) * 100
        summary = {"mean": float(accs.mean()), "std": float(accs.std(ddof=1)) if len(accs) > 1 else None,
                   "seconds": float(np.mean([f["seconds"] for f in folds])), "folds": folds}
        if "mae" in folds[0]:
            summary["mae"] = float(np.mean([f["mae"] for f in folds]))
        row["systems"][system] = summary
    return row


# ---------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------
def render(results: dict[str, Any]) -> str:
    lines = ["| corpus | toolkit (default) | NB-weighted LR | plain LR | spaCy textcat bow | toolkit - best baseline |",
             "|---|---|---|---|---|---|"]
    gaps = []
    for name, row in results.get("rows", {}).items():
        cells = []
        for system in SYSTEMS:
            s = row["systems"].get(system)
            if s is None:
                cells.append("-")
                continue
            text = f"{s['mean']:.2f}" + (f" +- {s['std']:.2f}" if s.get("std") is not None else "")
            if "mae" in s:
                text += f" (MAE {s['mae']:.3f})"
            cells.append(text + f" ({s['seconds']:.0f} s)")
        base = [row["systems"][b]["mean"] for b in BASELINES if b in row["systems"]]
        gap = row["systems"]["toolkit"]["mean"] - max(base) if base and "toolkit" in row["systems"] else None
        if gap is not None:
            gaps.append(gap)
        flag = "" if gap is None or gap >= -0.3 else " (shortfall)"
        lines.append(f"| {row['title']} | " + " | ".join(cells) + f" | {'-' if gap is None else f'{gap:+.2f}'}{flag} |")
    if gaps:
        lines.append(f"\nMean difference to the best baseline over {len(gaps)} rows: {np.mean(gaps):+.2f} points "
                     f"(accuracy %, mean +- std over the splits; seconds per split, training and scoring).")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> list[str]:
    """The section of RESULTS.md (``benchmarks.run``'s module parts)."""
    return ["Every system trained on the training part only and scored on the test part of the same split "
            "(`python -m benchmarks.baselines`; systems and rows in its docstring).", "", *render(results).splitlines()]


QUICK_ROWS = "books,electronics"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="", help="comma-separated rows (default: all)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--render", action="store_true", help="print the table of the saved results")
    parser.add_argument("--quick", action="store_true", help=f"only the rows {QUICK_ROWS}")
    parser.add_argument("--out", default=str(RESULTS), help="the results JSON (kept between runs: rows not run "
                                                            "keep their figures)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.quick and not args.rows:
        args.rows = QUICK_ROWS
    results = json.loads(out.read_text()) if out.exists() else {"rows": {}}
    if not args.render:
        table = rows()
        chosen = [r for r in args.rows.split(",") if r] or list(table)
        unknown = sorted(set(chosen) - set(table))
        if unknown:
            raise SystemExit(f"unknown rows {unknown}; rows: {', '.join(table)}")
        systems = [s for s in args.systems.split(",") if s]
        for name in chosen:
            title, make = table[name]
            fresh = run_row(name, title, make, systems)
            old = results["rows"].get(name, {"systems": {}})
            fresh["systems"] = {**old.get("systems", {}), **fresh["systems"]}
            results["rows"][name] = fresh
            results["machine"] = machine_info()
            from toolkit.core.atomic import write_json

            write_json(out, results)
    print(render(results))


if __name__ == "__main__":
    main()
