"""The training config: typed, read from TOML or JSON, overridable field by field.

A config has six sections: ``data``, ``tokenizer``, ``vocab``, ``embedding``,
``architecture`` and ``training``. Every field has a default, so an empty file
(or none) is a valid config. Unknown fields and wrong types are refused with the
dotted name of the field (``training.epochs``). ``toolkit train`` writes the
resolved config as ``config.toml`` next to its results.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from toolkit.core.errors import ConfigError


@dataclass
class DataConfig:
    path: Optional[str] = None  # None: the polarity corpus in its default place
    # The user's own test and dev sets (any corpus format, the same text/label fields; see
    # toolkit.training.splits): with test_path nothing is cut out of `path`, all of it trains; dev_path
    # is the held-out set for the best epoch / early stopping and for calibration.
    test_path: Optional[str] = None
    dev_path: Optional[str] = None
    split_field: str = "split"  # a record field holding train / dev (validation, valid) / test
    fold_field: str = "fold"  # a record field holding the document's fold (an integer; test_fold tests)
    text_field: str = "text"
    label_field: str = "label"
    encoding: str = "utf-8"
    test_share: float = 0.1  # for corpora without predefined folds
    test_fold: int = 9  # for corpora with folds (polarity: cv9*)
    split_seed: int = 0
    # the labels are numbers with an order (star ratings): sorted by value, metrics add MAE and the
    # ordinal view; None: as the corpus says (multi-domain with label_field = "rating": ordered)
    ordered: Optional[bool] = None
    # non-exclusive labels (a document may have several labels, or none: a JSON list in the label field, a
    # textcat_multilabel .spacy file): sigmoid outputs, one probability per label, per-label thresholds;
    # None: chosen from the data (multi-label when some document has other than one label); `toolkit
    # train` records the decision here in config.toml
    multi_label: Optional[bool] = None


@dataclass
class TokenizerConfig:
    name: str = "nltk"
    options: dict = field(default_factory=lambda: {"stopwords": False})


@dataclass
class VocabConfig:
    min_count: int = 2
    max_size: Optional[int] = None
    ngrams: int = 2
    unknown: str = "map"  # out-of-vocabulary words: "map" to <unk>, or "drop" them (toolkit.core.vocab)


@dataclass
class EmbeddingConfig:
    name: str = "learned"
    options: dict = field(default_factory=lambda: {"dim": 16})


@dataclass
class ArchitectureConfig:
    name: str = "cnn"
    options: dict = field(default_factory=dict)


@dataclass
class TrainingConfig:
    epochs: int = 20
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 0.005
    # "constant", or "cosine": decay from learning_rate to 0 over all epochs'
    # steps (the last epochs take small steps, so the epoch training ends on is
    # a settled one rather than one point of a swing).
    lr_schedule: str = "constant"
    # Share of the training split held out to pick the best epoch. The default
    # trains on all of it (measured: on 1,800 reviews a 180-review validation
    # set made the best-epoch choice noisier than it helped). With a validation
    # share, the best epoch by ``monitor`` is kept and training stops after
    # ``early_stopping`` epochs without improvement; without one, training
    # accuracy saturates and cannot rank epochs, so the epoch with the lowest
    # training loss is kept and early stopping is off. A dev set (data.dev_path,
    # or a split field's dev records) is the validation set instead: this is ignored.
    validation_share: float = 0.0
    early_stopping: int = 3  # patience in epochs; 0 turns it off
    monitor: str = "val_accuracy"
    max_len: Optional[int] = None  # None: longest training document, capped at max_len_cap
    max_len_cap: int = 4000
    seed: int = 0
    # Probability calibration fitted after training (toolkit.training.calibrate):
    # "temperature" (one scalar T, applied by the runtime as softmax(log(p) / T)),
    # "length-temperature" (T = exp(a + b log n), n = the text's model ids, fitted
    # on held-out documents and their first lines and 20-word windows) or "none".
    # Fitted on the dev set when there is one, else the validation split when validation_share > 0, else on
    # out-of-fold predictions of calibration_folds extra fits of this config on
    # the training split (3 folds: T within 0.05 of 5 folds' on polarity, 40% of
    # the cost; each fit costs about as much as training). Default by measurement
    # (docs/trust.md): on polarity 10-fold out-of-fold predictions, ECE full /
    # first sentences / 20-word windows: none 0.027 / 0.245 / 0.244, temperature
    # 0.010 / 0.261 / 0.261, length-temperature 0.011 / 0.010 / 0.019.
    calibration: str = "length-temperature"
    calibration_folds: int = 3
    # Short-text corpora: when validation_share is 0 and the training split's
    # median document has fewer than short_text_words words, 10% of it is held
    # out as a validation set (best epoch by it, early stopping; only when every
    # label has at least 10 training documents), decided per
    # run and recorded in config.toml and metrics.json. Measured (docs/trust.md,
    # 20-30-word windows of the polarity reviews, split by review, 3 seeds):
    # 58.1% without, 61.7% with, spaCy's bag-of-words textcat 60.6%; on the full
    # reviews (median ~ 700 words) nothing changes, and holding out 10% there
    # would cost 0.7 points on cv9. 0 turns the rule off.
    short_text_words: int = 200
    # the linear path beside the network (toolkit.training.ensemble): "nb-lr" (NB-scaled binary n-gram
    # logistic regression, C by inner CV) or "none"; its weight in the mixed logits: 0.5, the plain mean
    # (a weight chosen on the short-text rule's 160-1,000 validation documents did worse on two of two
    # corpora measured: kitchen 87.5 vs 88.5, MR fold 0 78.1 vs 78.5); null: chosen on the validation
    # documents when there are some, else 0.5
    linear: str = "nb-lr"
    linear_weight: Optional[float] = 0.5


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    architecture: ArchitectureConfig = field(default_factory=ArchitectureConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    # -- conversion -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config",
                  aliases: dict[str, str] | None = None) -> "Config":
        config = _build(cls, data, prefix="", source=source)
        config.validate(source, aliases)
        return config

    def validate(self, source: str = "config", aliases: dict[str, str] | None = None) -> "Config":
        """Check every field's range (types are checked on reading); raise :class:`ConfigError`
        naming the field (and its command-line option, from ``aliases``), its value and what is
        allowed. Returns ``self``."""
        for section, rules in RULES.items():
            node = getattr(self, section)
            for name in rules:
                check_field(f"{section}.{name}", getattr(node, name), source, aliases)
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> "Config":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist" if not path.exists()
                              else f"config file {path} is not a file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path} is not UTF-8 (byte {exc.start}); save it as UTF-8") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                data = tomllib.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({' '.join(str(exc).split())})") from exc
        except RecursionError as exc:
            raise ConfigError(f"{path}: nested too deeply to read") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a table/object")
        return cls.from_dict(data, source=str(path))

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(_drop_none(self.to_dict()))

    def to_file(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        else:
            path.write_text(self.to_toml(), encoding="utf-8")

    def with_overrides(self, overrides: dict[str, Any], source: str = "overrides",
                       aliases: dict[str, str] | None = None) -> "Config":
        """A copy with dotted fields replaced: ``{"training.epochs": 3, "architecture.options.filters": 64}``.

        ``source`` names where the overrides came from in error messages (``"command line"``);
        ``aliases`` maps dotted fields to the options that set them (``{"training.epochs": "--epochs"}``)."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            parts = dotted.split(".")
            if not all(parts):
                raise ConfigError(f"override {dotted!r}: a field name must look like section.field")
            node = data
            for i, part in enumerate(parts[:-1]):
                if not isinstance(node, dict) or part not in node:
                    raise ConfigError(f"unknown config field {'.'.join(parts[:i + 1])!r} (in override {dotted!r})")
                if node[part] is None and i == len(parts) - 2:
                    node[part] = {}
                node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"config field {'.'.join(parts[:-1])!r} is not a section (in override {dotted!r})")
            node[parts[-1]] = value
        return Config.from_dict(data, source=source, aliases=aliases)


_SECTIONS: dict[str, type] = {
    "data": DataConfig, "tokenizer": TokenizerConfig, "vocab": VocabConfig,
    "embedding": EmbeddingConfig, "architecture": ArchitectureConfig, "training": TrainingConfig,
}


def preset_overrides(recommended: dict[str, Any]) -> dict[str, Any]:
    """An architecture's ``recommended`` settings (shaped like the config's sections) as dotted
    overrides: ``{"training": {"epochs": 10}}`` -> ``{"training.epochs": 10}``. A component's
    ``options`` stay one value, so they replace the options in force rather than merge into them."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and key != "options":
                walk(f"{prefix}{key}.", value)
            else:
                out[f"{prefix}{key}"] = value

    walk("", recommended)
    return out


def check_encoding(value: Any) -> bool:
    """Whether ``value`` names a text codec Python knows (``utf-8``, ``latin-1``, ...)."""
    if not isinstance(value, str) or not value:
        return False
    try:
        return bool(getattr(codecs.lookup(value), "_is_text_encoding", True))  # not bytes-to-bytes (hex, zlib)
    except LookupError:
        return False


def _int_at_least(low: int, none_ok: bool = False):
    return lambda v: (none_ok and v is None) or (isinstance(v, int) and not isinstance(v, bool) and v >= low)


def _name(v: Any) -> bool:
    return isinstance(v, str) and v.strip() == v and v != ""


def _one_of(*choices: str):
    return lambda v: v in choices


#: Optimizers and schedules the training loop builds (toolkit.training.loop).
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
LR_SCHEDULES = ("constant", "cosine")
UNKNOWN_WORDS = ("map", "drop")
#: Range checks, section -> field -> (check, what is allowed). Types are checked on reading.
RULES: dict[str, dict[str, tuple[Any, str]]] = {
    "data": {
        "text_field": (_name, "a non-empty field name"),
        "label_field": (_name, "a non-empty field name"),
        "split_field": (_name, "a non-empty field name"),
        "fold_field": (_name, "a non-empty field name"),
        "encoding": (check_encoding, "a text encoding Python knows (e.g. utf-8, latin-1)"),
        "test_share": (lambda v: 0.0 < v < 1.0, "a number > 0 and < 1"),
        "test_fold": (_int_at_least(0), "an integer >= 0"),
        "split_seed": (lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)"),
    },
    "tokenizer": {"name": (_name, "a tokenizer name (see `toolkit plugins`)")},
    "vocab": {
        "min_count": (_int_at_least(1), "an integer >= 1"),
        "max_size": (_int_at_least(3, none_ok=True), "an integer >= 3 (<pad>, <unk> and one word) or null"),
        "ngrams": (lambda v: 1 <= v <= 10, "an integer from 1 to 10"),
        "unknown": (_one_of(*UNKNOWN_WORDS), f"one of {', '.join(UNKNOWN_WORDS)}"),
    },
    "embedding": {"name": (_name, "an embedding name (see `toolkit plugins`)")},
    "architecture": {"name": (_name, "an architecture name (see `toolkit plugins`)")},
    "training": {
        "epochs": (_int_at_least(1), "an integer >= 1"),
        "batch_size": (_int_at_least(1), "an integer >= 1"),
        "optimizer": (_one_of(*OPTIMIZERS), f"one of {', '.join(OPTIMIZERS)}"),
        "learning_rate": (lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
        "lr_schedule": (_one_of(*LR_SCHEDULES), f"one of {', '.join(LR_SCHEDULES)}"),
        "validation_share": (lambda v: 0.0 <= v < 1.0, "a number >= 0 and < 1 (0: no validation set)"),
        "early_stopping": (_int_at_least(0), "an integer >= 0 (0: off)"),
        "monitor": (_name, "a logged metric name (e.g. val_accuracy, val_loss)"),
        "max_len": (_int_at_least(1, none_ok=True), "an integer >= 1, or null for the longest training document"),
        "max_len_cap": (_int_at_least(1), "an integer >= 1"),
        "seed": (lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)"),
        "calibration": (_one_of("none", "temperature", "length-temperature"),
                        "one of none, temperature, length-temperature"),
        "calibration_folds": (_int_at_least(2), "an integer >= 2 (out-of-fold calibration needs two folds)"),
        "short_text_words": (_int_at_least(0), "an integer >= 0 (0: off)"),
        "linear": (_one_of("nb-lr", "none"), "one of nb-lr, none"),
        "linear_weight": (lambda v: v is None or 0.0 <= v <= 1.0, "a number from 0 to 1, or null (chosen on "
                                                                  "validation documents)"),
    },
}


def check_field(dotted: str, value: Any, source: str = "command line",
                aliases: dict[str, str] | None = None) -> Any:
    """Check one setting against the config's type and range rules, where it enters (a command-line
    option that is not read through a config: ``toolkit vocab build --min-count``); returns the value
    (an int given for a float field as a float).

    Raises:
        ConfigError: ``"<source>: --min-count (vocab.min_count) must be an integer >= 1, got 0"``.
    """
    section, _, name = dotted.partition(".")
    node_cls = {f.name: f.type for f in dataclasses.fields(Config)}.get(section)
    hints = typing.get_type_hints(_SECTIONS[section]) if section in _SECTIONS else {}
    if name not in hints or node_cls is None:
        raise ConfigError(f"unknown config field {dotted!r}")
    label = f"{aliases[dotted]} ({dotted})" if aliases and dotted in aliases else f"field {dotted!r}"
    value = _check_value(value, hints[name], dotted, source, label=label)
    rule = RULES.get(section, {}).get(name)
    if rule is not None:
        check, allowed = rule
        try:
            ok = check(value)
        except Exception:  # a check that cannot even run on the value: refused
            ok = False
        if not ok:
            raise ConfigError(f"{source}: {label} must be {allowed}, got {value!r}")
    return value


def _drop_none(value: Any) -> Any:
    """TOML has no null: fields left at None are omitted (and default back to None)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_value(value: Any, tp: Any, name: str, source: str, label: str | None = None) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(value, inner[0], name, source, label)
    expected = origin or tp
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool):
        ok = False
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ConfigError(
            f"{source}: {label or f'field {name!r}'} must be {_type_name(expected)}, "
            f"got {type(value).__name__} {value!r}"
        )
    return value


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: section {prefix.rstrip('.') or '(top)'!r} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(
            f"{source}: unknown field {prefix + unknown[0]!r}; fields of "
            f"{prefix.rstrip('.') or 'the config'}: {', '.join(fields)}"
        )
    kwargs = {}
    for key, value in data.items():
        tp = hints[key]
        name = prefix + key
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, name + ".", source)
        else:
            kwargs[key] = _check_value(value, tp, name, source)
    return cls(**kwargs)


def parse_set_options(pairs: list[str] | None) -> dict[str, Any]:
    """``--set training.epochs=3`` pairs -> overrides; values parsed as JSON where possible."""
    overrides: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r} must look like section.field=value")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if not key or not all(key.split(".")):
            raise ConfigError(f"--set {pair!r} must look like section.field=value")
        try:
            overrides[key] = json.loads(raw, parse_constant=lambda name: raw)  # NaN/Infinity stay text
        except (json.JSONDecodeError, RecursionError):
            overrides[key] = raw
    return overrides
