"""Content digests: what a named corpus says, pinned, whatever bytes it came in.

The published archives cannot be checksummed byte for byte here (they are not on this
machine), and the same corpus comes in more than one form (MR in UTF-8 or Windows-1252;
the multi-domain reviews as well-formed XML or the authors' pseudo-XML). So each corpus
pins a *content* digest instead: sha256 over a canonical serialisation of its parsed
documents, in corpus order: one JSON array per document (the corpus's own choice of
fields, e.g. ``[label, text]``; UTF-8, no ASCII escaping, no spaces), each followed by
``\\n``. Any copy that parses to the same documents (and therefore the same folds)
passes; a changed, missing or added review, or a changed label, rating or id, fails.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Sequence


def content_digest(rows: Iterable[Sequence]) -> str:
    """The sha256 (hex) of ``rows``, one JSON array per row (see the module)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(list(row), ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
