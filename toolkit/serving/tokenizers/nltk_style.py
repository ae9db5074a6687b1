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

from toolkit.errors import ConfigError
from toolkit.hookspecs import hookimpl

_PUNCT_TABLE = str.maketrans("", "", string.punctuation)
_STOPWORDS_RESOURCE = "stopwords_en.txt"


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    """The shipped English stop-word list (NLTK's classic 179 words), read once."""
    text = resources.files("toolkit.serving.tokenizers").joinpath("data", _STOPWORDS_RESOURCE).read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"tokenizer 'nltk': option {name!r} must be true or false, got {value!r}")
    return value


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


def _text_of(text: Any) -> str:
    """The text of a string, or of a spaCy ``Doc``/``Span`` (its ``.text``)."""
    if isinstance(text, str):
        return text
    inner = getattr(text, "text", None)
    if isinstance(inner, str):
        return inner
    raise TypeError(f"a tokenizer takes a str or a spaCy Doc, got {type(text).__name__}")


class NltkStyleTokenizer:
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

    #: Tokens of ``a + " " + b`` == tokens of ``a`` + tokens of ``b``, for any strings.
    whitespace_separable = True

    def __init__(
        self,
        lowercase: bool = True,
        stem: bool = False,
        stopwords: bool = True,
        min_length: int = 2,
    ) -> None:
        self.lowercase = _check_bool("lowercase", lowercase)
        self.stem = _check_bool("stem", stem)
        self.stopwords = _check_bool("stopwords", stopwords)
        if isinstance(min_length, bool) or not isinstance(min_length, int) or min_length < 1:
            raise ConfigError(
                f"tokenizer 'nltk': option 'min_length' must be an integer >= 1, got {min_length!r}"
            )
        self.min_length = min_length
        self._stop = english_stopwords() if stopwords else frozenset()
        self._stemmer = _porter_stem() if stem else None

    @property
    def config(self) -> dict[str, Any]:
        """Every option, JSON-serialisable; ``NltkStyleTokenizer(**config)`` rebuilds this one."""
        return {
            "lowercase": self.lowercase,
            "stem": self.stem,
            "stopwords": self.stopwords,
            "min_length": self.min_length,
        }

    def __call__(self, text: Any) -> list[str]:
        """Tokens of ``text`` (a str, or a spaCy ``Doc`` whose ``.text`` is used)."""
        raw = _text_of(text)
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

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.config.items())
        return f"NltkStyleTokenizer({options})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NltkStyleTokenizer) and other.config == self.config

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.config.items()))))


@hookimpl
def register_tokenizers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register the ``nltk`` tokenizer."""
    register("nltk", NltkStyleTokenizer)
