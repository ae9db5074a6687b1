"""The main job, end to end, as ``make demo`` shows it: a spaCy pipeline with
``review_sentiment`` scoring a few reviews.

    python -m toolkit.cli.demo [BUNDLE]     # BUNDLE: an exported bundle; default: the shipped model

Imports no TensorFlow: this is the serving half.
"""

from __future__ import annotations

import sys
import textwrap

SENTENCES = [
    "A tense, beautifully acted film; I loved every minute.",
    "The plot is a mess, the dialogue is wooden and I was bored stiff.",
    "Not the best film of the year, but the cast is charming and the ending works.",
    "An utterly pointless remake that wastes a talented cast.",
]


def test_reviews(n: int = 4) -> list[tuple[str, str]]:
    """A few held-out reviews (cv9*) of the polarity corpus, with their labels, when it is there."""
    from toolkit.training.corpus import load_polarity, train_test_split
    from toolkit.core.errors import CorpusError

    try:
        _, test = train_test_split(load_polarity())
    except CorpusError:
        return []
    picked = [d for d in test.documents if d.label == "POSITIVE"][: n // 2]
    picked += [d for d in test.documents if d.label == "NEGATIVE"][: n - n // 2]
    return [(d.text, f"{d.label} ({d.source})") for d in picked]


def main(argv: list[str] | None = None) -> None:
    import spacy

    argv = sys.argv[1:] if argv is None else argv
    config = {"model": argv[0]} if argv else {}
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("review_sentiment", config=config)
    source = argv[0] if argv else "the shipped default model"
    print(f"pipeline: {nlp.pipe_names}; model: {source}\n")
    items = [(s, "written for the demo") for s in SENTENCES] + test_reviews()
    docs = nlp.pipe([text for text, _ in items], batch_size=64)
    for (text, origin), doc in zip(items, docs):
        best = max(doc.cats, key=doc.cats.get)
        scores = ", ".join(f"{label} {score:.3f}" for label, score in doc.cats.items())
        snippet = textwrap.shorten(" ".join(text.split()), width=100, placeholder=" ...")
        print(f"{best:<9} [{scores}]  {origin}, {len(doc)} tokens, {len(list(doc.sents))} sentences")
        print(f"          {snippet}\n")
    heavy = [m for m in ("tensorflow", "keras", "tf2onnx", "gensim") if m in sys.modules]
    print(f"TensorFlow-family modules loaded while serving: {heavy or 'none'}")


if __name__ == "__main__":
    main()
