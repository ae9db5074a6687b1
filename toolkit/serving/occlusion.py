"""Explanations: which words and word pairs moved a bundle's score, by occlusion through the model.

Serving half: numpy and the runtime; spaCy only for :func:`annotate_doc`.

For a text, every white-space-separated word (and every pair of neighbouring
words) is removed in turn and the text is rescored by the bundle's own ONNX
model, all variants batched into a few onnxruntime calls. A unit's **weight** is
how much removing it lowers the log-odds of the explained label::

    weight = logit P(label | text) - logit P(label | text without the unit)

(natural log; ``logit p = log p - log(1 - p)``, computed from the other labels'
probabilities so that it stays exact near 1; a multi-label bundle's labels are
independent, so there ``1 - p`` is the label's own complement). Positive: the
unit pushed the score towards the label; negative: away from it. Scores are the
runtime's (calibrated when the bundle is), so the weights describe the served
model, not a separate lexicon. The explained label is ``label`` when given, else
the last of two exclusive labels (``POSITIVE`` for the polarity labels), else the
most probable one.

The **terms** are the units ranked by ``|weight|`` per word, without overlaps: a
word pair is chosen over its words when together they move the score more than
either word alone does per word (``not good``), else the single word. Words
the tokenizer drops (punctuation alone) are not units.

For a tokenizer that declares ``whitespace_separable`` (``nltk``) the variants
are encoded from the text's tokens without re-tokenizing (the same ids as
tokenizing each shortened text); other tokenizers rescore the shortened texts.

spaCy: the component setting ``explain = true`` (or :func:`annotate_doc`) puts
the terms in ``doc.spans["sentiment_explanations"]`` (:data:`SPANS_KEY`), each
with ``span.label_`` = the label it pushes towards and
``span._.sentiment_weight`` = its weight; the span group's ``attrs`` hold the
explained ``label`` and its ``probability``. :func:`render_html` draws an
explanation as highlighted text (displaCy-like inline styles).
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from toolkit.core.errors import ConfigError
from toolkit.core.options import check_int
from toolkit.serving.doc_encoding import can_encode_docs

#: ``doc.spans`` key of the explanation terms.
SPANS_KEY = "sentiment_explanations"
#: Span extension holding a term's weight.
WEIGHT_ATTR = "sentiment_weight"
#: Terms kept unless told otherwise.
DEFAULT_TOP = 10
_WORD = re.compile(r"\S+")
_TINY = float(np.finfo(np.float32).tiny)


@dataclass
class Term:
    """A word or a run of neighbouring words: character offsets in the text, and its weight."""

    start: int
    end: int
    text: str
    weight: float
    words: int = 1
    label: str = ""  # the label it pushes towards

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Explanation:
    text: str
    label: str  # the explained label
    probability: float  # P(label | text), as the runtime scores it
    words: list[Term] = field(default_factory=list)  # every word unit, in text order
    terms: list[Term] = field(default_factory=list)  # the top terms, strongest first

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "label": self.label, "probability": self.probability,
                "terms": [t.to_dict() for t in self.terms], "words": [t.to_dict() for t in self.words]}


def explained_label(labels: Sequence[str], probs: np.ndarray, label: str | None, multi_label: bool = False) -> int:
    if label is not None:
        if label not in labels:
            raise ConfigError(f"explain: label {label!r} is not one of the bundle's labels ({', '.join(labels)})")
        return list(labels).index(label)
    return len(labels) - 1 if len(labels) == 2 and not multi_label else int(np.argmax(probs))


def log_odds(probs: np.ndarray, j: int, multi_label: bool = False) -> np.ndarray:
    """``log p_j - log(sum of the other p)`` per row, from float32 probabilities without losing precision near 1;
    ``multi_label``: ``log p_j - log(1 - p_j)`` (the labels are independent)."""
    probs = np.asarray(probs, dtype=np.float64)
    other = 1.0 - probs[:, j] if multi_label else np.delete(probs, j, axis=1).sum(axis=1)
    return np.log(np.maximum(probs[:, j], _TINY)) - np.log(np.maximum(other, _TINY))


def _units(words: list[tuple[int, int, str]], counts: list[int], ngrams: int) -> list[tuple[int, ...]]:
    """Word indices of each occlusion unit: every word with tokens, then runs of 2..ngrams such words."""
    content = [i for i, n in enumerate(counts) if n > 0]
    units = [(i,) for i in content]
    for n in range(2, ngrams + 1):
        units += [tuple(content[k:k + n]) for k in range(len(content) - n + 1)]
    return units


def _variant_ids(runtime: Any, tokens: list[str], spans: list[tuple[int, int]], units: list[tuple[int, ...]],
                 chunk: int = 256) -> list[np.ndarray]:
    """Ids of the full text (first) and of the text without each unit, from its tokens."""
    vocab = runtime.vocab
    get = vocab.index.get
    unigram = np.asarray([get(tok, 1) for tok in tokens], dtype=np.int64)
    positions = np.arange(len(tokens))
    keeps = [positions]
    for unit in units:
        drop = np.concatenate([positions[spans[w][0]:spans[w][1]] for w in unit])
        keeps.append(np.delete(positions, drop))
    out: list[np.ndarray] = []
    for start in range(0, len(keeps), chunk):
        part = keeps[start:start + chunk]
        pos = np.concatenate(part)
        bounds = np.concatenate(([0], np.cumsum([len(k) for k in part])))
        ids = vocab.encode_ids_batch(unigram[pos], bounds, lambda i, pos=pos: tokens[int(pos[i])])
        out.extend(ids)  # cut to max_len where they are scored (Runtime.score_ids)
    return out


def explain_texts(runtime: Any, texts: Sequence[str], *, label: str | None = None, top: int | None = DEFAULT_TOP,
                  ngrams: int = 2, batch_size: int = 256) -> list[Explanation]:
    """An :class:`Explanation` of each text under ``runtime`` (a :class:`toolkit.serving.runtime.Runtime`).

    Args:
        label: the label to explain (default: the last of two exclusive labels, else the most probable one).
        top: how many terms to keep (``None``: all, ranked).
        ngrams: longest run of neighbouring words occluded together (1: words only).
        batch_size: variants per onnxruntime call.
    """
    if isinstance(texts, str):
        raise TypeError("explain_texts() takes a list of texts; wrap a single text in a list")
    check_int(ngrams, "ngrams", minimum=1, subject="explain: ngrams")
    check_int(top, "top", minimum=0, optional=True, subject="explain: top")
    separable = can_encode_docs(runtime.tokenizer)
    cache: dict[str, list[str]] = {}
    results = []
    for text in texts:
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
        if separable:
            word_tokens = [cache[w] if w in cache else cache.setdefault(w, runtime.tokenizer(w)) for _, _, w in words]
        else:
            word_tokens = [runtime.tokenizer(w) for _, _, w in words]
        counts = [len(t) for t in word_tokens]
        units = _units(words, counts, ngrams)
        if separable:
            tokens = [tok for toks in word_tokens for tok in toks]
            ends = np.cumsum(counts).tolist()
            spans = [(e - n, e) for e, n in zip(ends, counts)]
            probs = runtime.score_ids(_variant_ids(runtime, tokens, spans, units), batch_size=batch_size)
        else:
            variants = [text] + [_without(text, [words[w] for w in unit]) for unit in units]
            probs = runtime.score(variants, batch_size=batch_size)
        multi = bool(getattr(runtime, "multi_label", False))
        j = explained_label(runtime.labels, probs[0], label, multi)
        lo = log_odds(probs, j, multi)
        weights = lo[0] - lo[1:]
        other = (runtime.labels[1 - j] if len(runtime.labels) == 2 and not multi else f"not {runtime.labels[j]}")
        terms_all = []
        for unit, weight in zip(units, weights.tolist()):
            start, end = words[unit[0]][0], words[unit[-1]][1]
            terms_all.append(Term(start, end, text[start:end], float(weight), len(unit),
                                  runtime.labels[j] if weight >= 0 else other))
        word_terms = [t for t in terms_all if t.words == 1]
        results.append(Explanation(text, runtime.labels[j], float(probs[0, j]), word_terms,
                                   _select(terms_all, units, top)))
    return results


def _without(text: str, words: list[tuple[int, int, str]]) -> str:
    """``text`` with the given words (in order) cut out, a space left in their place."""
    parts, last = [], 0
    for start, end, _ in words:
        parts.append(text[last:start])
        last = end
    parts.append(text[last:])
    return " ".join(p for p in parts)


def _select(terms: list[Term], units: list[tuple[int, ...]], top: int | None) -> list[Term]:
    """Terms ranked by |weight| per word, no two sharing a word; the first ``top``."""
    order = sorted(range(len(terms)), key=lambda i: (-abs(terms[i].weight) / terms[i].words, terms[i].start))
    used: set[int] = set()
    chosen = []
    for i in order:
        if top is not None and len(chosen) >= top:
            break
        if used.isdisjoint(units[i]):
            used.update(units[i])
            chosen.append(terms[i])
    return chosen


# ---------------------------------------------------------------------------
# spaCy
# ---------------------------------------------------------------------------
def register_extensions() -> None:
    """``Span._.sentiment_weight`` (once per process)."""
    from spacy.tokens import Span

    if not Span.has_extension(WEIGHT_ATTR):
        Span.set_extension(WEIGHT_ATTR, default=None)


def annotate_doc(doc: Any, explanation: Explanation, key: str = SPANS_KEY) -> None:
    """Put ``explanation``'s terms in ``doc.spans[key]`` with their weights (``span._.sentiment_weight``)."""
    from spacy.tokens import SpanGroup

    register_extensions()
    spans = []
    for term in explanation.terms:
        span = doc.char_span(term.start, term.end, label=term.label, alignment_mode="expand")
        if span is not None:
            spans.append((span, term.weight))
    doc.spans[key] = SpanGroup(doc, name=key, spans=[s for s, _ in spans],
                               attrs={"label": explanation.label, "probability": explanation.probability})
    for span, weight in spans:
        span._.set(WEIGHT_ATTR, weight)


def explain_docs(runtime: Any, docs: Sequence[Any], *, top: int | None = DEFAULT_TOP, label: str | None = None,
                 batch_size: int = 256) -> list[Explanation]:
    """Explain spaCy ``Doc`` objects (their text, as :func:`explain_texts`) and annotate them."""
    explanations = explain_texts(runtime, [doc.text for doc in docs], label=label, top=top, batch_size=batch_size)
    for doc, explanation in zip(docs, explanations):
        annotate_doc(doc, explanation)
    return explanations


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------
_POS, _NEG = (22, 128, 61), (200, 40, 40)
_PAGE = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>\n'
         '<body style="margin: 0; padding: 24px; font-family: -apple-system, BlinkMacSystemFont, \'Segoe UI\', '
         'Helvetica, Arial, sans-serif; background: #fff; color: #222;">\n{body}\n</body></html>\n')


def _colour(weight: float, scale: float) -> str:
    rgb = _POS if weight >= 0 else _NEG
    alpha = 0.0 if scale <= 0 else min(1.0, abs(weight) / scale) * 0.55
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha:.3f})"


def render_explanation(explanation: Explanation) -> str:
    """One explanation as an HTML fragment: every word shaded by its weight, the top terms boxed."""
    e = explanation
    scale = max([abs(t.weight) for t in e.words] + [1e-12])
    starts = {t.start: t for t in e.terms}
    ends = {t.end: t for t in e.terms}
    out = ['<div class="explanation" style="line-height: 2.4; max-width: 900px; margin-bottom: 24px;">',
           f'<div style="font-size: 14px; color: #555;">P({html.escape(e.label)}) = {e.probability:.3f}; '
           f'green: towards {html.escape(e.label)}, red: away from it; boxed: the top {len(e.terms)} terms '
           f'(weight = change in log-odds when removed)</div>', '<div style="white-space: pre-wrap; font-size: 16px;">']
    last = 0
    for word in e.words:
        out.append(html.escape(e.text[last:word.start]))
        term = starts.get(word.start)
        if term is not None:
            border = "#16803d" if term.weight >= 0 else "#c82828"
            out.append(f'<mark title="{html.escape(term.text)}: {term.weight:+.3f}" style="background: transparent; '
                       f'border: 2px solid {border}; border-radius: 0.35em; padding: 0.1em 0.2em; margin: 0 0.1em;">')
        out.append(f'<span title="{word.weight:+.3f}" style="background: {_colour(word.weight, scale)}; '
                   f'border-radius: 0.25em; padding: 0.05em 0.1em;">{html.escape(word.text)}</span>')
        t = ends.get(word.end)
        if t is not None:
            out.append(f'<span style="font-size: 0.7em; font-weight: bold; margin-left: 0.4em; vertical-align: middle;">'
                       f'{t.weight:+.2f}</span></mark>')
        last = word.end
    out.append(html.escape(e.text[last:]))
    out.append("</div></div>")
    return "".join(out)


def render_html(explanations: Sequence[Explanation] | Explanation, page: bool = True, title: str = "explanation") -> str:
    """HTML of one or more explanations; ``page=False`` gives a fragment to embed."""
    if isinstance(explanations, Explanation):
        explanations = [explanations]
    body = "\n".join(render_explanation(e) for e in explanations)
    return _PAGE.format(title=html.escape(title), body=body) if page else body


__all__ = ["DEFAULT_TOP", "SPANS_KEY", "WEIGHT_ATTR", "Explanation", "Term", "annotate_doc", "explain_docs",
           "explain_texts", "register_extensions", "render_html"]
