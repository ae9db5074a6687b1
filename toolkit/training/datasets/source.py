"""Where a named corpus lives, and what it was read from.

A named corpus's folder: its environment variable (``TOOLKIT_POLARITY_DIR``,
``TOOLKIT_MR_DIR``, ``TOOLKIT_MULTI_DOMAIN_DIR``), else ``../shared/data/<folder>``
beside the repository root. The readers return a :class:`NamedCorpus`: a
:class:`~toolkit.training.corpus.Corpus` that also says which folder and encoding it
was read from and how it is split, for ``toolkit data info`` and messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from toolkit.core.errors import CorpusError
from toolkit.training.corpus import Corpus, repo_root


@dataclass
class NamedCorpus(Corpus):
    #: The folder the files were read from.
    folder: str = ""
    #: The encoding the files were decoded with (one per file when they differ: "rt-polarity.neg: cp1252, ...").
    encoding: str = ""
    #: How the corpus is split, in words (for ``toolkit data info``).
    split_rule: str = ""


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository root: where the project's copies of the corpora are."""
    return repo_root().parent / "shared" / "data"


def corpus_dir(env: str, folder: str) -> Path:
    """``$env`` when it is set (and not empty), else ``../shared/data/<folder>``."""
    value = os.environ.get(env)
    return Path(value).expanduser() if value else shared_data_dir() / folder


def read_corpus_file(path: Path, missing: str) -> bytes:
    """The bytes of one of a named corpus's files; a missing one is one line naming it and ``missing`` (what
    the corpus holds and how to get it), any other read failure one line naming it and why."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"{path} does not exist; {missing}") from None
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from exc
