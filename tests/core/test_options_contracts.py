"""toolkit.core.options (the one place for option checks) and toolkit.core.contracts (base classes and the
duck-typed contract check the registry runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import toolkit
from boundary import assert_serving_only, report_code
from spacy_helpers import run_python
from toolkit.core import registry
from toolkit.core.contracts import (
    Architecture,
    EmbeddingProvider,
    Tokenizer,
    check_contract,
    contract_problems,
)
from toolkit.core.errors import ConfigError, ContractError, EmbeddingError, RegistryError
from toolkit.core.options import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_int_list,
    check_path,
    check_str,
    describe_component,
    option_error,
)

WHO = "tokenizer 'demo'"


def message(excinfo) -> str:
    return str(excinfo.value)


# ---------------------------------------------------------------------------
# toolkit.core.options: every checker's message
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("call, expected", [
    (lambda: check_int(0, "n", minimum=1, component=WHO),
     "[E040] tokenizer 'demo': option 'n' must be an integer >= 1, got 0"),
    (lambda: check_int(True, "n", minimum=1, component=WHO),
     "[E040] tokenizer 'demo': option 'n' must be an integer >= 1, got True"),
    (lambda: check_int("2", "n", component=WHO), "[E040] tokenizer 'demo': option 'n' must be an integer, got '2'"),
    (lambda: check_int(11, "n", minimum=1, maximum=10, component=WHO),
     "[E040] tokenizer 'demo': option 'n' must be an integer in [1, 10], got 11"),
    (lambda: check_int(2.0, "n", maximum=10), "[E040] option 'n' must be an integer <= 10, got 2.0"),
    (lambda: check_float(1.0, "rate", minimum=0, below=1, component=WHO),
     "[E040] tokenizer 'demo': option 'rate' must be a number in [0, 1), got 1.0"),
    (lambda: check_float(0, "alpha", above=0.0, component=WHO),
     "[E040] tokenizer 'demo': option 'alpha' must be a number > 0.0, got 0"),
    (lambda: check_float(float("nan"), "x", component=WHO), "[E040] tokenizer 'demo': option 'x' must be a number, got nan"),
    (lambda: check_float(False, "x", minimum=0, maximum=2), "[E040] option 'x' must be a number in [0, 2], got False"),
    (lambda: check_float(3, "x", above=0, maximum=2), "[E040] option 'x' must be a number in (0, 2], got 3"),
    (lambda: check_int(True, "max_size", minimum=1, optional=True),
     "[E040] option 'max_size' must be an integer >= 1 or None, got True"),
    (lambda: check_int(1, "folds", minimum=2, subject="training.calibration_folds", hint="or set calibration off"),
     "[E040] training.calibration_folds must be an integer >= 2, got 1; or set calibration off"),
    (lambda: check_float(-1, "grace", minimum=0, optional=True, subject="grace (seconds)", component=WHO),
     "[E040] tokenizer 'demo': grace (seconds) must be a number >= 0 or None, got -1"),
    (lambda: check_bool(1, "lowercase", component=WHO),
     "[E040] tokenizer 'demo': option 'lowercase' must be true or false, got 1"),
    (lambda: check_bool("yes", "binary", null="detect", component=WHO),
     "[E040] tokenizer 'demo': option 'binary' must be true, false or null (detect), got 'yes'"),
    (lambda: check_choice("median", "pooling", ("max", "avg", "max+avg"), component=WHO),
     "[E040] tokenizer 'demo': option 'pooling' must be one of 'max', 'avg' or 'max+avg', got 'median'"),
    (lambda: check_choice(2, "sg", {0: "CBOW", 1: "skip-gram"}, component=WHO),
     "[E040] tokenizer 'demo': option 'sg' must be 0 (CBOW) or 1 (skip-gram), got 2"),
    (lambda: check_choice(True, "sg", (0, 1)), "[E040] option 'sg' must be 0 or 1, got True"),
    (lambda: check_choice("b", "only", ("a",)), "[E040] option 'only' must be 'a', got 'b'"),
    (lambda: check_int_list("3", "kernel_sizes", minimum=1, component=WHO),
     "[E040] tokenizer 'demo': option 'kernel_sizes' must be a list of integers, got '3'"),
    (lambda: check_int_list([3, 0], "kernel_sizes", minimum=1, component=WHO),
     "[E040] tokenizer 'demo': option 'kernel_sizes' must hold integers >= 1, got 0 in [3, 0]"),
    (lambda: check_int_list([], "dense", component=WHO), "[E040] tokenizer 'demo': option 'dense' must not be empty"),
    (lambda: check_str(5, "lang", what="a spaCy language code such as 'en'", component=WHO),
     "[E040] tokenizer 'demo': option 'lang' must be a spaCy language code such as 'en', got 5"),
    (lambda: check_str("", "name"), "[E040] option 'name' must be a non-empty string, got ''"),
    (lambda: check_path(None, "path", required=True, what="a vector file", component=WHO),
     "[E040] tokenizer 'demo': option 'path' (a vector file) is required"),
    (lambda: check_path(3, "path", component=WHO), "[E040] tokenizer 'demo': option 'path' must be a file path, got 3"),
])
def test_checker_messages(call, expected):
    with pytest.raises(ConfigError) as info:
        call()
    assert message(info) == expected
    assert "\n" not in message(info)


def test_checkers_return_normalised_values(tmp_path):
    assert check_int(np.int64(3), "n", minimum=1) == 3 and type(check_int(np.int64(3), "n")) is int
    assert check_int(None, "n", optional=True) is None and check_float(None, "x", optional=True) is None
    assert check_float(1, "x") == 1.0 and type(check_float(np.float32(0.5), "x")) is float
    assert check_bool(None, "binary", null="detect") is None and check_bool(False, "b") is False
    assert check_choice(1, "sg", {0: "CBOW", 1: "skip-gram"}) == 1
    assert check_choice(True, "flag", (True, False)) is True  # a bool is fine where bools are the choices
    assert check_int_list(3, "k") == [3] and check_int_list((2, np.int32(4)), "k") == [2, 4]
    assert check_int_list([], "dense", allow_empty=True) == []
    assert check_path(tmp_path / "v.txt", "path") == str(tmp_path / "v.txt")
    assert check_path("", "path") is None and check_path(None, "path") is None
    assert check_str("en", "lang") == "en"


def test_the_error_class_comes_from_the_component_or_the_caller():
    class Provider:
        kind, name, error_class = "embedding", "demo", EmbeddingError

    with pytest.raises(EmbeddingError, match=r"^\[E030\] embedding 'demo': option 'dim' must be an integer >= 1, got 0$"):
        check_int(0, "dim", minimum=1, component=Provider())
    with pytest.raises(EmbeddingError, match="embedding 'x': option 'dim'"):
        check_int(0, "dim", minimum=1, component="embedding 'x'", error=EmbeddingError)
    err = option_error("bag", "needs pooling='max'", component=Provider())
    assert isinstance(err, EmbeddingError) and str(err) == "[E030] embedding 'demo': option 'bag' needs pooling='max'"
    assert describe_component(Provider()) == "embedding 'demo'" and describe_component(None) == ""


def test_builtin_messages_name_the_component():
    with pytest.raises(ConfigError, match=r"tokenizer 'nltk': option 'min_length' must be an integer >= 1, got 0"):
        registry.create("tokenizer", "nltk", min_length=0)
    with pytest.raises(EmbeddingError, match=r"embedding 'learned': option 'dim' must be an integer >= 1, got -3"):
        registry.create("embedding", "learned", dim=-3)
    with pytest.raises(ConfigError, match=r"architecture 'cnn': option 'dropout' must be a number in \[0, 1\), got 1.5"):
        registry.create("architecture", "cnn", dropout=1.5)
    with pytest.raises(ConfigError, match=r"architecture 'cnn-lstm': option 'kernel_size' = 5 is wider than chunk_len"):
        registry.create("architecture", "cnn-lstm", chunk_len=4, kernel_size=5)


def test_options_and_contracts_import_the_standard_library_only():
    code = report_code() + (
        "import json, toolkit.core.options, toolkit.core.contracts; print(json.dumps(_boundary_report(('numpy', 'spacy'))))")
    assert_serving_only(run_python(code, env={"TOOLKIT_LOAD_PLUGINS": ""}))  # and not even numpy or spaCy


# ---------------------------------------------------------------------------
# toolkit.core.contracts: base classes
# ---------------------------------------------------------------------------
class Shout(Tokenizer):
    name = "shout"

    def __init__(self, lowercase: bool = True, stops: list | None = None) -> None:
        super().__init__(lowercase=check_bool(lowercase, "lowercase", component=self),
                         stops=list(stops or []))

    def __call__(self, text):
        words = self.text_of(text).split()
        return [w.lower() if self.lowercase else w for w in words if w not in self.stops]


class Fixed(EmbeddingProvider):
    name = "fixed"
    repr_options = ("dim",)

    def __init__(self, dim: int = 4, trainable: bool = False, seed: int = 0) -> None:
        super().__init__(dim=check_int(dim, "dim", minimum=1, component=self),
                         trainable=check_bool(trainable, "trainable", component=self), seed=seed)

    def matrix(self, vocab, corpus=None):
        self.report = {"provider": self.name}
        return np.zeros((len(vocab), self.dim), np.float32)


class Tiny(Architecture):
    name = "tiny"
    length_policy = "dynamic"
    RECOMMENDED = {"training": {"epochs": 1}}

    def __init__(self, units: int = 2) -> None:
        super().__init__(units=check_int(units, "units", minimum=1, component=self))

    def build(self, vocab_size, dim, weights=None, trainable=True, max_len=None, labels=("N", "P")):
        return self.check_build_args(vocab_size, dim, weights, max_len, labels)


def test_base_class_captures_options_once_as_config():
    tok = Shout(lowercase=False, stops=["a"])
    assert tok.lowercase is False and tok.stops == ["a"]
    assert tok.config == {"lowercase": False, "stops": ["a"]}
    tok.config["stops"].append("changed")  # config is a copy: the component cannot be changed through it
    assert tok.config == {"lowercase": False, "stops": ["a"]}
    assert Shout(**tok.config) == tok and hash(Shout(**tok.config)) == hash(tok)
    assert Shout() != tok and tok != object()
    assert repr(tok) == "Shout(lowercase=False, stops=['a'])"
    assert tok("A b C") == ["A", "b", "C"] and Shout()("A b") == ["a", "b"]
    assert tok.whitespace_separable is False
    json.dumps(tok.config)


def test_base_class_repr_options_recommended_and_defaults():
    emb = Fixed(dim=3)
    assert repr(emb) == "Fixed(dim=3)" and emb.report == {} and emb.trainable is False
    assert emb.matrix(["<pad>", "<unk>", "x"]).shape == (3, 3) and emb.report == {"provider": "fixed"}
    arch = Tiny()
    assert (arch.min_len, arch.needs_token_weights, arch.length_policy) == (1, False, "dynamic")
    rec = arch.recommended
    rec["training"]["epochs"] = 99
    assert arch.recommended == {"training": {"epochs": 1}}  # a copy each time
    assert {Tiny(): 1}[Tiny()] == 1  # hashable, equal by config
    assert Tiny(units=3) != Tiny(units=2)


def test_option_error_and_check_build_args():
    with pytest.raises(EmbeddingError, match=r"^\[E030\] embedding 'fixed': option 'dim' must be an integer >= 1"):
        Fixed(dim=0)
    err = Tiny().option_error("units", "is odd")
    assert isinstance(err, ConfigError) and str(err) == "[E040] architecture 'tiny': option 'units' is odd"
    assert Tiny().build(10, np.int64(4), np.zeros((10, 4)), max_len=5)[:2] == (10, 4)
    with pytest.raises(ConfigError, match="architecture 'tiny': needs at least 2 labels"):
        Tiny().build(10, 4, labels=["ONLY"])
    with pytest.raises(ConfigError, match=r"initial embedding weights have shape \(3, 3\)"):
        Tiny().build(10, 4, np.zeros((3, 3)))
    with pytest.raises(ConfigError, match="vocab_size must be an integer >= 3"):
        Tiny().build(True, 4)


def test_text_of():
    class Doc:
        text = "a Doc"

    assert Tokenizer.text_of("s") == "s" and Tokenizer.text_of(Doc()) == "a Doc"
    with pytest.raises(TypeError, match="takes a str or a spaCy Doc, got int"):
        Tokenizer.text_of(3)


def test_builtins_and_the_example_plugin_use_the_base_classes():
    assert isinstance(registry.create("tokenizer", "nltk"), Tokenizer)
    assert isinstance(registry.create("tokenizer", "spacy"), Tokenizer)
    assert isinstance(registry.create("embedding", "learned"), EmbeddingProvider)
    assert isinstance(registry.create("embedding", "word2vec"), EmbeddingProvider)
    for name in ("cnn", "seed-cnn", "cnn-lstm"):
        assert isinstance(registry.create("architecture", name), Architecture)
    assert (toolkit.Tokenizer, toolkit.EmbeddingProvider, toolkit.Architecture) == (
        Tokenizer, EmbeddingProvider, Architecture)


# ---------------------------------------------------------------------------
# The contract check: base-class, duck-typed and broken components
# ---------------------------------------------------------------------------
class DuckTokenizer:
    """Written against the duck-typed API: no base class."""

    def __init__(self, upper: bool = False):
        self.upper = upper

    @property
    def config(self):
        return {"upper": self.upper}

    def __call__(self, text):
        return [w.upper() if self.upper else w for w in getattr(text, "text", text).split()]


class DuckEmbedding:
    dim, trainable, config = 4, True, {}

    def matrix(self, vocab, corpus):
        return None


class DuckArchitecture:
    config, length_policy = {}, "fixed"

    def build(self, vocab_size, dim, weights, trainable, max_len, labels):
        return None


def test_check_contract_accepts_base_classes_and_duck_types():
    for kind, obj in [("tokenizer", Shout()), ("embedding", Fixed()), ("architecture", Tiny()),
                      ("tokenizer", DuckTokenizer()), ("embedding", DuckEmbedding()),
                      ("architecture", DuckArchitecture())]:
        assert contract_problems(kind, obj) == [], (kind, obj)
        assert check_contract(kind, obj) is obj


@pytest.mark.parametrize("kind, obj, fragment", [
    ("tokenizer", object(), "has no __call__, config"),
    ("embedding", DuckTokenizer(), "has no matrix, dim, trainable"),
    ("architecture", type("NoPolicy", (), {"config": {}, "build": lambda self: None})(), "has no length_policy"),
    ("tokenizer", type("ListConfig", (), {"config": [], "__call__": lambda self, t: []})(),
     "config must be a dict, got list"),
    ("embedding", type("FloatDim", (DuckEmbedding,), {"dim": 4.0})(), "dim must be a positive integer, got 4.0"),
    ("architecture", type("Wobbly", (DuckArchitecture,), {"length_policy": "elastic"})(),
     "length_policy must be 'fixed' or 'dynamic', got 'elastic'"),
    ("architecture", type("ZeroLen", (DuckArchitecture,), {"min_len": 0})(), "min_len must be a positive integer"),
    ("embedding", type("NotAMethod", (DuckEmbedding,), {"matrix": None})(), "matrix must be a method"),
])
def test_check_contract_names_what_is_broken(kind, obj, fragment):
    with pytest.raises(ContractError) as info:
        check_contract(kind, obj, where=f"{kind} 'x' from plugin 'p' (dist)")
    assert message(info).startswith(f"[E003] {kind} 'x' from plugin 'p' (dist) breaks the {kind} contract: ")
    assert fragment in message(info)
    with pytest.raises(ValueError, match="unknown component kind"):
        contract_problems("sampler", obj)


class NoSuper(Tokenizer):
    def __init__(self):
        self.lowercase = True  # forgot super().__init__(**options)

    def __call__(self, text):
        return []


class NoMatrix(EmbeddingProvider):  # matrix() is abstract
    def __init__(self):
        super().__init__(dim=2)


@pytest.fixture
def plugin_of():
    """Register a plugin object providing ``{kind: {name: factory}}``; unregistered afterwards."""
    names = []

    def register(name, components):
        class Plugin:
            @toolkit.hookimpl
            def register_tokenizers(self, register):
                for n, f in components.get("tokenizer", {}).items():
                    register(n, f)

            @toolkit.hookimpl
            def register_embeddings(self, register):
                for n, f in components.get("embedding", {}).items():
                    register(n, f)

            @toolkit.hookimpl
            def register_architectures(self, register):
                for n, f in components.get("architecture", {}).items():
                    register(n, f)

        registry.register_plugin(Plugin(), name=name, distribution=f"toolkit-{name}", version="1.0")
        names.append(name)

    try:
        yield register
    finally:
        for name in names:
            registry.unregister_plugin(name)


def test_registry_create_runs_the_check_for_every_kind_of_component(plugin_of):
    plugin_of("mixed", {
        "tokenizer": {"shout": Shout, "duck": DuckTokenizer, "nosuper": NoSuper},
        "embedding": {"fixed": Fixed, "duck-emb": DuckEmbedding, "nomatrix": NoMatrix},
        "architecture": {"tiny": Tiny, "duck-arch": DuckArchitecture},
    })
    assert registry.create("tokenizer", "shout", lowercase=False)("A b") == ["A", "b"]
    assert registry.create("tokenizer", "duck", upper=True)("a b") == ["A", "B"]  # duck typing keeps working
    assert registry.create("embedding", "fixed").dim == 4
    assert registry.create("embedding", "duck-emb").matrix([], []) is None
    assert registry.create("architecture", "tiny").length_policy == "dynamic"
    assert registry.create("architecture", "duck-arch").length_policy == "fixed"
    with pytest.raises(EmbeddingError, match="embedding 'fixed': option 'trainable'"):
        registry.create("embedding", "fixed", trainable="no")
    with pytest.raises(ContractError, match=r"tokenizer 'nosuper' from plugin 'mixed' \(toolkit-mixed\) breaks the "
                                            r"tokenizer contract: NoSuper.__init__ did not call super"):
        registry.create("tokenizer", "nosuper")
    with pytest.raises(ContractError, match=r"embedding 'nomatrix' from plugin 'mixed' \(toolkit-mixed\) breaks the "
                                            r"embedding contract: NoMatrix does not implement matrix"):
        registry.create("embedding", "nomatrix")
    with pytest.raises(RegistryError, match="rejected its options"):
        registry.create("architecture", "tiny", depth=3)
