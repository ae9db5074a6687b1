"""spaCy's rule-based tokenizer with simple filters, registered as ``spacy``.

Strings are tokenised with ``nlp.make_doc(text)`` of a blank pipeline
(``spacy.blank(lang)``): the tokenizer only, no pipeline components. One blank
pipeline per language is created on first use and shared by every tokenizer in
the process. A spaCy ``Doc`` is used as it is (no re-tokenisation), so the tokens
of ``tok(text)`` and ``tok(nlp.make_doc(text))`` are the same for a blank
pipeline of the same language.

spaCy is imported lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Iterable

from toolkit.core.contracts import Tokenizer
from toolkit.core.errors import ConfigError
from toolkit.core.options import check_bool, check_str

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Token

_BLANK: dict[str, "Language"] = {}
_BLANK_LOCK = threading.Lock()


def blank_nlp(lang: str) -> "Language":
    """The process-wide blank spaCy pipeline for ``lang``, created on first use."""
    nlp = _BLANK.get(lang)
    if nlp is None:
        with _BLANK_LOCK:
            nlp = _BLANK.get(lang)
            if nlp is None:
                import spacy

                nlp = spacy.blank(lang)
                _BLANK[lang] = nlp
    return nlp


def _check_lang(lang: Any) -> str:
    check_str(lang, "lang", what="a spaCy language code such as 'en'", component="tokenizer 'spacy'")
    from spacy.util import get_lang_class

    try:
        get_lang_class(lang)
    except Exception as exc:  # spaCy raises ImportError (E048) for unknown codes
        raise ConfigError(
            f"tokenizer 'spacy': option 'lang' = {lang!r} is not a language spaCy knows "
            f"({type(exc).__name__}); use a code such as 'en'"
        ) from exc
    return lang


class SpacyTokenizer(Tokenizer):
    """Tokens from spaCy's tokenizer, optionally lowercased and filtered.

    Args:
        lang: spaCy language code of the blank pipeline used for strings.
        lowercase: return ``token.lower_`` instead of ``token.text``.
        drop_punct: drop punctuation tokens (``token.is_punct``).
        drop_stop: drop stop words of ``lang`` (``token.is_stop``, case-insensitive).
        drop_numbers: drop number-like tokens (``token.like_num``: ``12``, ``3.5``, ``ten``).
        drop_spaces: drop white-space tokens (``token.is_space``).

    ``config`` holds every option; ``SpacyTokenizer(**tok.config)`` is the same
    tokenizer.
    """

    name = "spacy"

    def __init__(
        self,
        lang: str = "en",
        lowercase: bool = True,
        drop_punct: bool = True,
        drop_stop: bool = False,
        drop_numbers: bool = False,
        drop_spaces: bool = True,
    ) -> None:
        super().__init__(
            lang=_check_lang(lang),
            lowercase=check_bool(lowercase, "lowercase", component=self),
            drop_punct=check_bool(drop_punct, "drop_punct", component=self),
            drop_stop=check_bool(drop_stop, "drop_stop", component=self),
            drop_numbers=check_bool(drop_numbers, "drop_numbers", component=self),
            drop_spaces=check_bool(drop_spaces, "drop_spaces", component=self),
        )

    @property
    def nlp(self) -> "Language":
        """The shared blank pipeline used to tokenise strings."""
        return blank_nlp(self.lang)

    def _keep(self, token: "Token") -> bool:
        if self.drop_spaces and token.is_space:
            return False
        if self.drop_punct and token.is_punct:
            return False
        if self.drop_stop and token.is_stop:
            return False
        if self.drop_numbers and token.like_num:
            return False
        return True

    def tokens(self, tokens: Iterable["Token"]) -> list[str]:
        """Filter and normalise spaCy tokens (from a ``Doc`` or a ``Span``)."""
        if self.lowercase:
            return [token.lower_ for token in tokens if self._keep(token)]
        return [token.text for token in tokens if self._keep(token)]

    def __call__(self, text: Any) -> list[str]:
        """Tokens of ``text``: a str (tokenised here) or a spaCy ``Doc`` (used as is)."""
        if isinstance(text, str):
            if not text:
                return []
            return self.tokens(self.nlp.make_doc(text))
        if hasattr(text, "__iter__") and hasattr(text, "vocab") and hasattr(text, "text"):
            return self.tokens(text)  # a Doc or Span: its tokens, no re-tokenisation
        raise TypeError(f"a tokenizer takes a str or a spaCy Doc, got {type(text).__name__}")
