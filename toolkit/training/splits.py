"""Which documents train, which are held out for validation (dev) and which test.

The test set, first rule that applies:

1. ``data.test_path`` (``--test-data``): every document of that file; nothing is cut out of
   ``data.path`` (``--data``), all of it trains.
2. A split field in ``data.path``'s records (``data.split_field``, default ``split``): the documents
   marked ``test``.
3. Folds (the polarity corpus's ``cvNNN`` names, or a fold field, ``data.fold_field``): fold
   ``data.test_fold``.
4. Otherwise ``data.test_share`` of each label, cut out of ``data.path`` (seeded by ``data.split_seed``).

The dev set: ``data.dev_path`` (``--dev-data``), else the documents a split field marks ``dev``, else
none. With a dev set the training loop picks the best epoch and stops early on it (instead of cutting
``training.validation_share`` out of the training documents) and the calibration is fitted on its
predictions (instead of the validation cut or the out-of-fold fits); see :func:`data_record`.

Labels: a test or dev document with a label the training documents do not have is an error naming
its file, line and field; a training label that the test (or dev) set lacks is a warning (its
recall cannot be measured) and is listed in the ``data`` record of ``metrics.json``. Labels may be
strings or, for non-exclusive (multi-label) documents, tuples of strings: each name is checked.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from toolkit.core.errors import ConfigError, CorpusError
from toolkit.training.config import Config
from toolkit.training.corpus import (Corpus, Document, doc_location, label_names, load_corpus, require_labels,
                                    resolve_label_mode, stratified_holdout, train_test_split)

logger = logging.getLogger(__name__)

PARTS = ("train", "dev", "test")


@dataclass
class Splits:
    """The documents of each part, and how each part was chosen (``selection``: see :func:`data_record`)."""

    corpus: Corpus  # all of data.path, as loaded
    train: Corpus
    test: Corpus
    dev: Corpus | None = None
    #: part -> (source file or folder, how its documents were chosen)
    origin: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: part -> training labels it has no document of
    missing: dict[str, list[str]] = field(default_factory=dict)


def label_field_name(config: Config, corpus_name: str) -> str:
    """How messages name the label field of ``corpus_name``: ``doc.cats`` for a ``.spacy`` file."""
    return "doc.cats" if corpus_name.lower().endswith(".spacy") else config.data.label_field


def load_part(config: Config, path: str, option: str) -> Corpus:
    """The corpus at ``path`` (the test or dev set), read with ``data``'s fields and encoding."""
    d = config.data
    try:
        return load_corpus(path, text_field=d.text_field, label_field=d.label_field, encoding=d.encoding,
                           split_field=d.split_field, fold_field=d.fold_field)
    except CorpusError as exc:
        if not Path(path).exists():
            raise CorpusError(f"{option} {path} does not exist") from None
        raise


def check_labels(config: Config, part: Corpus, source: str, labels: list[str], what: str, *, warn: bool = True,
                 known_as: str = "the training data's labels") -> list[str]:
    """Refuse a document of ``part`` (read from ``source``) whose label is not in ``labels`` (the
    training labels, ``known_as`` in the message), naming its file, line and field; return the labels
    ``part`` has no document of (with ``warn``, logged as a warning)."""
    known = set(labels)
    seen: set[str] = set()
    for doc in part:
        for name in label_names(doc.label):
            if name not in known:
                raise CorpusError(
                    f"{doc_location(source, doc)}: label {name!r} in field {label_field_name(config, source)!r} of "
                    f"the {what} data is not among {known_as} ({', '.join(map(str, labels))})")
            seen.add(name)
    missing = [label for label in labels if label not in seen]
    if warn and missing and not _multi_label(part):  # a multi-label set may well lack a label's positives
        logger.warning("%s: the %s data has no document of training label(s) %s; their recall is not measured",
                       source, what, ", ".join(map(repr, missing)))
    return missing


def _multi_label(corpus: Corpus) -> bool:
    return corpus.multi_label or any(isinstance(d.label, tuple) for d in corpus)


def _restricted(corpus: Corpus, docs: list[Document], name: str) -> Corpus:
    """``docs`` as a corpus with the labels of ``corpus`` that they have, in ``corpus``'s label order."""
    present = {n for d in docs for n in label_names(d.label)}
    labels = [label for label in corpus.labels if label in present]
    if _multi_label(corpus):
        labels = list(corpus.labels)  # every category named stays a label (a label may have no positive here)
    return Corpus(docs, name=name, labels=labels, ordered=corpus.ordered, multi_label=corpus.multi_label)


def _as_part(part: Corpus, train: Corpus, name: str, config: Config | None = None) -> Corpus:
    """``part`` (a test or dev set) with the training documents' labels and label mode; with ``config``,
    a part whose documents do not fit that mode is refused (a list label in an exclusive run)."""
    if config is not None:
        part = resolve_label_mode(Corpus(list(part.documents), name=name), train.multi_label,
                                  label_field_name(config, name))
    return Corpus(list(part.documents), name=name, labels=list(train.labels), ordered=train.ordered,
                  multi_label=train.multi_label)


def resolve_splits(config: Config, corpus: Corpus) -> Splits:
    """Train, dev and test sets of ``corpus`` (``data.path``, loaded) and ``config``'s test / dev files
    (see the module for the rules)."""
    d = config.data
    source = corpus.name or str(d.path)
    marked = Counter(doc.split for doc in corpus if doc.split is not None)
    field_text = f"split field {d.split_field!r}"
    test_file = load_part(config, d.test_path, "--test-data") if d.test_path else None
    dev_file = load_part(config, d.dev_path, "--dev-data") if d.dev_path else None
    for part, option, given in (("test", "--test-data", test_file), ("dev", "--dev-data", dev_file)):
        if given is not None and marked[part]:
            raise CorpusError(f"{source}: {marked[part]} document(s) have split {part!r} in field {d.split_field!r} "
                              f"and {option} is given too; use one or the other")
    origin: dict[str, tuple[str, str]] = {}
    if test_file is not None or marked:
        keep = [doc for doc in corpus if doc.split in (None, "train")]
        if not keep:
            raise CorpusError(f"{source}: no training documents: every document's {field_text} is dev or test")
        train = _restricted(corpus, keep, source)
        origin["train"] = (source, f"split = train ({field_text})" if marked else "whole file")
        if test_file is not None:
            test, origin["test"] = test_file, (test_file.name, "whole file")
        else:
            test_docs = [doc for doc in corpus if doc.split == "test"]
            if not test_docs:
                raise CorpusError(f"{source}: no document has split 'test' in field {d.split_field!r}; mark the "
                                  f"test documents, or pass --test-data (data.test_path)")
            test = Corpus(test_docs, name=source)
            origin["test"] = (source, f"split = test ({field_text})")
    else:
        train, test = train_test_split(corpus, test_share=d.test_share, seed=d.split_seed, test_fold=d.test_fold)
        train, test = _as_part(train, train, source), _as_part(test, train, source)
        if corpus.has_folds:
            origin["train"], origin["test"] = (source, f"all but fold {d.test_fold}"), (source, f"fold {d.test_fold}")
        else:
            cut = f"cut from --data ({d.test_share:.0%} of each label, seed {d.split_seed})"
            origin["train"], origin["test"] = (source, "all but the test cut"), (source, cut)
    require_labels(train)
    dev = None
    if dev_file is not None:
        dev, origin["dev"] = dev_file, (dev_file.name, "whole file")
    elif marked["dev"]:
        dev = Corpus([doc for doc in corpus if doc.split == "dev"], name=source)
        origin["dev"] = (source, f"split = dev ({field_text})")
    labels = list(train.labels)
    test = _as_part(test, train, origin["test"][0], config)
    missing = {"test": check_labels(config, test, origin["test"][0], labels, "test")}
    if dev is not None:
        dev = _as_part(dev, train, origin["dev"][0], config)
        missing["dev"] = check_labels(config, dev, origin["dev"][0], labels, "dev")
    return Splits(corpus, train, test, dev, origin, missing)


def check_cross_validation(config: Config, corpus: Corpus | None = None) -> None:
    """Refuse what k-fold cross-validation cannot honour: a test or dev file (the folds are made of
    ``--data``), and with ``corpus``, a split field (it names a test set the folds would train on)."""
    d = config.data
    for option, dotted, value in (("--test-data", "data.test_path", d.test_path),
                                  ("--dev-data", "data.dev_path", d.dev_path)):
        if value:
            raise ConfigError(f"--cv makes its test folds out of --data; it does not take {option} ({dotted} = "
                              f"{value!r}): drop --cv to test on that file, or drop {option}")
    if corpus is not None:
        marked = next((doc for doc in corpus if doc.split is not None), None)
        if marked is not None:
            raise ConfigError(f"{doc_location(corpus.name, marked)}: --cv makes its own folds, but the records "
                              f"have a split field ({d.split_field!r}); drop --cv to use that split, or name "
                              f"another field with data.split_field")


def part_record(corpus: Corpus, origin: tuple[str, str], missing: Iterable[str] = ()) -> dict[str, Any]:
    """One part of :func:`data_record`: ``source``, ``selection``, ``documents``, per-label counts."""
    counts = Counter(n for doc in corpus for n in label_names(doc.label))
    record = {"source": origin[0], "selection": origin[1], "documents": len(corpus),
              "labels": {label: counts.get(label, 0) for label in corpus.labels}}
    if missing:
        record["missing_labels"] = list(missing)
    return record


def data_record(config: Config, splits: Splits, *, calibrated: bool = True) -> dict[str, Any]:
    """``metrics.json``'s ``data``: per part (train, dev, test) its ``source`` (a file or folder), its
    ``selection`` (``whole file``, ``split = test (split field 'split')``, ``fold 9``, ``cut from --data
    (10% of each label, seed 0)``...), its ``documents`` and per-label counts, training labels it lacks
    (``missing_labels``), and for dev what it was used for (``used_for``). Without a dev set, ``dev``
    describes the validation cut the training loop makes (``training.validation_share > 0``) or is
    ``None``; the calibration record says what the calibration was fitted on."""
    out: dict[str, Any] = {"train": part_record(splits.train, splits.origin["train"])}
    tr = config.training
    if splits.dev is not None:
        used = ["best epoch", "early stopping"] + (["calibration"] if calibrated else [])
        out["dev"] = {**part_record(splits.dev, splits.origin["dev"], splits.missing.get("dev", ())),
                      "used_for": ", ".join(used)}
    elif tr.validation_share > 0:
        _, held = stratified_holdout(splits.train.strata, tr.validation_share, tr.seed)
        out["dev"] = {"source": splits.origin["train"][0],
                      "selection": f"{tr.validation_share:.0%} of each label cut from the training documents, "
                                   f"seed {tr.seed} (training.validation_share)",
                      "documents": int(len(held)),
                      "used_for": ", ".join(["best epoch", "early stopping"] +
                                            (["calibration"] if calibrated else []))}
    else:
        out["dev"] = None
    out["test"] = part_record(splits.test, splits.origin["test"], splits.missing.get("test", ()))
    return out


def describe_part(record: dict[str, Any] | None) -> str:
    """One line of a ``data`` record's part: ``120 documents: runs/train.jsonl, whole file``."""
    if not record:
        return "none"
    return f"{record.get('documents', '?')} documents: {record.get('source', '?')}, {record.get('selection', '?')}"


__all__ = ["PARTS", "Splits", "check_cross_validation", "check_labels", "data_record", "describe_part",
           "doc_location", "label_field_name", "label_names", "load_part", "part_record", "resolve_splits"]
