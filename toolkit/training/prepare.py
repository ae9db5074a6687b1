"""Corpus -> tokens -> vocabulary: the preparation steps shared by the CLI,
training and the demo. Serving-safe (no TensorFlow)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from toolkit.core import registry
from toolkit.training.corpus import Corpus, load_corpus, train_test_split
from toolkit.core.atomic import refuse_existing
from toolkit.core.errors import VocabError
from toolkit.training.vocab_builder import build_vocab, coverage


def tokenize_texts(texts: Sequence[str], tokenizer: Any, progress: bool = False,
                   description: str = "tokenizing") -> list[list[str]]:
    """Tokenize every text; an empty text gives an empty token list."""
    if progress and len(texts) > 200:
        from rich.progress import track

        return [tokenizer(t) for t in track(texts, description=description, transient=True)]
    return [tokenizer(t) for t in texts]


@dataclass
class VocabSummary:
    corpus: str
    tokenizer: str
    tokenizer_config: dict
    documents: int
    train_documents: int
    vocab_size: int
    min_count: int
    max_size: int | None
    ngrams: int
    train_coverage: dict
    test_coverage: dict | None
    out: str | None
    empty_documents: int

    def render(self) -> str:
        lines = [
            f"corpus: {self.corpus} ({self.documents} documents; vocabulary built from {self.train_documents})",
            f"tokenizer: {self.tokenizer} {self.tokenizer_config}",
            f"vocabulary: {self.vocab_size} entries (incl. <pad>, <unk>); min_count={self.min_count}, "
            f"max_size={self.max_size}, ngrams={self.ngrams}",
            f"coverage (train): {self.train_coverage['token_coverage']:.1%} of {self.train_coverage['tokens']} tokens, "
            f"{self.train_coverage['type_coverage']:.1%} of {self.train_coverage['types']} types",
        ]
        if self.test_coverage:
            lines.append(
                f"coverage (test): {self.test_coverage['token_coverage']:.1%} of {self.test_coverage['tokens']} tokens, "
                f"{self.test_coverage['type_coverage']:.1%} of {self.test_coverage['types']} types"
            )
        if self.empty_documents:
            lines.append(f"documents with no tokens after cleaning: {self.empty_documents}")
        if self.out:
            lines.append(f"written: {self.out}")
        return "\n".join(lines)


def vocab_summary(
    data: str | os.PathLike | None = None,
    tokenizer: str = "nltk",
    tokenizer_options: dict | None = None,
    min_count: int = 2,
    max_size: int | None = None,
    ngrams: int = 1,
    split: str = "train",
    encoding: str = "utf-8",
    text_field: str = "text",
    label_field: str = "label",
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    corpus: Corpus | None = None,
) -> VocabSummary:
    """Load a corpus, tokenize it, build a vocabulary, measure coverage, optionally save it."""
    if split not in ("train", "all"):
        raise VocabError(f"--split must be 'train' or 'all', got {split!r}")
    if out is not None:
        refuse_existing(out, overwrite)
    tok = registry.create("tokenizer", tokenizer, **(tokenizer_options or {}))
    if corpus is None:
        corpus = load_corpus(data, text_field=text_field, label_field=label_field, encoding=encoding)
    if split == "train":
        train, test = train_test_split(corpus)
    else:
        train, test = corpus, None
    train_tokens = tokenize_texts(train.texts, tok, progress=True)
    vocab = build_vocab(train_tokens, min_count=min_count, max_size=max_size, ngrams=ngrams)
    test_cov = coverage(vocab, tokenize_texts(test.texts, tok)) if test is not None else None
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        vocab.to_file(out)
    return VocabSummary(
        corpus=corpus.name, tokenizer=tokenizer, tokenizer_config=tok.config, documents=len(corpus),
        train_documents=len(train), vocab_size=len(vocab), min_count=min_count, max_size=max_size, ngrams=ngrams,
        train_coverage=coverage(vocab, train_tokens), test_coverage=test_cov, out=str(out) if out else None,
        empty_documents=sum(1 for t in train_tokens if not t),
    )
