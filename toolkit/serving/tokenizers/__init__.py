"""Built-in tokenizers.

``nltk``  (:class:`~toolkit.serving.tokenizers.nltk_style.NltkStyleTokenizer`): the classic
cleaning pipeline of the seed project (white-space split, strip punctuation,
alphabetic tokens only, English stop words removed, short tokens removed,
optional Porter stemming).

``spacy`` (:class:`~toolkit.serving.tokenizers.spacy_tokens.SpacyTokenizer`): spaCy's
rule-based tokenizer from a blank pipeline, with optional filters; it also takes
a spaCy ``Doc`` directly.

Both are listed in :mod:`toolkit.builtins` (the registry imports a module only when
one of its tokenizers is created).
"""

from __future__ import annotations

from toolkit.serving.tokenizers.nltk_style import NltkStyleTokenizer
from toolkit.serving.tokenizers.spacy_tokens import SpacyTokenizer

__all__ = ["NltkStyleTokenizer", "SpacyTokenizer"]
