"""The classic NLTK-style cleaning tokenizer, registered as ``nltk``.

The pipeline, applied to each document::

    split on white space
    -> lowercase (option ``lowercase``)
    -> remove ASCII punctuation characters (``string.punctuation``) from each token
    -> keep purely alphabetic tokens (``str.isalpha``)
    -> drop English stop words (option ``stopwords``; shipped NLTK list)
    -> drop tokens shorter than ``min_length`` characters
    -> Porter stemming (option ``stem``; needs nltk)

Stop words are matched on the lowercased token, whatever ``lowercase`` says.
Punctuation is removed *before* the stop-word test, as in the seed project, so a
contraction such as ``don't`` becomes ``dont`` and is not a stop word.

NLTK itself is only needed for ``stem=True``; it is imported then, and only then.
"""

from __future__ import annotations

import string
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

from toolkit.core.contracts import Tokenizer
from toolkit.core.errors import ConfigError
from toolkit.core.options import check_bool, check_int

_PUNCT_TABLE = str.maketrans("", "", string.punctuation)
_STOPWORDS_RESOURCE = "stopwords_en.txt"


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    """The shipped English stop-word list (NLTK's classic 179 words), read once."""
    text = resources.files("toolkit.serving.tokenizers").joinpath("data", _STOPWORDS_RESOURCE).read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def _porter_stem() -> Callable[[str, bool], str]:
    """NLTK's Porter stemmer as a function ``(word, to_lowercase) -> stem``."""
    try:
        from nltk.stem.porter import PorterStemmer
    except ImportError as exc:
        raise ConfigError(
            "tokenizer 'nltk': option 'stem'=True needs NLTK, which is not installed; "
            'run `pip install "toolkit[train]"` or `pip install nltk`'
        ) from exc
    stemmer = PorterStemmer()

    def stem(word: str, to_lowercase: bool) -> str:
        return stemmer.stem(word, to_lowercase=to_lowercase)

    return stem


class NltkStyleTokenizer(Tokenizer):
    """Clean a review into a list of word tokens (the seed project's ``clean_doc``).

    Args:
        lowercase: lowercase every token first.
        stem: reduce tokens with NLTK's Porter stemmer (needs nltk installed).
        stopwords: drop English stop words (matched case-insensitively).
        min_length: keep tokens of at least this many characters (default 2, so
            one-letter tokens go).

    ``config`` holds every option; ``NltkStyleTokenizer(**tok.config)`` is the same
    tokenizer.

    Every step looks at one white-space-separated word at a time, so the tokens
    of ``a + " " + b`` are those of ``a`` followed by those of ``b``
    (``whitespace_separable``): the spaCy component uses that to encode a
    ``Doc`` from its tokens' cached strings instead of rebuilding ``doc.text``
    (see :mod:`toolkit.serving.doc_encoding`).
    """

    name = "nltk"
    #: Tokens of ``a + " " + b`` == tokens of ``a`` + tokens of ``b``, for any strings.
    whitespace_separable = True

    def __init__(
        self,
        lowercase: bool = True,
        stem: bool = False,
        stopwords: bool = True,
        min_length: int = 2,
    ) -> None:
        super().__init__(
            lowercase=check_bool(lowercase, "lowercase", component=self),
            stem=check_bool(stem, "stem", component=self),
            stopwords=check_bool(stopwords, "stopwords", component=self),
            min_length=check_int(min_length, "min_length", minimum=1, component=self),
        )
        self._stop = english_stopwords() if stopwords else frozenset()
        self._stemmer = _porter_stem() if stem else None

    def __call__(self, text: Any) -> list[str]:
        """Tokens of ``text`` (a str, or a spaCy ``Doc`` whose ``.text`` is used)."""
        raw = self.text_of(text)
        if self.lowercase:
            raw = raw.lower()
        # Deleting punctuation from the whole text before splitting gives the
        # same tokens as deleting it token by token (no punctuation character
        # is white space), in one pass instead of one call per token.
        words = raw.translate(_PUNCT_TABLE).split()
        shortest, stop = self.min_length, self._stop
        if stop:
            tokens = [w for w in words if len(w) >= shortest and w.isalpha() and w.lower() not in stop]
        else:
            tokens = [w for w in words if len(w) >= shortest and w.isalpha()]
        if self._stemmer is not None:
            stem, lowercase = self._stemmer, self.lowercase
            tokens = [stem(w, lowercase) for w in tokens]
        return tokens
