"""Accuracy and training time on the polarity corpus, standard split (cv9* = test).

Each configuration is trained through the same code path as ``toolkit train``
(``toolkit.training.loop.fit`` + ``evaluate_fit``) for several seeds; the peer spaCy
``textcat`` models are trained on the same split in the same run. The best
configuration is also cross-validated over the ten predefined folds (as Ray Tune trials, benchmarks/run.py part_cv).
"""

from __future__ import annotations

from typing import Any

from toolkit.training.config import Config
from toolkit.training.corpus import load_polarity, train_test_split

from .common import mean_std

#: name -> (description, config overrides). ``None`` values are left at the defaults.
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "cnn": ("default `cnn` with the default config", {}),
    "cnn+word2vec": ("default `cnn` initialised from word2vec trained on the training split",
                     {"embedding.name": "word2vec", "embedding.options": {"dim": 16}}),
    "cnn-lstm": ("`cnn-lstm` defaults: chunks of 100 ids -> per-chunk CNN (TimeDistributed; embeddings "
                 "scaled by naive-Bayes token weights, 32 width-1 filters, average pooling) -> LSTM(64); unigrams + "
                 "bigrams, dim 16, Adam 0.01 with cosine decay, 10 epochs",
                 {"architecture.name": "cnn-lstm",
                  "architecture.options": {"chunk_len": 100, "filters": 32, "kernel_size": 1, "pooling": "avg",
                                           "chunk_weights": "nb"},
                  "training.learning_rate": 0.01, "training.lr_schedule": "cosine", "training.epochs": 10}),
    "seed-cnn": (
        "classic tutorial CNN: NLTK cleaning (stop words removed), unigrams, unknown words dropped, Embedding(100) "
        "-> Conv1D(32, 8) -> MaxPool(2) -> Flatten -> Dense(10) -> Dense(1, sigmoid), fixed length, 10 epochs",
        {"tokenizer.options": {"stopwords": True}, "vocab.ngrams": 1, "vocab.unknown": "drop",
         "architecture.name": "seed-cnn",
         "embedding.options": {"dim": 100},
         "training.epochs": 10, "training.validation_share": 0.0, "training.early_stopping": 0,
         "training.learning_rate": 0.001},
    ),
}


def config_for(name: str, base: Config | None = None) -> Config:
    base = base or Config()
    return base.with_overrides(CONFIGS[name][1]) if CONFIGS[name][1] else base


def run_peer(kind: str, seeds: list[int], corpus, epochs: int = 10, log=print, save_first=None) -> dict[str, Any]:
    """spaCy textcat trained on the standard split for each seed; ``save_first``: a folder
    to keep the first seed's pipeline in (the spaCy throughput part reuses it)."""
    from .peers import textcat_accuracy, train_textcat

    train, test = train_test_split(corpus)
    test_labels = [d.label for d in test]
    runs = []
    for seed in seeds:
        nlp, seconds = train_textcat(train.texts, [d.label for d in train], corpus.labels, kind=kind,
                                     epochs=epochs, seed=seed)
        acc = textcat_accuracy(nlp, test.texts, test_labels)
        if save_first is not None and seed == seeds[0]:
            nlp.to_disk(save_first)
        runs.append({"seed": seed, "accuracy": acc, "train_seconds": seconds, "epochs": epochs})
        log(f"  textcat-{kind} seed {seed}: accuracy {acc:.3f} ({seconds:.0f}s)")
    return {
        "name": f"spacy textcat ({'bag of words, unigrams + bigrams' if kind == 'bow' else 'default ensemble'})",
        "kind": kind,
        "accuracy": mean_std([r["accuracy"] for r in runs]),
        "train_seconds": mean_std([r["train_seconds"] for r in runs]),
        "runs": runs,
    }


def load_corpus():
    return load_polarity()
