"""spaCy ``.spacy`` files (``DocBin``) as labelled documents: the text and ``doc.cats`` of each doc.

This is the format spaCy trains from (``spacy train`` reads ``train.spacy`` / ``dev.spacy``). The file
is read with spaCy's own :class:`spacy.tokens.DocBin` (``from_disk``, then ``get_docs`` with the
vocabulary of a blank multi-language pipeline: a DocBin carries its own strings). Labels come from
``doc.cats``:

* **exclusive** (``textcat`` data) when every doc has exactly one category at 1.0 and every other at
  0.0: the label is that category;
* **non-exclusive** (``textcat_multilabel`` data) otherwise: the label of a doc is the sorted tuple of
  its categories scored >= 0.5 (possibly empty), and the label set is every category any doc names.

A doc without categories is an error naming the file and the doc's index (0-based, in file order).
spaCy is imported inside :func:`read_docbin` only. This module knows nothing of corpora; the corpus
loader (:func:`toolkit.training.corpus.load_spacy`) makes documents of what it returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from toolkit.core.errors import CorpusError

#: A non-exclusive doc has a label when its score reaches this (spaCy's ``textcat_multilabel`` threshold).
POSITIVE_SCORE = 0.5


@dataclass(frozen=True)
class DocBinData:
    """What a ``.spacy`` file holds: per doc its text and label, and the categories it names."""

    texts: list[str]
    #: per doc: a category name (exclusive) or the sorted tuple of its positive categories (non-exclusive)
    labels: list[str | tuple[str, ...]]
    categories: list[str]  # every category any doc names, sorted
    exclusive: bool


def read_docbin(path: str | os.PathLike) -> DocBinData:
    """Texts and labels of the docs in the ``.spacy`` file ``path`` (see the module)."""
    path = Path(path)
    try:
        import spacy
        from spacy.tokens import DocBin
    except ImportError as exc:
        raise CorpusError(f"{path}: reading .spacy files needs spaCy: pip install spacy") from exc
    try:
        docs = list(DocBin().from_disk(path).get_docs(spacy.blank("xx").vocab))
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # not a DocBin (msgpack / zlib errors, wrong content)
        raise CorpusError(f"{path} is not a readable spaCy DocBin file ({type(exc).__name__}: {exc})") from exc
    if not docs:
        raise CorpusError(f"{path} holds no documents")
    cats = []
    for i, doc in enumerate(docs):
        if not doc.cats:
            raise CorpusError(f"{path}, doc {i}: no categories (doc.cats is empty); every doc needs its labels "
                              f"in doc.cats, as spaCy's textcat trains from")
        cats.append({str(name): float(score) for name, score in doc.cats.items()})
    categories = sorted({name for c in cats for name in c})
    exclusive = all(sum(score == 1.0 for score in c.values()) == 1 and
                    all(score in (0.0, 1.0) for score in c.values()) for c in cats)
    if exclusive:
        labels: list[str | tuple[str, ...]] = [next(name for name, score in c.items() if score == 1.0) for c in cats]
    else:
        labels = [tuple(sorted(name for name, score in c.items() if score >= POSITIVE_SCORE)) for c in cats]
    return DocBinData([doc.text for doc in docs], labels, categories, exclusive)


__all__ = ["DocBinData", "POSITIVE_SCORE", "read_docbin"]
