"""Pang & Lee's sentence polarity dataset v1.0, "MR" (``--data mr``).

``rt-polarity.pos`` and ``rt-polarity.neg``: 5,331 lower-cased, tokenised snippets of
movie reviews each, one per line. The project's copy is UTF-8; the authors' archive
(``rt-polaritydata.tar.gz``) is Windows-1252. Each file is decoded as UTF-8 (strictly),
else as cp1252; :attr:`NamedCorpus.encoding` says which. A line is one document (its
surrounding white space stripped; blank lines skipped); labels POSITIVE / NEGATIVE as
the polarity corpus's.

The corpus has no predefined split; the literature reports 10-fold cross-validation.
Every document gets a fold 0-9 from the project's one splitter
(:func:`toolkit.training.corpus.stratified_folds`, seeded with :data:`FOLD_SEED`, over the
documents in file order: rt-polarity.neg then rt-polarity.pos), so ``toolkit train --cv 10``
is the literature's protocol and ``toolkit train --data mr`` tests on fold 9
(``data.test_fold``): 1,066 snippets.
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.core.errors import CorpusEncodingError, CorpusError
from toolkit.training.corpus import Document, stratified_folds
from toolkit.training.datasets.source import NamedCorpus, corpus_dir, read_corpus_file

ENV = "TOOLKIT_MR_DIR"
FOLDER = "rt-polaritydata"
#: Label -> file, in the order the documents are read.
FILES = {"NEGATIVE": "rt-polarity.neg", "POSITIVE": "rt-polarity.pos"}
EXPECTED_PER_LABEL = 5331
FOLDS = 10
FOLD_SEED = 0
ENCODINGS = ("utf-8", "cp1252")
#: sha256 over ``[label, text]`` per document (:mod:`toolkit.training.datasets.digest`), from the project's copy.
CONTENT_SHA256 = "9f6f59536d7e964fdd9b20908e7c0ae4b4964a4acf8a805d7ed70ee166a8f4a0"


def resolve_dir(path: str | os.PathLike) -> Path:
    """The folder holding ``rt-polarity.pos``/``.neg``: ``path`` itself, or its ``rt-polaritydata`` folder."""
    path = Path(path)
    if not (path / FILES["POSITIVE"]).exists() and (path / FOLDER).is_dir():
        return path / FOLDER
    return path


def default_dir() -> Path:
    return resolve_dir(corpus_dir(ENV, FOLDER))


def decode(data: bytes, path: Path) -> tuple[str, str]:
    """``(text, encoding)``: UTF-8 if the bytes are valid UTF-8, else Windows-1252."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            error = exc
    raise CorpusEncodingError(f"{path} is neither UTF-8 nor Windows-1252 text (byte {error.start}: "
                              f"{data[error.start:error.start + 1]!r})")


def read_mr(folder: str | os.PathLike | None = None, name: str = "mr") -> NamedCorpus:
    """The MR corpus from ``folder`` (default: ``$TOOLKIT_MR_DIR``, else ``../shared/data/rt-polaritydata``)."""
    root = default_dir() if folder is None else resolve_dir(folder)
    if not root.is_dir():
        raise CorpusError(f"MR corpus not found at {root}; set {ENV} to the folder holding rt-polarity.pos and "
                          f"rt-polarity.neg, or download it with `toolkit data fetch mr`")
    docs: list[Document] = []
    encodings: dict[str, str] = {}
    for label, file in FILES.items():
        path = root / file
        data = read_corpus_file(path, "the MR corpus is rt-polarity.pos and rt-polarity.neg (`toolkit data fetch "
                                      "mr` downloads them)")
        text, encodings[file] = decode(data, path)
        for lineno, line in enumerate(text.split("\n"), start=1):
            line = line.strip()
            if line:
                docs.append(Document(line, label, source=f"{file}:{lineno}"))
        if not any(d.label == label for d in docs):
            raise CorpusError(f"{path} holds no snippets (one per line expected)")
    labels = sorted(FILES)
    index = {label: i for i, label in enumerate(labels)}
    folds = stratified_folds([index[d.label] for d in docs], FOLDS, FOLD_SEED)
    docs = [Document(d.text, d.label, d.source, int(f)) for d, f in zip(docs, folds)]
    used = set(encodings.values())
    encoding = used.pop() if len(used) == 1 else ", ".join(f"{f}: {e}" for f, e in encodings.items())
    return NamedCorpus(docs, name=name, labels=labels, folder=str(root), encoding=encoding,
                       split_rule=f"no predefined split: {FOLDS} seeded stratified folds (seed {FOLD_SEED}); the test set "
                                  f"is fold 9 (data.test_fold)")


def digest_rows(corpus: NamedCorpus):
    """What the content digest covers: each document's label and text, in corpus order."""
    return ([d.label, d.text] for d in corpus)
