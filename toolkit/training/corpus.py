"""Labelled corpora: polarity folds, label-per-folder trees, CSV, JSONL and Parquet files, spaCy ``.spacy`` files.

Every loader returns a :class:`Corpus`: a list of :class:`Document` (text, label,
source, fold, split). Polarity-style trees (``pos/``, ``neg/``, files ``cvNNN_*.txt``)
carry their folds (``cv000``-``cv099`` = fold 0, ...); their standard split tests
on fold 9 (``cv9*``). Records (JSONL, CSV/TSV, Parquet) may carry their split in a
``split`` field (train / dev / test; validation and valid mean dev) or their fold in
a ``fold`` field (an integer >= 0); which documents train, validate and test is
decided by :mod:`toolkit.training.splits`. Corpora without either get a seeded,
stratified split.

Where the polarity corpus lives: the ``--data`` option, else the environment
variable ``TOOLKIT_POLARITY_DIR``, else ``../shared/data/review_polarity`` next
to the repository root.

This module reads files only (stdlib + numpy); it imports no TensorFlow.
"""

from __future__ import annotations

import os
import pkgutil
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from toolkit.core.errors import CorpusEncodingError, CorpusError
from toolkit.core.options import check_int
from toolkit.core.records import iter_records
from toolkit.core.records import text_field as text_field_value
from toolkit.training.docbin import read_docbin
from toolkit.training.metrics import order_labels
from toolkit.training.streaming import parquet_records

POLARITY_ENV = "TOOLKIT_POLARITY_DIR"
#: The polarity corpus's folder names -> the labels models and ``doc.cats`` use.
POLARITY_LABELS = {"neg": "NEGATIVE", "pos": "POSITIVE"}
#: A ``--data`` value that names a corpus rather than a path (no dot, no slash): ``mr``, ``multi-domain:kitchen``.
CORPUS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(:[^./\\]*)?")
#: The named corpora's loader, resolved when a name is loaded (its readers build on this module, so it is
#: named here, not imported).
NAMED_CORPORA = "toolkit.training.datasets.named:load_named"
_CV_NAME = re.compile(r"^cv(\d{3})_\d+\.txt$")
#: A multi-label corpus's label sets with at least this many documents are strata of their own
#: (:attr:`Corpus.strata`); rarer sets share one, so a 10% cut stays about 10% of each.
MIN_STRATUM = 10
TEXT_SUFFIXES = {".txt"}


@dataclass(frozen=True)
class Document:
    text: str
    #: One label name; or, for non-exclusive (multi-label) data, the sorted tuple of the document's label
    #: names (possibly empty): a JSON list in a JSONL/Parquet label field, a non-exclusive ``.spacy`` doc.
    label: str | tuple[str, ...]
    source: str = ""  # file name, or file:line for CSV/JSONL
    fold: int | None = None
    #: What else the corpus knows of the document (title, rating, domain, id): never used as a feature.
    fields: dict = field(default_factory=dict, compare=False)
    #: The split the corpus puts the document in ("train", "dev" or "test"; :data:`SPLIT_VALUES`), or None.
    split: str | None = None


@dataclass
class Corpus:
    documents: list[Document]
    name: str = ""
    labels: list[str] = field(default_factory=list)
    #: The labels are numbers with an order (star ratings): sorted by value, and the metrics add the
    #: ordinal view (:func:`toolkit.training.metrics.ordinal_metrics`).
    ordered: bool = False
    #: Non-exclusive labels: every document's label is a tuple of label names (:func:`resolve_label_mode`
    #: decides; a corpus as loaded may hold tuples before that).
    multi_label: bool = False

    def __post_init__(self) -> None:
        if not self.labels:
            found = {name for d in self.documents for name in label_names(d.label)}
            self.labels = order_labels(found) if self.ordered else sorted(found)

    def __len__(self) -> int:
        return len(self.documents)

    def __iter__(self) -> Iterator[Document]:
        return iter(self.documents)

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.documents]

    @property
    def label_ids(self) -> list[int]:
        """The index of each document's label in :attr:`labels` (exclusive labels only: a multi-label
        corpus has :attr:`label_matrix`)."""
        if self.multi_label:
            raise CorpusError(f"{self.name or 'corpus'}: a multi-label corpus has no single label per document; "
                              f"use its label_matrix")
        index = {label: i for i, label in enumerate(self.labels)}
        return [index[d.label] for d in self.documents]

    @property
    def label_matrix(self) -> np.ndarray:
        """int8 [documents, labels]: 1 where the document has the label (one 1 per row when exclusive)."""
        index = {label: i for i, label in enumerate(self.labels)}
        out = np.zeros((len(self.documents), len(self.labels)), dtype=np.int8)
        for row, doc in enumerate(self.documents):
            out[row, [index[name] for name in label_names(doc.label)]] = 1
        return out

    @property
    def strata(self) -> list[int]:
        """A class per document for the seeded stratified splits (:func:`stratified_holdout`,
        :func:`stratified_folds`): its label index; for multi-label documents their label set, each set
        with at least :data:`MIN_STRATUM` documents a class of its own and the rarer sets one class together."""
        if not any(isinstance(d.label, tuple) for d in self.documents):
            return self.label_ids
        sets = Counter(label_names(d.label) for d in self.documents)
        common = sorted(key for key, n in sets.items() if n >= MIN_STRATUM)
        index = {key: i for i, key in enumerate(common)}
        return [index.get(label_names(d.label), len(common)) for d in self.documents]

    @property
    def has_folds(self) -> bool:
        return bool(self.documents) and all(d.fold is not None for d in self.documents)

    def subset(self, docs: Sequence[Document], name: str) -> "Corpus":
        return Corpus(list(docs), name=name, labels=list(self.labels), ordered=self.ordered,
                      multi_label=self.multi_label)

    def label_counts(self) -> dict[str, int]:
        """Documents per label (for multi-label documents: per label name they hold)."""
        return dict(Counter(name for d in self.documents for name in label_names(d.label)))


def label_names(label: str | tuple[str, ...]) -> tuple[str, ...]:
    """The label names of one document: its label, or each of a non-exclusive document's labels."""
    return tuple(label) if isinstance(label, tuple) else (label,)


def doc_location(corpus_name: str, doc: Document) -> str:
    """Where a document is, for messages: ``<file>, line 12`` (JSONL/CSV), ``<file>, row 3`` (Parquet),
    ``<file>, doc 0`` (``.spacy``) or ``<folder>: pos/cv000_29416.txt``."""
    file, sep, rest = doc.source.rpartition(":")
    if sep and corpus_name and Path(corpus_name).name == file:
        return f"{corpus_name}, {'line ' + rest if rest.isdigit() else rest}"
    return f"{corpus_name}: {doc.source}" if doc.source else corpus_name


# --------------------------------------------------------------------------
# Locating the polarity corpus
# --------------------------------------------------------------------------
def repo_root() -> Path:
    """The repository root (the folder holding ``toolkit/``): ``../shared/data`` is looked for beside it."""
    return Path(__file__).resolve().parents[2]


def default_polarity_dir() -> Path:
    """The ``txt_sentoken`` folder: ``$TOOLKIT_POLARITY_DIR``, else ``../shared/data``."""
    env = os.environ.get(POLARITY_ENV)
    base = Path(env) if env else repo_root().parent / "shared" / "data" / "review_polarity"
    return resolve_polarity_dir(base)


def resolve_polarity_dir(path: str | os.PathLike) -> Path:
    """Accept the archive root (holding ``txt_sentoken``) or ``txt_sentoken`` itself."""
    path = Path(path)
    if (path / "txt_sentoken").is_dir():
        return path / "txt_sentoken"
    if (path / "review_polarity" / "txt_sentoken").is_dir():
        return path / "review_polarity" / "txt_sentoken"
    return path


# --------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------
def _read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise CorpusEncodingError(
            f"{path} is not valid {encoding} (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}); "
            f"pass the right encoding with --encoding (for example --encoding latin-1)"
        ) from exc
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from exc


def load_folders(path: str | os.PathLike, encoding: str = "utf-8") -> Corpus:
    """One sub-folder per label, one ``.txt`` document per file.

    When every file is named ``cvNNN_*.txt`` (the polarity corpus), each document
    gets its fold ``NNN // 100``.
    """
    root = resolve_polarity_dir(path)
    if not root.exists():
        raise CorpusError(f"corpus folder {root} does not exist")
    if not root.is_dir():
        raise CorpusError(f"{root} is not a folder; expected one sub-folder per label")
    label_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not label_dirs:
        raise CorpusError(f"corpus folder {root} has no label sub-folders (expected e.g. {root}/pos and {root}/neg)")
    docs: list[Document] = []
    for label_dir in label_dirs:
        files = sorted(p for p in label_dir.iterdir() if p.is_file() and p.suffix in TEXT_SUFFIXES)
        for f in files:
            docs.append(Document(_read_text(f, encoding), label_dir.name, source=f"{label_dir.name}/{f.name}"))
    if not docs:
        raise CorpusError(f"corpus folder {root} holds no .txt files in {', '.join(d.name for d in label_dirs)}")
    names = [Path(d.source).name for d in docs]
    matches = [_CV_NAME.match(n) for n in names]
    if all(matches):
        # Polarity-style tree: folds from the cvNNN names, pos/neg -> POSITIVE/NEGATIVE.
        rename = POLARITY_LABELS if {d.name for d in label_dirs} == set(POLARITY_LABELS) else {}
        docs = [
            Document(d.text, rename.get(d.label, d.label), d.source, int(m.group(1)) // 100)
            for d, m in zip(docs, matches)
        ]
    return Corpus(docs, name=str(root))


def load_polarity(path: str | os.PathLike | None = None, encoding: str = "utf-8") -> Corpus:
    """The Pang & Lee polarity corpus with its 10 folds."""
    root = resolve_polarity_dir(path) if path is not None else default_polarity_dir()
    if not root.exists():
        raise CorpusError(
            f"polarity corpus not found at {root}; pass --data, set {POLARITY_ENV}, "
            f"or download it with `toolkit data fetch polarity`"
        )
    corpus = load_folders(root, encoding=encoding)
    if not corpus.has_folds:
        raise CorpusError(f"{root} is not a polarity-style corpus: file names must look like cv123_4567.txt")
    return corpus


_FIELD_HINT = "--text-field / --label-field"
#: The values a split field may hold (compared lower-cased, spaces stripped) -> the split they name.
SPLIT_VALUES = {"train": "train", "dev": "dev", "validation": "dev", "valid": "dev", "test": "test"}


def split_value(value: object, where: str, field_name: str) -> str:
    """``"train"``, ``"dev"`` or ``"test"`` for a split field's value; anything else is an error naming
    ``where`` (the file and line), the field and the value."""
    split = SPLIT_VALUES.get(value.strip().lower()) if isinstance(value, str) else None
    if split is None:
        raise CorpusError(f"{where}: unknown split {value!r} in field {field_name!r}; use train, dev (or "
                          f"validation, valid) or test (data.split_field names the field)")
    return split


def fold_value(value: object, where: str, field_name: str) -> int:
    """A fold field's value as an integer >= 0 (CSV cells: digits); anything else is an error naming
    ``where``, the field and the value."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return check_int(value, field_name, minimum=0, subject=f"{where}: field {field_name!r}",
                     hint="data.fold_field names the field", error=CorpusError)


def _records_corpus(path: Path, records: Iterable[tuple[int, dict]], text_field: str, label_field: str,
                    split_field: str, fold_field: str, unit: str = "line") -> Corpus:
    """A corpus of ``(number, record)`` pairs read from ``path`` (``unit``: what the number counts).

    A split or fold field decides the document's split when the file's first record has it; then every
    record must have it (a record without it is an error naming its line)."""
    docs = []
    has_field: dict[str, bool] = {}
    for number, record in records:
        where = f"{path}, {unit} {number}"
        text = text_field_value(record, text_field, path, number, error=CorpusError, none_as_empty=True)
        label = record[label_field]
        if isinstance(label, (list, tuple)):  # a JSON list (a Parquet list column): non-exclusive labels
            label = label_list(label, where, label_field)
        elif label is None or (isinstance(label, str) and not label.strip()):
            raise CorpusError(f"{where}: empty label in field {label_field!r}")
        else:
            label = str(label).strip()
        extra = {}
        for name, read in ((split_field, split_value), (fold_field, fold_value)):
            present = has_field.setdefault(name, name in record)
            if present != (name in record):
                raise CorpusError(f"{where}: {'no' if present else 'a'} field {name!r}, unlike the first record; "
                                  f"give every record a {name!r} field or none")
            if present:
                extra[name] = read(record[name], where, name)
        source = f"{path.name}:{number}" if unit == "line" else f"{path.name}:{unit} {number}"
        docs.append(Document(text, label, source=source, fold=extra.get(fold_field), split=extra.get(split_field)))
    if not docs:
        raise CorpusError(f"{path} holds no documents")
    return Corpus(docs, name=str(path))


def label_list(values: Sequence[object], where: str, field_name: str) -> tuple[str, ...]:
    """A list label (``["kitchen", "POSITIVE"]``) as the sorted tuple of its names, duplicates dropped; an
    empty list is a document with no label. An item that is not a non-empty string (or a number) is an
    error naming ``where``, the field and the item."""
    names = set()
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)) or not str(item).strip():
            raise CorpusError(f"{where}: label list in field {field_name!r} holds {item!r}; each item must be a "
                              f"label name (a non-empty string)")
        names.add(str(item).strip())
    return tuple(sorted(names))


def _load_records(path: Path, text_field: str, label_field: str, encoding: str, allowed: tuple[str, ...],
                  split_field: str = "split", fold_field: str = "fold") -> Corpus:
    """A corpus from a JSONL or CSV/TSV file (streamed by :func:`toolkit.core.records.iter_records`)."""
    records = iter_records(path, (text_field, label_field), encoding=encoding, error=CorpusError,
                           encoding_error=CorpusEncodingError, field_hint=_FIELD_HINT, allowed=allowed)
    return _records_corpus(path, records, text_field, label_field, split_field, fold_field)


def load_jsonl(path: str | os.PathLike, text_field: str = "text", label_field: str = "label",
               encoding: str = "utf-8", *, split_field: str = "split", fold_field: str = "fold") -> Corpus:
    """One JSON object per line with a text and a label field; blank lines skipped."""
    return _load_records(Path(path), text_field, label_field, encoding, ("jsonl",), split_field, fold_field)


def load_csv(path: str | os.PathLike, text_field: str = "text", label_field: str = "label",
             encoding: str = "utf-8", *, split_field: str = "split", fold_field: str = "fold") -> Corpus:
    """A CSV (or TSV, by the ``.tsv`` suffix) file with a header row."""
    return _load_records(Path(path), text_field, label_field, encoding, ("csv", "tsv"), split_field, fold_field)


def load_parquet(path: str | os.PathLike, text_field: str = "text", label_field: str = "label", *,
                 split_field: str = "split", fold_field: str = "fold") -> Corpus:
    """A Parquet file (``.parquet``/``.pq``), read a record batch at a time by the streaming reader
    (:func:`toolkit.training.streaming.parquet_records`); its rows are counted from 1 in messages."""
    path = Path(path)
    records = parquet_records(path, text_field, label_field, optional=(split_field, fold_field))
    return _records_corpus(path, records, text_field, label_field, split_field, fold_field, unit="row")


def load_spacy(path: str | os.PathLike) -> Corpus:
    """A spaCy ``.spacy`` (DocBin) file: text = ``doc.text``, labels from ``doc.cats``
    (:func:`toolkit.training.docbin.read_docbin`: exclusive cats give one label per document, others
    a sorted tuple of the labels scored >= 0.5, with every category named as the corpus's labels)."""
    path = Path(path)
    data = read_docbin(path)
    docs = [Document(text, label, source=f"{path.name}:doc {i}") for i, (text, label) in
            enumerate(zip(data.texts, data.labels))]
    return Corpus(docs, name=str(path), labels=[] if data.exclusive else list(data.categories))


def load_corpus(path: str | os.PathLike | None = None, *, text_field: str = "text", label_field: str = "label",
                encoding: str = "utf-8", split_field: str = "split", fold_field: str = "fold") -> Corpus:
    """Load any supported corpus: a folder tree, ``.jsonl``/``.json``, ``.csv``/``.tsv``,
    ``.parquet``/``.pq``, ``.spacy``.

    ``None`` means the polarity corpus in its default place; a name that is not an existing path (``polarity``,
    ``mr``, ``multi-domain``, ``multi-domain:kitchen``) a named corpus (:mod:`toolkit.training.datasets.named`;
    ``label_field = "rating"``: multi-domain's four-class view). ``split_field`` / ``fold_field``: the
    record fields that put a document in a split or a fold (read when the records have them).
    """
    if path is None:
        return load_polarity(None, encoding=encoding)
    p = Path(path)
    if not p.exists() and CORPUS_NAME.fullmatch(str(path)):  # a named corpus (a path of that name wins)
        return pkgutil.resolve_name(NAMED_CORPORA)(str(path), label_field=label_field, encoding=encoding)
    if p.is_dir():
        return load_folders(p, encoding=encoding)
    if not p.exists():
        raise CorpusError(f"corpus {p} does not exist")
    suffix = p.suffix.lower()
    fields = {"split_field": split_field, "fold_field": fold_field}
    if suffix in (".jsonl", ".ndjson", ".json"):
        return load_jsonl(p, text_field, label_field, encoding, **fields)
    if suffix in (".csv", ".tsv"):
        return load_csv(p, text_field, label_field, encoding, **fields)
    if suffix in (".parquet", ".pq"):
        return load_parquet(p, text_field, label_field, **fields)
    if suffix == ".spacy":
        return load_spacy(p)
    raise CorpusError(f"cannot tell the format of {p}: use a folder, .jsonl, .csv, .parquet or .spacy")


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------
def _shuffled_per_label(labels: Sequence[int], seed: int) -> list[np.ndarray]:
    """The indices of each label (labels in ascending order), each in a seeded random order: the one
    random draw behind every split below (numpy's ``default_rng(seed)``, one shuffle per label)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        out.append(idx)
    return out


def stratified_folds(labels: Sequence[int], k: int, seed: int) -> np.ndarray:
    """A fold 0..k-1 for each document, dealt round robin within each label (the next label continuing
    where the last stopped), so every fold gets its share of each label; seeded."""
    folds = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for idx in _shuffled_per_label(labels, seed):
        folds[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return folds


def stratified_holdout(labels: Sequence[int], share: float, seed: int, *,
                       keep_one_per_label: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)``, each ascending: ``round(n * share)`` of each label's ``n``
    documents held out, seeded; at least one when ``share > 0`` and ``n > 1``, none of a label with one
    document, and with ``keep_one_per_label`` at most ``n - 1`` (every label keeps a document)."""
    held = []
    for idx in _shuffled_per_label(labels, seed):
        n = len(idx)
        count = 0
        if share > 0 and n > 1:
            count = max(1, int(round(n * share)))
            if keep_one_per_label:
                count = min(count, n - 1)
        held.extend(idx[:count].tolist())
    held_idx = np.array(sorted(held), dtype=np.int64)
    return np.setdiff1d(np.arange(len(labels)), held_idx), held_idx


def train_test_split(corpus: Corpus, test_share: float = 0.1, seed: int = 0,
                     test_fold: int = 9) -> tuple[Corpus, Corpus]:
    """The predefined split when the corpus has folds (``test_fold`` = test),
    else a seeded, stratified random split with ``test_share`` of each label (:func:`stratified_holdout`;
    both parts in corpus order)."""
    if corpus.has_folds:
        train = [d for d in corpus if d.fold != test_fold]
        test = [d for d in corpus if d.fold == test_fold]
        if not test:
            raise CorpusError(f"{corpus.name}: no documents in test fold {test_fold}")
        if not train:
            raise CorpusError(f"{corpus.name}: no training documents: every document is in test fold {test_fold}")
        return corpus.subset(train, "train"), corpus.subset(test, "test")
    if not 0.0 < test_share < 1.0:
        raise CorpusError(f"test share must be between 0 and 1, got {test_share!r}")
    train_idx, test_idx = stratified_holdout(corpus.strata, test_share, seed, keep_one_per_label=False)
    docs = corpus.documents
    train, test = [docs[i] for i in train_idx], [docs[i] for i in test_idx]
    if not test:
        raise CorpusError(f"{corpus.name}: too few documents for a test split of {test_share:.0%}")
    if not train:
        raise CorpusError(f"{corpus.name}: no training documents: a test share of {test_share:.0%} takes all "
                          f"{len(corpus)} documents; lower --test-share (data.test_share)")
    missing = sorted(set(corpus.label_counts()) - set(corpus.subset(train, "train").label_counts()))
    if missing:
        raise CorpusError(f"{corpus.name}: no training documents of label {', '.join(map(repr, missing))}: a test "
                          f"share of {test_share:.0%} takes all of them; lower --test-share (data.test_share) "
                          f"or add documents")
    return corpus.subset(train, "train"), corpus.subset(test, "test")


def k_folds(corpus: Corpus, k: int = 10, seed: int = 0) -> list[tuple[Corpus, Corpus]]:
    """(train, test) pairs: the corpus's own folds when it has them, else k stratified random folds
    (:func:`stratified_folds`)."""
    if k < 2:
        raise CorpusError(f"cross-validation needs k >= 2, got {k}")
    if corpus.has_folds:
        folds = sorted({d.fold for d in corpus})
        if len(folds) != k:
            raise CorpusError(f"{corpus.name} has {len(folds)} predefined folds, not {k}")
        assign = [d.fold for d in corpus]
    else:
        assign = stratified_folds(corpus.strata, k, seed).tolist()
        folds = list(range(k))
    pairs = []
    for f in folds:
        test = [d for d, a in zip(corpus.documents, assign) if a == f]
        train = [d for d, a in zip(corpus.documents, assign) if a != f]
        pairs.append((corpus.subset(train, f"train-{f}"), corpus.subset(test, f"fold-{f}")))
    return pairs


def require_labels(corpus: Corpus, minimum: int = 2) -> None:
    if len(corpus.labels) < minimum:
        raise CorpusError(
            f"{corpus.name or 'corpus'} has {len(corpus.labels)} label(s) ({', '.join(corpus.labels) or 'none'}); "
            f"a classifier needs at least {minimum}"
        )


def resolve_label_mode(corpus: Corpus, multi_label: bool | None, label_field: str = "label") -> Corpus:
    """``corpus`` with its label mode decided (``data.multi_label``, ``--multi-label``):

    * ``None`` (automatic): multi-label when some document has several labels or none (a list label
      with other than one name, a non-exclusive ``.spacy`` doc), else exclusive;
    * ``True``: multi-label; every label becomes a tuple (a plain label ``"x"`` is ``("x",)``);
    * ``False``: exclusive; a list label of one name is that name, any other is an error naming the
      document's file and line (or doc) and ``label_field``.

    A multi-label corpus keeps every label name the loader found (a ``.spacy`` file's categories);
    ordered (rating) labels cannot be multi-label.
    """
    several = next((d for d in corpus if isinstance(d.label, tuple) and len(d.label) != 1), None)
    if multi_label is None:
        multi_label = corpus.multi_label or several is not None
    if multi_label:
        if corpus.ordered:
            raise CorpusError(f"{corpus.name or 'corpus'}: ordered labels (ratings, data.ordered) are exclusive; "
                              f"a multi-label run (data.multi_label, --multi-label) cannot order them")
        docs = [d if isinstance(d.label, tuple) else replace(d, label=(d.label,)) for d in corpus]
        return Corpus(docs, name=corpus.name, labels=list(corpus.labels), multi_label=True)
    if several is not None:
        raise CorpusError(
            f"{doc_location(corpus.name, several)}: {len(several.label)} labels {list(several.label)} in field "
            f"{label_field!r}, but the run is exclusive (data.multi_label = false, --no-multi-label): each "
            f"document needs exactly one label; train with --multi-label (or without either: chosen from the data)")
    if not any(isinstance(d.label, tuple) for d in corpus) and not corpus.multi_label:
        return corpus
    docs = [replace(d, label=d.label[0]) if isinstance(d.label, tuple) else d for d in corpus]
    return Corpus(docs, name=corpus.name, ordered=corpus.ordered)
