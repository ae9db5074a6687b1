"""Sentence-level sentiment for spaCy ``Doc`` objects (the component setting ``sentences = true``).

Each sentence of a ``Doc`` is scored by the bundle on its own (all sentences of
a batch of documents in one runtime call, calibrated like ``doc.cats``) and put
in ``doc.spans["sentiment_sentences"]`` (:data:`SPANS_KEY`) in document order:
``span.label_`` is the most probable label and ``span._.sentiment_cats`` holds
``{label: probability}`` (:data:`CATS_ATTR`). So a mixed review shows where it
turns.

Sentence boundaries come from a component before this one (``sentencizer``,
or a parser / ``senter`` of a trained pipeline); a ``Doc`` without them is
refused with a :class:`~toolkit.core.errors.ConfigError` naming the fix.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from toolkit.core.errors import ConfigError

#: ``doc.spans`` key of the scored sentences.
SPANS_KEY = "sentiment_sentences"
#: Span extension holding a sentence's ``{label: probability}``.
CATS_ATTR = "sentiment_cats"


def register_extensions() -> None:
    """``Span._.sentiment_cats`` (once per process)."""
    from spacy.tokens import Span

    if not Span.has_extension(CATS_ATTR):
        Span.set_extension(CATS_ATTR, default=None)


def check_boundaries(doc: Any, component: str = "review_sentiment") -> None:
    """Raise the one-line error when a non-empty ``doc`` has no sentence boundaries."""
    if len(doc) and not doc.has_annotation("SENT_START"):
        raise ConfigError(
            f"component {component!r}: sentences = true needs sentence boundaries, and this Doc has none; "
            f"add a sentencizer before it: nlp.add_pipe(\"sentencizer\", before=\"{component}\") (or use a pipeline "
            f"with a parser or senter)"
        )


def score_sentences(runtime: Any, docs: Sequence[Any], *, batch_size: int = 64,
                    component: str = "review_sentiment") -> list[np.ndarray]:
    """Score every sentence of ``docs`` and set ``doc.spans[SPANS_KEY]``; returns each doc's scores [n_sents, labels]."""
    from spacy.tokens import Span, SpanGroup

    register_extensions()
    for doc in docs:
        check_boundaries(doc, component)
    sents = [list(doc.sents) if len(doc) else [] for doc in docs]
    flat = [s for doc_sents in sents for s in doc_sents]
    probs = runtime.score([s.as_doc() for s in flat], batch_size=batch_size) if flat else np.zeros((0, 0))
    labels = list(runtime.labels)
    out, k = [], 0
    for doc, doc_sents in zip(docs, sents):
        doc_probs = probs[k:k + len(doc_sents)]
        k += len(doc_sents)
        spans = [Span(doc, s.start, s.end, label=labels[int(np.argmax(p))]) for s, p in zip(doc_sents, doc_probs)]
        doc.spans[SPANS_KEY] = SpanGroup(doc, name=SPANS_KEY, spans=spans)
        for span, p in zip(spans, doc_probs):
            span._.set(CATS_ATTR, {label: float(v) for label, v in zip(labels, p)})
        out.append(np.asarray(doc_probs))
    return out


__all__ = ["CATS_ATTR", "SPANS_KEY", "check_boundaries", "register_extensions", "score_sentences"]
