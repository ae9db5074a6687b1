"""Named corpora: ``--data polarity``, ``--data mr``, ``--data multi-domain[:DOMAIN[,DOMAIN...]]``.

:func:`toolkit.training.corpus.load_corpus` sends here a ``--data`` value that looks like a
name and is not an existing file or folder (a path of the same name wins). Each corpus is
read from its folder: its environment variable, else ``../shared/data/<folder>`` beside the
repository root (:mod:`.source`). ``label_field`` picks the label view where a corpus has
more than one (multi-domain: ``"rating"``, or ``"domain+label"`` for two labels per review,
multi-label); the others take only the default, ``"label"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.core.errors import CorpusError
from toolkit.training.datasets import mr, multi_domain, polarity
from toolkit.training.datasets.source import NamedCorpus


@dataclass(frozen=True)
class NamedSpec:
    name: str
    env: str  # the variable naming its folder
    folder: str  # its folder under ../shared/data


CORPORA = {
    "polarity": NamedSpec("polarity", polarity.ENV, polarity.FOLDER),
    "mr": NamedSpec("mr", mr.ENV, mr.FOLDER),
    "multi-domain": NamedSpec("multi-domain", multi_domain.ENV, multi_domain.FOLDER),
}
NAMES = tuple(CORPORA)


def names_line() -> str:
    return (f"the named corpora are {', '.join(NAMES)} (multi-domain:DOMAIN[,DOMAIN] for one or more of "
            f"{', '.join(multi_domain.DOMAINS)})")


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"multi-domain:kitchen"`` -> ``("multi-domain", "kitchen")``; an unknown name is an error."""
    name, sep, option = spec.partition(":")
    key = name.strip().lower()
    if key not in CORPORA:
        raise CorpusError(f"unknown corpus {spec!r}: no such file or folder, and {names_line()}")
    if sep and key != "multi-domain":
        raise CorpusError(f"corpus {key!r} takes no ':' option, got {spec!r}; {names_line()}")
    return key, option.strip() if sep else None


def load_named(spec: str, *, label_field: str = "label", encoding: str = "utf-8", **_ignored) -> NamedCorpus:
    """The named corpus ``spec`` from its folder. ``encoding`` applies to polarity (read with it); MR and
    multi-domain detect theirs. Other ``load_corpus`` options (text and split fields) do not apply."""
    key, option = split_spec(spec)
    if key != "multi-domain" and label_field != "label":
        raise CorpusError(f"corpus {key!r} has one label view ('label': POSITIVE / NEGATIVE), not --label-field "
                          f"(data.label_field) {label_field!r}; 'rating' is multi-domain's four-class view and "
                          f"'domain+label' its multi-label one")
    if key == "polarity":
        return polarity.read_polarity(None, encoding=encoding)
    if key == "mr":
        return mr.read_mr(None)
    domains = multi_domain.parse_domains(option)
    name = "multi-domain" if domains == multi_domain.DOMAINS else f"multi-domain:{','.join(domains)}"
    if label_field in ("rating", multi_domain.MULTI_LABEL_FIELD):
        name += f" ({label_field})"
    return multi_domain.read_multi_domain(None, domains, label_field=label_field, name=name)
