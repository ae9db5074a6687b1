"""Counting a vocabulary: reserved ids, order by frequency, min_count/max_size, the polarity corpus."""

from __future__ import annotations

import string
from collections import Counter
from importlib import resources

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.core.errors import VocabError
from toolkit.core.vocab import PAD, UNK, Vocab
from toolkit.training.vocab_builder import build_vocab


def test_ids_reserved_and_ordered_by_frequency():
    docs = [["good", "film"], ["good", "plot"], ["good", "film", "rare"]]
    v = build_vocab(docs, min_count=2)
    assert v.tokens == [PAD, UNK, "good", "film"]
    assert v.encode(["film", "rare", "good"]) == [3, 1, 2]
    assert v.id_of("unseen") == 1


def test_min_count_and_max_size():
    docs = [["a", "b", "c"], ["a", "b"], ["a"]]
    assert build_vocab(docs, min_count=1).tokens[2:] == ["a", "b", "c"]
    assert build_vocab(docs, min_count=3).tokens[2:] == ["a"]
    assert build_vocab(docs, min_count=1, max_size=2).tokens[2:] == ["a", "b"]
    with pytest.raises(VocabError, match="min_count"):
        build_vocab(docs, min_count=0)
    with pytest.raises(VocabError, match="max_size"):
        build_vocab(docs, max_size=-1)



def _independent_vocab_size(polarity_path) -> int:
    """The classic cleaning, written out here from the issue's rules, over files read directly."""
    stop = {
        line.strip()
        for line in resources.files("toolkit.serving.tokenizers").joinpath("data/stopwords_en.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    table = str.maketrans("", "", string.punctuation)
    counts: Counter[str] = Counter()
    for label in ("pos", "neg"):
        for f in sorted((polarity_path / label).iterdir()):
            if f.name.startswith("cv9"):
                continue
            for word in f.read_text(encoding="utf-8").split():
                word = word.translate(table).lower()
                if word.isalpha() and word not in stop and len(word) > 1:
                    counts[word] += 1
    return 2 + sum(1 for c in counts.values() if c >= 2)


def test_polarity_train_vocab_size_matches_independent_count(polarity_path, tmp_path):
    expected = _independent_vocab_size(polarity_path)
    out = tmp_path / "vocab.txt"
    result = CliRunner().invoke(app, ["vocab", "build", "--data", str(polarity_path), "--tokenizer", "nltk",
                                      "--min-count", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"vocabulary: {expected} entries" in result.output
    assert "1800" in result.output  # built from the training split only
    assert len(Vocab.from_file(out)) == expected
