"""Blitzer, Dredze & Pereira's multi-domain sentiment dataset, the balanced part (``--data multi-domain``).

Amazon product reviews in four domains, ``books/``, ``dvd/``, ``electronics/``, ``kitchen/``
(the authors' archive calls the last ``kitchen_&_housewares/``: both are read), each with
``positive.review`` (4 and 5 stars) and ``negative.review`` (1 and 2 stars), 1,000 reviews
each. A file is a sequence of ``<review>`` blocks holding ``<unique_id>``, ``<rating>``,
``<title>``, ``<review_text>`` and more, each tag on a line of its own. The project's copy
is well-formed XML (a declaration, a ``<reviews>`` root, ``&`` escaped); the authors' files
are pseudo-XML (no root, bare ``&`` and ``<`` in the text, HTML entities such as
``&#8217;``, Latin-1 bytes). One tolerant reader serves both: regular expressions over the
``<review>`` blocks and the known tags (never an XML parser), each value stripped and its
entities decoded with :func:`html.unescape` until none is left (the project's copy escaped
the authors' entities once more: ``&amp;#8217;``), so both copies give the same text. Bytes
that are not UTF-8 become U+FFFD, as they did in the project's copy.

A document's text is its title, a blank line, then its review text (just the review text
when the title is empty). Its ``fields``: ``id`` (the first ``<unique_id>``), ``title``,
``rating`` (a float), ``domain`` and ``polarity`` (POSITIVE / NEGATIVE, from the file).

Labels: POSITIVE / NEGATIVE from the file (``label_field = "label"``, the default), or with
``label_field = "rating"`` the four-class view, labels ``"1"``, ``"2"``, ``"4"``, ``"5"``,
ordered (``Corpus.ordered``), or with ``label_field = "domain+label"`` the multi-label view:
each review has two labels, its domain and its polarity (``("POSITIVE", "kitchen")``), for a
non-exclusive model (``Corpus.multi_label``; docs/multi-label.md). A rating that is not a number,
or not one the file's polarity allows, is an error naming the file, the review and the value.

The standard split, 1,600 train / 400 test per domain: the last fifth of each file (its
last 200 reviews) is the test set, recorded as fold 9 (the rest fold 0), the same in both
label views. A fixed rule anyone can reproduce from the files, and a fair one: a product's
reviews sit together in these files, so this keeps nearly every product's reviews on one
side of the split (a random split would test on products seen in training), while each
file's rating mix in its last 200 matches the file's (checked on the project's copy).
"""

from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path

from toolkit.core.errors import CorpusError
from toolkit.training.corpus import Document
from toolkit.training.datasets.source import NamedCorpus, corpus_dir, read_corpus_file

ENV = "TOOLKIT_MULTI_DOMAIN_DIR"
FOLDER = "multi_domain"
DOMAINS = ("books", "dvd", "electronics", "kitchen")
#: The folder names a domain may have (the authors' archive: kitchen_&_housewares).
DOMAIN_FOLDERS = {"books": ("books",), "dvd": ("dvd",), "electronics": ("electronics",),
                  "kitchen": ("kitchen", "kitchen_&_housewares")}
#: File -> polarity, in the order the documents of a domain are read.
FILES = {"negative.review": "NEGATIVE", "positive.review": "POSITIVE"}
#: The ratings each polarity's file holds.
RATINGS = {"NEGATIVE": (1.0, 2.0), "POSITIVE": (4.0, 5.0)}
RATING_LABELS = ("1", "2", "4", "5")
#: The label views: polarity, the four ratings, and domain + polarity (two labels per review, multi-label).
LABEL_FIELDS = ("label", "rating", "domain+label")
MULTI_LABEL_FIELD = "domain+label"
EXPECTED_PER_FILE = 1000
TEST_SHARE = 0.2  # the last fifth of each file
TEST_FOLD, TRAIN_FOLD = 9, 0
#: sha256 over ``[domain, polarity, rating, id, text]`` per document of all four domains, default label
#: view (:mod:`toolkit.training.datasets.digest`), from the project's copy.
CONTENT_SHA256 = "769555ef5a6abe3d2dff1d2bcfe92b20a23734e159f466a33b38e8d733afa7fb"

_BLOCK = re.compile(r"^<review>[ \t\r]*$(.*?)^</review>[ \t\r]*$", re.M | re.S)
_TAG = re.compile(r"^<([a-z_]+)>(.*?)</\1>[ \t\r]*$", re.M | re.S)
_REPLACED = "\ufffd"


def resolve_dir(path: str | os.PathLike) -> Path:
    """The folder holding the domain folders: ``path``, or its ``sorted_data_acl`` folder (the archive's)."""
    path = Path(path)
    if not (path / "books").is_dir() and (path / "sorted_data_acl").is_dir():
        return path / "sorted_data_acl"
    return path


def default_dir() -> Path:
    return resolve_dir(corpus_dir(ENV, FOLDER))


def domain_dir(root: Path, domain: str) -> Path:
    """``root/<domain>`` under whichever of its names exists (the first name when none does)."""
    names = DOMAIN_FOLDERS[domain]
    return next((root / n for n in names if (root / n).is_dir()), root / names[0])


def parse_domains(option: str | None) -> tuple[str, ...]:
    """``"kitchen,books"`` -> ``("kitchen", "books")``; None or empty: all four."""
    if not option:
        return DOMAINS
    chosen: list[str] = []
    for part in option.split(","):
        domain = part.strip().lower()
        if domain not in DOMAINS:
            raise CorpusError(f"multi-domain has no domain {part.strip()!r}; its domains are {', '.join(DOMAINS)} "
                              f"(e.g. --data multi-domain:kitchen or multi-domain:books,dvd)")
        if domain not in chosen:
            chosen.append(domain)
    return tuple(chosen)


def decode(data: bytes) -> tuple[str, int]:
    """``(text, replaced)``: the bytes as UTF-8, each byte that is not UTF-8 replaced by U+FFFD."""
    text = data.decode("utf-8", errors="replace")
    return text, text.count(_REPLACED) - data.count(_REPLACED.encode("utf-8"))


def unescape(value: str) -> str:
    """Entities decoded until none is left (at most a few rounds: the copies escape at most twice)."""
    for _ in range(4):
        decoded = html.unescape(value)
        if decoded == value:
            break
        value = decoded
    return value


def parse_reviews(text: str) -> list[dict[str, str]]:
    """The ``<review>`` blocks of a file's text: per block, each known tag's first value, stripped and
    unescaped. Anything outside the blocks (an XML declaration, a ``<reviews>`` root) is ignored."""
    reviews = []
    for block in _BLOCK.finditer(text):
        values: dict[str, str] = {}
        for tag in _TAG.finditer(block.group(1)):
            values.setdefault(tag.group(1), unescape(tag.group(2).strip()))
        reviews.append(values)
    return reviews


def _rating(value: str | None, polarity: str, where: str) -> float:
    if value is None:
        raise CorpusError(f"{where}: no <rating>")
    try:
        rating = float(value)
    except ValueError:
        rating = math.nan
    if not math.isfinite(rating):
        raise CorpusError(f"{where}: rating {value!r} is not a number")
    allowed = RATINGS[polarity]
    if rating not in allowed:
        raise CorpusError(f"{where}: rating {value!r} does not belong in a {polarity.lower()} file "
                          f"(expected {' or '.join(f'{r:g}' for r in allowed)} stars)")
    return rating


def read_file(path: Path, domain: str, polarity: str) -> tuple[list[Document], int]:
    """One ``.review`` file's documents (folds by the split rule) and how many bytes were not UTF-8."""
    data = read_corpus_file(path, "each multi-domain domain folder holds positive.review and negative.review "
                                  "(`toolkit data fetch multi-domain` downloads them)")
    text, replaced = decode(data)
    reviews = parse_reviews(text)
    if not reviews:
        raise CorpusError(f"{path} holds no <review> blocks")
    n_test = round(len(reviews) * TEST_SHARE)
    docs = []
    for i, review in enumerate(reviews, start=1):
        uid = review.get("unique_id") or f"{domain}/{path.name}#{i}"
        where = f"{path}, review {i} ({uid})"
        rating = _rating(review.get("rating"), polarity, where)
        if "review_text" not in review:
            raise CorpusError(f"{where}: no <review_text>")
        title = review.get("title", "")
        body = review["review_text"]
        fields = {"id": uid, "title": title, "rating": rating, "domain": domain, "polarity": polarity}
        fold = TEST_FOLD if i > len(reviews) - n_test else TRAIN_FOLD
        docs.append(Document(f"{title}\n\n{body}" if title else body, polarity,
                             source=f"{domain}/{path.name}#{i}", fold=fold, fields=fields))
    return docs, replaced


def rating_label(rating: float) -> str:
    return f"{rating:g}"


def read_multi_domain(folder: str | os.PathLike | None = None, domains: tuple[str, ...] = DOMAINS,
                      label_field: str = "label", name: str = "multi-domain") -> NamedCorpus:
    """The reviews of ``domains`` from ``folder`` (default: ``$TOOLKIT_MULTI_DOMAIN_DIR``, else
    ``../shared/data/multi_domain``), labelled by ``label_field`` ("label", "rating" or "domain+label")."""
    if label_field not in LABEL_FIELDS:
        raise CorpusError(f"{name}: --label-field (data.label_field) must be 'label' (POSITIVE / NEGATIVE) or "
                          f"'rating' (1, 2, 4, 5 stars), or 'domain+label' for the multi-label view (its domain and "
                          f"its polarity), got {label_field!r}")
    root = default_dir() if folder is None else resolve_dir(folder)
    if not root.is_dir():
        raise CorpusError(f"multi-domain corpus not found at {root}; set {ENV} to the folder holding "
                          f"{', '.join(DOMAINS)}, or download it with `toolkit data fetch multi-domain`")
    docs: list[Document] = []
    replaced = 0
    for domain in domains:
        where = domain_dir(root, domain)
        if not where.is_dir():
            raise CorpusError(f"{where} does not exist; the multi-domain corpus has one folder per domain "
                              f"({', '.join(DOMAINS)})")
        for file, polarity in FILES.items():
            file_docs, file_replaced = read_file(where / file, domain, polarity)
            docs.extend(file_docs)
            replaced += file_replaced
    if label_field == "rating":
        docs = [Document(d.text, rating_label(d.fields["rating"]), d.source, d.fold, d.fields) for d in docs]
    elif label_field == MULTI_LABEL_FIELD:
        docs = [Document(d.text, tuple(sorted((d.fields["domain"], d.label))), d.source, d.fold, d.fields)
                for d in docs]
    encoding = "utf-8" + (f" ({replaced} bytes that are not UTF-8 replaced by U+FFFD)" if replaced else "")
    rule = (f"the standard split: the last fifth of each file (200 of 1,000 reviews) is the test set (fold "
            f"{TEST_FOLD}), the rest trains (fold {TRAIN_FOLD})")
    return NamedCorpus(docs, name=name, ordered=label_field == "rating", multi_label=label_field == MULTI_LABEL_FIELD,
                       folder=str(root), encoding=encoding, split_rule=rule)


def digest_rows(corpus: NamedCorpus):
    """What the content digest covers: domain, polarity, rating, id and text of each document, in corpus order."""
    return ([d.fields["domain"], d.fields["polarity"], d.fields["rating"], d.fields["id"], d.text] for d in corpus)
