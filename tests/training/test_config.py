"""The typed training config: defaults, files, overrides, and errors naming the field."""

from __future__ import annotations

import json

import pytest

from toolkit.training.config import Config, parse_set_options
from toolkit.core.errors import ConfigError


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


def test_preset_overrides_flatten_sections_but_keep_options_whole():
    from toolkit.training.config import preset_overrides

    flat = preset_overrides({"tokenizer": {"name": "nltk", "options": {"stopwords": True}},
                             "training": {"epochs": 10, "lr_schedule": "cosine"}})
    assert flat == {"tokenizer.name": "nltk", "tokenizer.options": {"stopwords": True},
                    "training.epochs": 10, "training.lr_schedule": "cosine"}


def test_train_preset_sits_between_the_config_file_and_the_command_line(tmp_path):
    """`toolkit train --preset`: the architecture's recommended settings replace the file's
    (or the defaults'), and explicit command-line values still win over them."""
    from toolkit.core import registry
    from toolkit.cli.train import build_config

    rec = registry.create("architecture", "cnn-lstm").recommended
    plain = build_config(None, {"architecture.name": "cnn-lstm"})
    assert plain.training.lr_schedule == "constant"  # without --preset: the general defaults
    path = tmp_path / "c.toml"
    Config().with_overrides({"training.epochs": 3, "training.batch_size": 8}).to_file(path)
    config = build_config(path, {"architecture.name": "cnn-lstm", "training.learning_rate": 0.02}, preset=True)
    assert config.architecture.name == "cnn-lstm"
    assert config.training.epochs == rec["training"]["epochs"] != 3  # the preset over the file
    assert config.training.lr_schedule == "cosine" == rec["training"]["lr_schedule"]
    assert config.vocab.ngrams == rec["vocab"]["ngrams"]
    assert config.embedding.options == rec["embedding"]["options"]
    assert config.training.learning_rate == 0.02  # the command line over the preset
    seed = build_config(None, {"architecture.name": "seed-cnn"}, preset=True)
    assert seed.vocab.unknown == "drop" and seed.tokenizer.options == {"stopwords": True}


def test_train_preset_without_recommended_settings_is_refused(tmp_path):
    from toolkit.core import registry
    from toolkit.cli.train import build_config
    from toolkit.core.hookspecs import hookimpl

    class Bare:
        config: dict = {}
        length_policy = "dynamic"

        def build(self, *a, **k):  # never called here
            raise AssertionError

    class Plugin:
        @hookimpl
        def register_architectures(self, register):
            register("bare-test-arch", Bare)

    registry.register_plugin(Plugin(), "bare-test-plugin")
    try:
        with pytest.raises(ConfigError, match="'bare-test-arch' has no recommended settings"):
            build_config(None, {"architecture.name": "bare-test-arch"}, preset=True)
    finally:
        registry.unregister_plugin("bare-test-plugin")
