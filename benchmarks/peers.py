"""The peer: spaCy's own ``textcat`` trained on the same split, in the same run.

Two configurations: the bag-of-words model with unigrams and bigrams
(``spacy.TextCatBOW.v3``, ``ngram_size=2``) and spaCy's default ensemble
(``spacy.TextCatEnsemble.v2``: BOW + a small CNN tok2vec).
"""

from __future__ import annotations

import random
import time
from typing import Sequence

BOW_MODEL = {
    "@architectures": "spacy.TextCatBOW.v3",
    "exclusive_classes": True,
    "ngram_size": 2,
    "no_output_layer": False,
    "length": 262144,
}


def make_textcat_nlp(kind: str, labels: Sequence[str]):
    import spacy
    from spacy.pipeline.textcat import DEFAULT_SINGLE_TEXTCAT_MODEL

    nlp = spacy.blank("en")
    model = BOW_MODEL if kind == "bow" else DEFAULT_SINGLE_TEXTCAT_MODEL
    textcat = nlp.add_pipe("textcat", config={"model": model})
    for label in labels:
        textcat.add_label(label)
    return nlp


def train_textcat(train_texts, train_labels, labels, kind: str = "bow", epochs: int = 10, seed: int = 0,
                  batch_size: int = 16, dropout: float = 0.2, dev=None):
    """Train spaCy textcat; keep the epoch with the best dev accuracy when ``dev`` is given."""
    from spacy.training import Example
    from spacy.util import fix_random_seed, minibatch

    fix_random_seed(seed)
    nlp = make_textcat_nlp(kind, labels)
    t0 = time.perf_counter()
    docs = list(nlp.tokenizer.pipe(train_texts))
    examples = [Example.from_dict(doc, {"cats": {l: float(l == y) for l in labels}})
                for doc, y in zip(docs, train_labels)]
    optimizer = nlp.initialize(lambda: examples[:200])
    rng = random.Random(seed)
    best = (-1.0, None)
    for _ in range(epochs):
        rng.shuffle(examples)
        for batch in minibatch(examples, size=batch_size):
            nlp.update(batch, sgd=optimizer, drop=dropout)
        if dev is not None:
            acc = textcat_accuracy(nlp, *dev)
            if acc > best[0]:
                best = (acc, nlp.to_bytes())
    if best[1] is not None:
        nlp.from_bytes(best[1])
    return nlp, time.perf_counter() - t0


def textcat_predict(nlp, texts, batch_size: int = 64) -> list[str]:
    return [max(doc.cats, key=doc.cats.get) for doc in nlp.pipe(texts, batch_size=batch_size)]


def textcat_accuracy(nlp, texts, labels) -> float:
    predicted = textcat_predict(nlp, texts)
    return sum(p == y for p, y in zip(predicted, labels)) / len(labels)
