"""What ``toolkit data info`` says of a corpus (named or a path): size, labels and their counts,
document lengths in words, how it is split, the encoding it was read with and where from."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from toolkit.training.corpus import Corpus, train_test_split
from toolkit.training.datasets.source import NamedCorpus


def _lengths(corpus: Corpus) -> dict[str, float]:
    words = np.array([len(d.text.split()) for d in corpus], dtype=np.int64)
    if not len(words):
        return {}
    return {"min": int(words.min()), "median": round(float(np.median(words)), 1),
            "p90": round(float(np.percentile(words, 90)), 1),
            "max": int(words.max()), "total": int(words.sum())}


def corpus_info(corpus: Corpus, *, encoding: str = "utf-8", test_share: float = 0.1, test_fold: int = 9,
                seed: int = 0) -> dict[str, Any]:
    """A JSON-ready description of ``corpus``. ``encoding``: what a corpus read from a path was decoded with
    (a named corpus says its own); the split is :func:`~toolkit.training.corpus.train_test_split`'s with
    ``test_share`` / ``test_fold`` / ``seed``, as ``toolkit train`` splits with the default config."""
    named = isinstance(corpus, NamedCorpus)
    train, test = train_test_split(corpus, test_share=test_share, seed=seed, test_fold=test_fold)
    if named and corpus.split_rule:
        rule = corpus.split_rule
    elif corpus.has_folds:
        rule = f"predefined folds (test = fold {test_fold})"
    else:
        rule = f"seeded stratified split ({test_share:.0%} test, seed {seed})"
    counts = corpus.label_counts()
    multi = bool(corpus.multi_label) or any(isinstance(d.label, tuple) for d in corpus)  # list labels
    info: dict[str, Any] = {
        "corpus": corpus.name,
        "folder": corpus.folder if named else corpus.name,
        "encoding": corpus.encoding if named else encoding,
        "documents": len(corpus),
        "labels": {label: counts.get(label, 0) for label in corpus.labels},
        "ordered": bool(getattr(corpus, "ordered", False)),
        "multi_label": multi,
        "length_words": _lengths(corpus),
        "split": {"rule": rule, "train": len(train), "test": len(test)},
    }
    if corpus.has_folds:
        info["split"]["folds"] = {str(k): v for k, v in sorted(Counter(d.fold for d in corpus).items())}
    if multi:  # documents per number of labels they hold
        held = Counter(len(d.label) if isinstance(d.label, tuple) else 1 for d in corpus)
        info["labels_per_document"] = {str(k): v for k, v in sorted(held.items())}
    domains = Counter(d.fields.get("domain") for d in corpus if d.fields.get("domain"))
    if domains:
        info["domains"] = dict(domains)
    return info


def render_info(info: dict[str, Any]) -> str:
    """The lines ``toolkit data info`` prints."""
    lines = [
        f"corpus: {info['corpus']}",
        f"folder: {info['folder']}",
        f"encoding: {info['encoding']}",
        f"documents: {info['documents']}; labels: {info['labels']}" + (" (ordered)" if info["ordered"] else "")
        + (" (multi-label: documents per label)" if info.get("multi_label") else ""),
    ]
    if "labels_per_document" in info:
        lines.append("labels per document: " + ", ".join(f"{k}: {v}" for k, v in info["labels_per_document"].items()))
    n = info["length_words"]
    if n:
        lines.append(f"length (words): min {n['min']}, median {n['median']:g}, p90 {n['p90']:g}, max {n['max']}")
    split = info["split"]
    lines.append(f"split: {split['rule']}: {split['train']} train, {split['test']} test")
    if "folds" in split:
        lines.append("folds: " + ", ".join(f"{k}: {v}" for k, v in split["folds"].items()))
    if "domains" in info:
        lines.append("domains: " + ", ".join(f"{k} {v}" for k, v in info["domains"].items()))
    return "\n".join(lines)
