"""Training batches under the dynamic length policy, and the short-text rule (training.short_text_words)."""

from __future__ import annotations

import numpy as np

from corpora import learnable_corpus, tiny_config
from toolkit.training.loop import BatchSequence


def _widths(seq: BatchSequence) -> list[int]:
    return [seq.batch(i)[0].shape[1] for i in range(len(seq))]


def test_first_two_batches_differ_in_width_when_any_batch_does():
    ids = [[5] * 30] * 64 + [[5] * 7] * 32  # two full-width batches, one narrow one
    seq = BatchSequence(ids, [0] * 96, batch_size=32, max_len=20, policy="dynamic", min_len=1, shuffle=False, seed=0)
    widths = _widths(seq)
    assert sorted(widths) == [7, 20, 20]
    assert widths[0] != widths[1]


def test_batches_are_left_alone_when_the_first_two_already_differ_or_all_are_equal():
    ids = [[5] * 3] * 32 + [[5] * 9] * 32
    seq = BatchSequence(ids, [0] * 64, batch_size=32, max_len=20, policy="dynamic", min_len=1, shuffle=False, seed=0)
    assert _widths(seq) == [3, 9]
    same = BatchSequence([[5] * 30] * 64, [0] * 64, 32, 20, "dynamic", 1, shuffle=False, seed=0)
    assert _widths(same) == [20, 20]


def test_training_with_a_short_max_len_runs(tmp_path):
    """Regression: max_len=20 used to fail with "generator yielded (32, 17) where (None, 20) expected"."""
    from toolkit.training.experiment import train_model

    data = learnable_corpus(tmp_path / "reviews.jsonl")
    metrics = train_model(tiny_config(data, epochs=1, **{"training.max_len": 20}), tmp_path / "m", progress=False)
    assert metrics["n_test"] > 0 and np.isfinite(metrics["accuracy"])


def test_short_text_rule_holds_out_a_validation_set_for_short_texts_only(tmp_path):
    from toolkit.training.corpus import load_corpus
    from toolkit.training.experiment import short_text_rule

    data = learnable_corpus(tmp_path / "reviews.jsonl")
    corpus = load_corpus(data)
    config = tiny_config(data, **{"training.short_text_words": 200})
    resolved, record = short_text_rule(config, corpus)
    assert resolved.training.validation_share == 0.1
    assert record["median_words"] < 200 and record["threshold"] == 200
    # long texts, an explicit validation share, or the rule turned off: unchanged
    assert short_text_rule(tiny_config(data, **{"training.short_text_words": 5}), corpus) == (
        tiny_config(data, **{"training.short_text_words": 5}), None)
    explicit = tiny_config(data, **{"training.short_text_words": 200, "training.validation_share": 0.25})
    assert short_text_rule(explicit, corpus)[0].training.validation_share == 0.25
    assert short_text_rule(tiny_config(data), corpus)[1] is None  # tiny_config turns it off


def test_short_text_rule_is_recorded_by_training(tmp_path):
    import json

    from toolkit.training.experiment import train_model

    data = learnable_corpus(tmp_path / "reviews.jsonl")
    metrics = train_model(tiny_config(data, epochs=1, **{"training.short_text_words": 200}), tmp_path / "m",
                          progress=False)
    assert metrics["short_text_rule"]["validation_share"] == 0.1
    assert "validation_share = 0.1" in (tmp_path / "m" / "config.toml").read_text()
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["short_text_rule"]["median_words"] < 200
