"""Vocabulary: ids, encoding and ``vocab.txt`` (counting one from a corpus is training work: ``toolkit.training.vocab_builder``).

Ids: 0 is padding, 1 is out-of-vocabulary, then tokens by descending frequency
(ties broken by first appearance, so a build is deterministic). ``vocab.txt``
holds one token per line in id order, the two reserved entries included.

Optional word n-grams: with ``ngrams=2`` each document's token list is extended
with bigram tokens joined by ``_`` (``not good`` -> ``not_good``) after the
unigrams. The setting travels with the vocabulary (in the training config and
the bundle) so encoding at serving time matches training.

Out-of-vocabulary tokens (``unknown``): ``map`` (default) encodes each as
``<unk>`` (id 1), keeping its place; ``drop`` removes unknown words before
n-grams are formed, and unknown n-grams too, so a document is the sequence of
its known words (the classic Keras tutorials' ``[w for w in tokens if w in
vocab]`` filter) and never holds id 1. This setting travels with the
vocabulary too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from toolkit.core.errors import VocabError
from toolkit.core.atomic import temp_file

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
NGRAM_JOINER = "_"
UNKNOWN_POLICIES = ("map", "drop")


def check_unknown(unknown: object) -> str:
    if unknown not in UNKNOWN_POLICIES:
        raise VocabError(f"unknown-word policy (vocab.unknown) must be one of {', '.join(map(repr, UNKNOWN_POLICIES))}, "
                         f"got {unknown!r}")
    return str(unknown)


def add_ngrams(tokens: Sequence[str], ngrams: int = 1) -> list[str]:
    """``tokens`` followed by its 2..``ngrams``-grams, each joined with ``_``."""
    if ngrams < 1:
        raise VocabError(f"ngrams must be >= 1, got {ngrams!r}")
    out = list(tokens)
    for n in range(2, ngrams + 1):
        out.extend(NGRAM_JOINER.join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


class Vocab:
    """A token <-> id mapping with reserved padding (0) and OOV (1) ids."""

    def __init__(self, tokens: Sequence[str], ngrams: int = 1, unknown: str = "map"):
        self.unknown = check_unknown(unknown)
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            tokens = [PAD, UNK] + [t for t in tokens if t not in (PAD, UNK)]
        self.tokens: list[str] = tokens
        self.ngrams = ngrams
        self.index: dict[str, int] = {}
        for i, tok in enumerate(tokens):
            if tok in self.index:
                raise VocabError(f"token {tok!r} appears twice in the vocabulary (ids {self.index[tok]} and {i})")
            self.index[tok] = i
        self._pairs: tuple[np.ndarray, np.ndarray, bool] | None = None

    # -- mapping ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocab) and self.tokens == other.tokens and self.ngrams == other.ngrams
                and self.unknown == other.unknown)

    def id_of(self, token: str) -> int:
        return self.index.get(token, UNK_ID)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens`` (n-grams added per the vocabulary's setting)."""
        return self.encode_many([tokens])[0]

    def encode_ids_batch(self, unigram_ids: np.ndarray, bounds: np.ndarray, word: Callable[[int], str]) -> list[np.ndarray]:
        """Ids of documents given by their unigram ids, n-grams added per the vocabulary's setting.

        Document *d* is ``unigram_ids[bounds[d]:bounds[d + 1]]``. ``word(i)`` returns the
        word at position *i* of ``unigram_ids`` as a string; it is called only for
        out-of-vocabulary positions (or for every position when ``ngrams`` > 2), so a
        caller that knows the ids already (the spaCy component's cache) need not build
        strings for known words. Bigrams are looked up for the whole batch in one sorted
        pass. The result equals :meth:`encode` on each document's words.
        """
        unigram = np.asarray(unigram_ids, dtype=np.int64)
        bounds = np.asarray(bounds, dtype=np.int64)
        if self.unknown == "drop":
            known = unigram > UNK_ID
            if not known.all():
                kept = np.flatnonzero(known)
                bounds = np.concatenate(([0], np.cumsum(known)))[bounds]
                unigram = unigram[kept]
                word = (lambda i, w=word: w(int(kept[i])))
        bounds = bounds.tolist()
        spans = list(zip(bounds[:-1], bounds[1:]))
        if self.ngrams == 1:
            return [unigram[s:e] for s, e in spans]
        bigram = self._bigram_ids(unigram, word)  # pair i = (i, i + 1); pairs across documents are unused
        out = []
        for s, e in spans:
            parts = [unigram[s:e], bigram[s : max(e - 1, s)]]
            if self.ngrams > 2:
                parts.extend(self._longer_ngram_ids(unigram, s, e, word))
            ids = np.concatenate(parts)
            out.append(ids[ids != UNK_ID] if self.unknown == "drop" else ids)
        return out

    def _longer_ngram_ids(self, unigram: np.ndarray, s: int, e: int, word: Callable[[int], str]) -> list[np.ndarray]:
        """Ids of the 3..``ngrams``-grams of ``unigram[s:e]``, looked up as strings."""
        get, tokens = self.index.get, self.tokens
        words = [tokens[i] if i > UNK_ID else word(s + k) for k, i in enumerate(unigram[s:e].tolist())]
        return [
            np.asarray([get(NGRAM_JOINER.join(words[i : i + n]), UNK_ID) for i in range(len(words) - n + 1)],
                       dtype=np.int64)
            for n in range(3, self.ngrams + 1)
        ]

    def _bigram_index(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """Sorted keys ``id(a) * len(vocab) + id(b)`` of the bigrams ``a_b`` in the
        vocabulary whose two words are in it too, the bigrams' ids, and whether some
        token also splits into a part that is not a known word ("orphans")."""
        if self._pairs is None:
            size, index = len(self.tokens), self.index
            keys, values = [], []
            orphans = False
            for i, tok in enumerate(self.tokens):
                cut = tok.find(NGRAM_JOINER)
                while cut > 0:  # every split point: a word may hold the joiner itself
                    a, b = index.get(tok[:cut]), index.get(tok[cut + 1:])
                    if a is not None and b is not None and a > UNK_ID and b > UNK_ID:
                        keys.append(a * size + b)
                        values.append(i)
                    else:
                        orphans = True
                    cut = tok.find(NGRAM_JOINER, cut + 1)
            order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
            # Can a pair with an unknown word name a token? Only if some token splits
            # into a part that is not a known word (e.g. a bigram kept by `max_size`
            # whose word was cut). If none does, such pairs are out of vocabulary.
            self._pairs = (np.asarray(keys, dtype=np.int64)[order], np.asarray(values, dtype=np.int64)[order],
                           orphans)
        return self._pairs

    def _bigram_ids(self, unigram: np.ndarray, word: Callable[[int], str]) -> np.ndarray:
        """Ids of the bigrams of a document whose unigram ids are ``unigram``.

        Equal to looking up ``a + "_" + b`` for each pair, but vectorised: a pair
        of known words is found by its pair of ids (which names one string);
        only pairs with an unknown word are looked up as strings (``word(i)``).
        """
        if len(unigram) < 2:
            return np.zeros(0, dtype=np.int64)
        keys_sorted, values, orphans = self._bigram_index()
        left, right = unigram[:-1], unigram[1:]
        out = np.full(len(left), UNK_ID, dtype=np.int64)
        if len(keys_sorted):
            keys = left * len(self.tokens) + right
            # Searching sorted queries walks the table in order: ~2x faster than in document order.
            order = np.argsort(keys)
            pos = np.minimum(np.searchsorted(keys_sorted, keys[order]), len(keys_sorted) - 1)
            found = keys_sorted[pos] == keys[order]
            out[order[found]] = values[pos[found]]
        unknown = np.flatnonzero((left <= UNK_ID) | (right <= UNK_ID)) if orphans else ()
        if len(unknown):
            get, tokens = self.index.get, self.tokens

            def text(k: int) -> str:
                i = int(unigram[k])
                return tokens[i] if i > UNK_ID else word(k)

            for i in unknown.tolist():
                out[i] = get(text(i) + NGRAM_JOINER + text(i + 1), UNK_ID)
        return out

    def encode_many(self, docs: Iterable[Sequence[str]], chunk: int = 256) -> list[list[int]]:
        """:meth:`encode` of each token list, the n-grams of ``chunk`` documents looked up at once
        (one sorted lookup per chunk: sorting a whole corpus at once would cost n log n; measured on
        10,000 reviews, 0.47 ms per review at once vs 0.35 in chunks of 256)."""
        docs = [list(doc) for doc in docs]
        get = self.index.get
        out: list[list[int]] = []
        for start in range(0, len(docs), chunk):
            part = docs[start : start + chunk]
            words = [tok for doc in part for tok in doc]
            unigram = np.asarray([get(tok, UNK_ID) for tok in words], dtype=np.int64)
            bounds = np.concatenate(([0], np.cumsum([len(doc) for doc in part], dtype=np.int64)))
            out.extend(ids.tolist() for ids in self.encode_ids_batch(unigram, bounds, words.__getitem__))
        return out

    # -- files --------------------------------------------------------------
    def to_file(self, path: str | os.PathLike) -> None:
        """Write ``vocab.txt`` atomically (temp file in the same folder, then rename)."""
        path = Path(path)
        for tok in self.tokens:
            if "\n" in tok or "\r" in tok or tok != tok.strip():
                raise VocabError(f"token {tok!r} cannot be saved in {path.name}: it contains white space at an edge or a line break")
        if path.is_dir():
            raise VocabError(f"{path} is a folder; give the path of the vocab.txt file to write")


        fd, tmp = temp_file(path)  # .<name>.toolkit-tmp-<pid>-...: swept by the next write if this one is killed
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write("\n".join(self.tokens) + "\n")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def from_file(cls, path: str | os.PathLike, ngrams: int = 1, unknown: str = "map") -> "Vocab":
        path = Path(path)
        if not path.is_file():
            raise VocabError(f"vocabulary file {path} does not exist")
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError as exc:
            raise VocabError(f"vocabulary file {path} is not UTF-8 (byte {exc.start})") from exc
        if lines and lines[-1] == "":
            lines.pop()
        if lines[:2] != [PAD, UNK]:
            raise VocabError(f"{path}: line 1 must be {PAD!r} and line 2 {UNK!r}; is this a toolkit vocab.txt?")
        for lineno, tok in enumerate(lines, start=1):
            if not tok:
                raise VocabError(f"{path}, line {lineno}: empty token")
        seen: dict[str, int] = {}
        for lineno, tok in enumerate(lines, start=1):
            if tok in seen:
                raise VocabError(f"{path}, line {lineno}: token {tok!r} already on line {seen[tok]}")
            seen[tok] = lineno
        return cls(lines, ngrams=ngrams, unknown=unknown)
