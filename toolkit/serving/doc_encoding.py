"""Vocabulary ids straight from spaCy ``Doc`` objects, without rebuilding their text.

Serving half: imports numpy (and spaCy's attribute ids, lazily), never
TensorFlow, Keras, tf2onnx or gensim.

A text-based tokenizer such as ``nltk`` reads ``doc.text``; a ``Doc`` rebuilds
that string token by token, and the tokenizer then cleans it and the vocabulary
looks every word up again, for every document. Most of that work repeats: a
review is a few hundred distinct strings, each seen over and over across
documents. :class:`DocEncoder` does it once per distinct string instead.

It applies to tokenizers that declare ``whitespace_separable = True``: their
tokens of ``a + w + b`` are the tokens of ``a`` followed by those of ``b``, for
any strings ``a`` and ``b`` and any white space ``w`` (characters for which
``str.isspace()`` is true; a tokenizer that splits with ``str.split()`` and then
looks at one word at a time has this property). ``doc.text`` is the
concatenation of the tokens' texts, each followed by one space or by nothing
(``token.whitespace_``), and spaCy keeps other white space as tokens of their
own (``token.is_space``). So cutting the tokens after each one followed by a
space, and around each white-space token, gives *runs* whose texts are
separated by white space in ``doc.text``, and the document's words are the
words of its runs, in order.

* A run of one token (most of them) is looked up by the token's ``ORTH`` id in
  a cache that maps it to what the tokenizer makes of the string: no word, or
  one word with its vocabulary id. New strings are cleaned once and cached.
* A run of several tokens (``does`` + ``n't``) is joined and tokenized as a
  string, cached by its tokens' ``ORTH`` ids.

The ids are then extended with n-grams by :meth:`toolkit.core.vocab.Vocab.encode_ids_batch`,
which needs the strings only of out-of-vocabulary words. The result equals
``vocab.encode(tokenizer(doc.text))`` (tests check it on the polarity reviews
and on edge cases).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from toolkit.core.vocab import UNK_ID, Vocab

#: Code of a token that gives no word.
_NOTHING = -1
#: Code of a white-space token (``str.isspace()``): no word, and a boundary between runs.
_SPACE = -2
#: Code of a token whose text gives several words: it is handled as a run.
_SEVERAL = -3
#: Codes at or below this one are out-of-vocabulary words: ``_UNKNOWN_BASE - code`` indexes their strings.
_UNKNOWN_BASE = -4


#: Slots of the direct-mapped ORTH-id cache (2**18: 3 MB, ~90% hits for 50,000 distinct strings).
_SLOTS = 1 << 18
_SLOT_MASK_INT = _SLOTS - 1
_SLOT_MASK = np.uint64(_SLOT_MASK_INT)
#: Slots of the two-token-run cache (2**14: 0.5 MB), indexed by a hash of both ORTH ids.
_PAIR_SLOTS = 1 << 14
_PAIR_MASK = np.uint64(_PAIR_SLOTS - 1)
_PAIR_MULT_INT = 0x9E3779B97F4A7C15
_PAIR_MULT = np.uint64(_PAIR_MULT_INT)


def can_encode_docs(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` declares the property :class:`DocEncoder` relies on."""
    return getattr(tokenizer, "whitespace_separable", False) is True


class DocEncoder:
    """Encode spaCy ``Doc`` objects for a whitespace-separable tokenizer and a vocabulary.

    Args:
        tokenizer: a tokenizer with ``whitespace_separable = True``.
        vocab: the bundle's vocabulary.
        max_entries: the caches are emptied when they hold more strings than
            this (bounds memory in a long-running process).

    Not thread-safe: one encoder per thread (the runtime guards it with a lock).
    """

    def __init__(self, tokenizer: Callable[[str], list[str]], vocab: Vocab, max_entries: int = 1_000_000):
        if not can_encode_docs(tokenizer):
            raise ValueError(f"{tokenizer!r} does not declare whitespace_separable = True")
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.max_entries = max_entries
        self._attrs: tuple[int, int] | None = None
        self.clear()

    def clear(self) -> None:
        """Forget every cached string."""
        self._codes: dict[int, int] = {}  # ORTH id -> code
        self._runs: dict[tuple[int, ...], tuple[int, ...]] = {}  # ORTH ids of a multi-token run -> its word codes
        self._unknown: list[str] = []  # out-of-vocabulary words, by _UNKNOWN_BASE - code
        self._unknown_code: dict[str, int] = {}
        # Direct-mapped cache of self._codes (see _token_codes); slot orth 0 is the
        # empty string's id, which no token has, so an empty slot never matches.
        self._slot_orths = np.zeros(_SLOTS, dtype=np.uint64)
        self._slot_codes = np.full(_SLOTS, _NOTHING, dtype=np.int64)
        # The same for two-token runs giving at most two words (see _apply_runs).
        self._pair_orths = np.zeros((_PAIR_SLOTS, 2), dtype=np.uint64)
        self._pair_codes = np.full((_PAIR_SLOTS, 2), _NOTHING, dtype=np.int64)

    # -- strings -> codes ------------------------------------------------------
    def _code_of_word(self, word: str) -> int:
        i = self.vocab.index.get(word)
        if i is not None and i > UNK_ID:
            return i
        code = self._unknown_code.get(word)
        if code is None:
            code = _UNKNOWN_BASE - len(self._unknown)
            self._unknown.append(word)
            self._unknown_code[word] = code
        return code

    def _codes_of_text(self, text: str) -> tuple[int, ...]:
        return tuple(self._code_of_word(w) for w in self.tokenizer(text))

    def _code_of_string(self, text: str) -> int:
        if text.isspace():
            return _SPACE
        words = self.tokenizer(text)
        if not words:
            return _NOTHING
        if len(words) == 1:
            return self._code_of_word(words[0])
        return _SEVERAL

    def _word(self, code: int) -> str:
        """The string of a word's code (a vocabulary id or an out-of-vocabulary code)."""
        return self.vocab.tokens[code] if code >= 0 else self._unknown[_UNKNOWN_BASE - code]

    # -- encoding ------------------------------------------------------------------
    def encode(self, docs: Sequence[Any]) -> list[np.ndarray]:
        """Vocabulary ids (int64 arrays, n-grams included, not truncated) of each ``Doc``."""
        docs = list(docs)
        if not docs:
            return []
        if any(doc.vocab is not docs[0].vocab for doc in docs):
            # Docs of different pipelines: each one's strings are in its own StringStore.
            return [self.encode([doc])[0] for doc in docs]
        if len(self._codes) + len(self._runs) + len(self._unknown) > self.max_entries:
            self.clear()
        if self._attrs is None:
            from spacy.attrs import ORTH, SPACY

            self._attrs = (ORTH, SPACY)
        arrays = [doc.to_array(self._attrs).reshape(-1, 2) for doc in docs]
        sizes = [len(a) for a in arrays]
        table = np.concatenate(arrays)
        orths = table[:, 0]
        strings = docs[0].vocab.strings
        codes = self._token_codes(orths, strings)
        if not len(codes):
            return [np.zeros(0, dtype=np.int64) for _ in docs]
        last = np.cumsum(sizes) - 1  # the last token of each document
        # A token joins the next one into a run when no space follows it and neither
        # is a white-space token; a document's last token ends its run.
        space = codes == _SPACE
        joins = (table[:, 1] == 0) & ~space
        joins[:-1] &= ~space[1:]
        joins[last[last >= 0]] = False
        special = joins | (codes == _SEVERAL)
        extra: dict[int, list[tuple[int, np.ndarray]]] = {}
        if special.any():
            extra = self._apply_runs(codes, orths, joins, special, strings, last)
        keep = (codes != _NOTHING) & ~space
        words = codes[keep]
        kept_before = np.concatenate(([0], np.cumsum(keep)))
        offsets = np.concatenate(([0], last + 1))
        counts = kept_before[offsets[1:]] - kept_before[offsets[:-1]]
        if extra:
            words, counts = self._splice(codes, keep, last, sizes, extra)
        bounds = np.concatenate(([0], np.cumsum(counts)))
        unigram = np.where(words >= 0, words, UNK_ID)
        return self.vocab.encode_ids_batch(unigram, bounds, lambda k: self._word(int(words[k])))

    def _token_codes(self, orths: np.ndarray, strings: Any) -> np.ndarray:
        """The code of each token (``orths``: their ``ORTH`` ids), new strings cleaned once.

        Known strings are found in a direct-mapped table indexed by the low bits
        of the ``ORTH`` id (a hash of the string), checked against the full id:
        about 10x faster than one ``dict`` lookup per token. Misses (new strings,
        or two strings sharing a slot) go through the ``dict``.
        """
        slots = (orths & _SLOT_MASK).astype(np.intp)
        codes = self._slot_codes[slots]
        missed = np.flatnonzero(self._slot_orths[slots] != orths)
        if len(missed):
            get = self._codes.get
            for i, orth in zip(missed.tolist(), orths[missed].tolist()):
                code = get(orth)
                if code is None:
                    code = self._codes[orth] = self._code_of_string(strings[orth])
                codes[i] = code
                slot = orth & _SLOT_MASK_INT
                self._slot_orths[slot] = orth
                self._slot_codes[slot] = code
        return codes

    def _apply_runs(
        self,
        codes: np.ndarray,
        orths: np.ndarray,
        joins: np.ndarray,
        special: np.ndarray,
        strings: Any,
        last: np.ndarray,
    ) -> dict[int, list[tuple[int, np.ndarray]]]:
        """Write the word codes of every multi-token run (and every token giving several
        words) over the run's tokens, in place. A run with more words than tokens
        (rare) is left to :meth:`_splice`: returned as ``{doc: [(begin, words)]}``."""
        ends = np.flatnonzero(~joins)
        begins = np.concatenate(([0], ends[:-1] + 1))
        run_of_token = np.concatenate(([0], np.cumsum(~joins)[:-1]))
        in_special_run = np.zeros(len(ends), dtype=bool)
        in_special_run[run_of_token[special]] = True
        runs = np.flatnonzero(in_special_run)
        codes[in_special_run[run_of_token]] = _NOTHING
        run_begins, run_ends = begins[runs], ends[runs]
        # Two-token runs (`does` + `n't`: most of them) through a direct-mapped table.
        pairs = run_ends - run_begins == 1
        slow = ~pairs
        if pairs.any():
            first = run_begins[pairs]
            a, b = orths[first], orths[first + 1]
            slots = (((a * _PAIR_MULT) ^ b) & _PAIR_MASK).astype(np.intp)
            hit = (self._pair_orths[slots, 0] == a) & (self._pair_orths[slots, 1] == b)
            at, words = first[hit], self._pair_codes[slots[hit]]
            codes[at], codes[at + 1] = words[:, 0], words[:, 1]
            slow[np.flatnonzero(pairs)[~hit]] = True
        cache = self._runs
        positions: list[int] = []
        values: list[int] = []
        extra: dict[int, list[tuple[int, np.ndarray]]] = {}
        for begin, end in zip(run_begins[slow].tolist(), run_ends[slow].tolist()):
            key = tuple(orths[begin : end + 1].tolist())
            words = cache.get(key)
            if words is None:
                words = cache[key] = self._codes_of_text("".join([strings[o] for o in key]))
            if len(words) <= end + 1 - begin:
                positions.extend(range(begin, begin + len(words)))
                values.extend(words)
                if len(key) == 2:
                    self._remember_pair(key, words)
            else:
                doc = int(np.searchsorted(last, begin))
                extra.setdefault(doc, []).append((begin, np.asarray(words, dtype=np.int64)))
        codes[positions] = values
        return extra

    def _remember_pair(self, key: tuple[int, ...], words: tuple[int, ...]) -> None:
        a, b = key
        slot = ((a * _PAIR_MULT_INT) ^ b) & (_PAIR_SLOTS - 1)  # the low bits of the array hash above
        self._pair_orths[slot] = key
        self._pair_codes[slot] = (tuple(words) + (_NOTHING, _NOTHING))[:2]

    def _splice(
        self,
        codes: np.ndarray,
        keep: np.ndarray,
        last: np.ndarray,
        sizes: Sequence[int],
        extra: dict[int, list[tuple[int, np.ndarray]]],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Word codes of the batch and per-document counts, with the runs that have more
        words than tokens inserted where they begin."""
        pieces, counts = [], []
        start = 0
        for d, size in enumerate(sizes):
            stop = start + size
            inserts = extra.get(d, [])
            done = start
            doc_pieces = []
            for begin, words in inserts:
                doc_pieces.append(codes[done:begin][keep[done:begin]])
                doc_pieces.append(words)
                done = begin
            doc_pieces.append(codes[done:stop][keep[done:stop]])
            joined = np.concatenate(doc_pieces) if doc_pieces else codes[:0]
            pieces.append(joined)
            counts.append(len(joined))
            start = stop
        return np.concatenate(pieces), np.asarray(counts, dtype=np.int64)
