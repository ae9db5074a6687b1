"""Small corpora and configs shared by tests (importable by name: tests/ is on sys.path)."""

from __future__ import annotations

import json
import random

from toolkit.training.config import Config

POSITIVE = ["wonderful", "superb", "moving", "brilliant", "delightful", "gripping", "charming", "masterful"]
NEGATIVE = ["dreadful", "boring", "clumsy", "tedious", "awful", "lifeless", "incoherent", "painful"]
FILLER = ["film", "story", "actor", "scene", "director", "script", "camera", "ending", "music", "plot",
          "cast", "screen", "dialogue", "character", "sequence", "minute"]


def learnable_corpus(path, n_per_label=60, seed=0, length=(6, 14)):
    """Short reviews: each holds two or three words of its label's list among neutral words."""
    rng = random.Random(seed)
    lines = []
    for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
        for _ in range(n_per_label):
            body = rng.sample(FILLER, rng.randint(*length) - 3) + rng.sample(words, rng.randint(2, 3))
            rng.shuffle(body)
            lines.append(json.dumps({"text": "The " + " ".join(body) + ".", "label": label}))
    rng.shuffle(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_config(data, architecture="cnn", embedding="learned", epochs=2, **extra):
    overrides = {
        "data.path": str(data), "architecture.name": architecture, "embedding.name": embedding,
        "training.epochs": epochs, "training.batch_size": 16, "vocab.min_count": 1, "training.max_len": 40,
        # calibration costs three extra fits; tests/training/test_calibration.py trains with it on
        "training.calibration": "none",
        # the short-text rule would hold out 10% of these short texts; tests that want it turn it on
        "training.short_text_words": 0,
    }
    overrides.update(extra)
    return Config().with_overrides(overrides)


RATING_WORDS = {
    "1": ["dreadful", "awful", "unwatchable", "painful"],
    "2": ["dull", "clumsy", "tedious", "flat"],
    "4": ["pleasant", "solid", "likeable", "decent"],
    "5": ["masterful", "superb", "brilliant", "stunning"],
}


def rated_corpus(path, n_per_label=50, seed=0, length=(6, 12)):
    """Four-class "star rating" reviews (labels 1, 2, 4, 5): each holds two words of its rating's list."""
    rng = random.Random(seed)
    lines = []
    for label, words in RATING_WORDS.items():
        for _ in range(n_per_label):
            body = rng.sample(FILLER, rng.randint(*length) - 2) + rng.sample(words, 2)
            rng.shuffle(body)
            lines.append(json.dumps({"text": "The " + " ".join(body) + ".", "rating": label}))
    rng.shuffle(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def multi_label_reviews(path, n_train=30, n_dev=8, n_test=10, words=80, seed=0):
    """The multi-domain product reviews as a multi-label corpus (JSONL): a review's labels are its domain and its
    polarity, a list in the label field (``["POSITIVE", "kitchen"]``: six labels, two per review). Of each domain x
    polarity, ``n_train`` training and ``n_dev`` dev reviews from the standard training part and ``n_test`` from the
    test part, marked in a ``split`` field; each review cut to its first ``words`` words."""
    from collections import defaultdict

    from toolkit.training.datasets.multi_domain import TEST_FOLD, read_multi_domain

    corpus = read_multi_domain(None, label_field="domain+label")
    rng = random.Random(seed)
    cells = defaultdict(lambda: {"train": [], "test": []})
    for doc in corpus:
        cells[doc.label]["test" if doc.fold == TEST_FOLD else "train"].append(doc)
    rows = []
    for label in sorted(cells):
        picked = rng.sample(cells[label]["train"], n_train + n_dev)
        tested = rng.sample(cells[label]["test"], n_test)
        for split, docs in (("train", picked[:n_train]), ("dev", picked[n_train:]), ("test", tested)):
            rows += [{"id": d.fields["id"], "text": " ".join(d.text.split()[:words]), "label": list(label),
                      "split": split} for d in docs]
    rng.shuffle(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
