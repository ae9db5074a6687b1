"""Pang & Lee's movie review polarity dataset v2.0 as a named corpus (``--data polarity``, the default).

Its reader is the folder-tree loader (:func:`toolkit.training.corpus.load_polarity`: ``pos/``,
``neg/``, files ``cvNNN_*.txt``, folds from the names, ``cv9*`` = test), which
``load_corpus(None)`` and much else use directly; this module gives it the named corpora's
face: the folder it was read from, its split rule, and what its content digest covers.
"""

from __future__ import annotations

import os

from toolkit.training.corpus import POLARITY_ENV, default_polarity_dir, load_polarity, resolve_polarity_dir
from toolkit.training.datasets.source import NamedCorpus

ENV = POLARITY_ENV
FOLDER = "review_polarity"
#: sha256 over ``[label, source, text]`` per document (source: ``neg/cv000_29416.txt``), in corpus order
#: (:mod:`toolkit.training.datasets.digest`), from the project's copy.
CONTENT_SHA256 = "ce22f72cad5a66fbe86e017e2ad358b5131fcbd8eadccf3432fced41b1d339ca"


def read_polarity(folder: str | os.PathLike | None = None, encoding: str = "utf-8",
                  name: str = "polarity") -> NamedCorpus:
    """The polarity corpus from ``folder`` (default: ``$TOOLKIT_POLARITY_DIR``, else ``../shared/data``)."""
    root = default_polarity_dir() if folder is None else resolve_polarity_dir(folder)
    corpus = load_polarity(root, encoding=encoding)
    return NamedCorpus(corpus.documents, name=name, labels=corpus.labels, folder=str(root), encoding=encoding,
                       split_rule="10 folds from the file names (cv0* = fold 0, ..., cv9* = fold 9); the test set is "
                                  "fold 9 (data.test_fold)")


def digest_rows(corpus: NamedCorpus):
    """What the content digest covers: each document's label, file and text, in corpus order."""
    return ([d.label, d.source, d.text] for d in corpus)
