"""The typed training config: defaults, files, overrides, and errors naming the field."""

from __future__ import annotations

import json

import pytest

from toolkit.config import Config, parse_set_options
from toolkit.errors import ConfigError


def test_toml_round_trip(tmp_path):
    config = Config().with_overrides({
        "training.epochs": 3, "architecture.name": "cnn-lstm", "architecture.options": {"chunk_len": 50},
        "embedding.options.dim": 64, "data.path": "reviews.jsonl", "vocab.max_size": 5000,
    })
    path = tmp_path / "config.toml"
    config.to_file(path)
    again = Config.from_file(path)
    assert again == config
    assert again.architecture.options == {"chunk_len": 50}
    assert again.vocab.max_size == 5000


def test_json_round_trip_and_none_fields(tmp_path):
    config = Config()
    path = tmp_path / "config.json"
    config.to_file(path)
    assert json.loads(path.read_text())["data"]["path"] is None
    assert Config.from_file(path) == config


def test_empty_file_is_the_default_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("")
    assert Config.from_file(path) == Config()


def test_unknown_field_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[training]\nepoch = 3\n")
    with pytest.raises(ConfigError, match=r"c\.toml: unknown field 'training.epoch'.*epochs"):
        Config.from_file(path)
    path.write_text("[trainer]\nepochs = 3\n")
    with pytest.raises(ConfigError, match="unknown field 'trainer'"):
        Config.from_file(path)


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[training]\nepochs = "ten"\n')
    with pytest.raises(ConfigError, match=r"field 'training.epochs' must be int, got str 'ten'"):
        Config.from_file(path)
    path.write_text("[training]\nlearning_rate = 1\n")  # an int where a float is expected is fine
    assert Config.from_file(path).training.learning_rate == 1.0
    path.write_text("[vocab]\nmin_count = true\n")
    with pytest.raises(ConfigError, match="vocab.min_count"):
        Config.from_file(path)


def test_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[training\n")
    with pytest.raises(ConfigError, match=r"c\.toml: not valid TOML"):
        Config.from_file(path)


def test_cli_style_overrides():
    overrides = parse_set_options(["training.epochs=4", "architecture.options.kernel_sizes=[3,5]",
                                   "tokenizer.name=spacy"])
    config = Config().with_overrides(overrides)
    assert config.training.epochs == 4
    assert config.architecture.options["kernel_sizes"] == [3, 5]
    assert config.tokenizer.name == "spacy"
    with pytest.raises(ConfigError, match="unknown config field 'train'"):
        Config().with_overrides({"train.epochs": 3})
    with pytest.raises(ConfigError, match="must look like"):
        parse_set_options(["epochs"])
