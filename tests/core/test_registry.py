"""The plugin registry: built-ins, hand-registered plugins, clashes, bad plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

import toolkit
from toolkit.core import hookspecs, registry
from toolkit.cli import app
from toolkit.core.errors import ContractError, RegistryError


class UpperTokenizer:
    def __init__(self, keep_short: bool = False):
        self.keep_short = keep_short

    @property
    def config(self):
        return {"keep_short": self.keep_short}

    def __call__(self, text):
        return [t.upper() for t in text.split() if self.keep_short or len(t) > 2]


class UpperPlugin:
    @toolkit.hookimpl
    def register_tokenizers(self, register):
        register("upper", UpperTokenizer)


def test_hookimpl_is_reexported():
    assert toolkit.hookimpl is hookspecs.hookimpl


def test_builtin_tokenizers_are_registered_by_default_plugins():
    regs = registry.get_components("tokenizer")
    assert {"nltk", "spacy"} <= set(regs)
    assert regs["nltk"].plugin == "toolkit.serving.tokenizers.nltk_style"
    assert regs["nltk"].distribution == "toolkit"
    assert regs["nltk"].version == toolkit.__version__


def test_registered_plugin_appears_in_cli_and_lookup():
    registry.register_plugin(UpperPlugin(), name="upper-plugin", distribution="toolkit-upper", version="9.9")
    try:
        tok = registry.create("tokenizer", "upper", keep_short=True)
        assert tok("a good film") == ["A", "GOOD", "FILM"]
        result = CliRunner().invoke(app, ["plugins", "--json"])
        assert result.exit_code == 0, result.output
        rows = {row["plugin"]: row for row in json.loads(result.output)}
        assert rows["upper-plugin"]["tokenizers"] == ["upper"]
        assert rows["upper-plugin"]["version"] == "9.9"
        assert rows["upper-plugin"]["distribution"] == "toolkit-upper"
        table = CliRunner().invoke(app, ["plugins"])
        assert table.exit_code == 0 and "upper-plugin" in table.output and "upper" in table.output
    finally:
        registry.unregister_plugin("upper-plugin")
    with pytest.raises(RegistryError):
        registry.create("tokenizer", "upper")


def test_plugin_does_not_leak_into_next_test():
    assert "upper" not in registry.get_components("tokenizer")
    assert registry.get_plugin_manager().get_plugin("upper-plugin") is None


def test_unknown_name_lists_the_names_that_exist():
    with pytest.raises(RegistryError) as err:
        registry.create("tokenizer", "nope")
    message = str(err.value)
    assert "'nope'" in message and "nltk" in message and "spacy" in message


def test_clash_names_both_plugins():
    class Clash:
        @toolkit.hookimpl
        def register_tokenizers(self, register):
            register("nltk", UpperTokenizer)

    registry.register_plugin(Clash(), name="clashing-plugin")
    try:
        with pytest.raises(RegistryError) as err:
            registry.get_components("tokenizer")
        message = str(err.value)
        assert "toolkit.serving.tokenizers.nltk_style" in message and "clashing-plugin" in message
    finally:
        registry.unregister_plugin("clashing-plugin")
    assert registry.get_components("tokenizer")["nltk"].plugin == "toolkit.serving.tokenizers.nltk_style"


def test_plugin_whose_hook_raises_is_reported_and_others_still_work():
    class Broken:
        @toolkit.hookimpl
        def register_tokenizers(self, register):
            raise RuntimeError("boom")

    registry.register_plugin(Broken(), name="broken-plugin")
    try:
        with pytest.warns(UserWarning, match="broken-plugin"):
            regs = registry.get_components("tokenizer")
        assert {"nltk", "spacy"} <= set(regs)
        assert "boom" in registry.load_errors()["broken-plugin"]
    finally:
        registry.unregister_plugin("broken-plugin")


def test_factory_breaking_the_contract_names_the_plugin():
    class NoConfig:
        def __call__(self, text):
            return text.split()

    class Bad:
        @toolkit.hookimpl
        def register_tokenizers(self, register):
            register("noconfig", NoConfig)

    registry.register_plugin(Bad(), name="bad-contract")
    try:
        with pytest.raises(ContractError, match="bad-contract.*config"):
            registry.create("tokenizer", "noconfig")
        assert registry.create("tokenizer", "nltk")("A fine film") == ["fine", "film"]
    finally:
        registry.unregister_plugin("bad-contract")


def test_entry_point_plugins_load_by_allow_list_and_import_failures_are_named(tmp_path):
    """A fake installed distribution with two entry points: one imports, one raises."""
    site = tmp_path / "site"
    pkg = site / "fake_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "good.py").write_text(textwrap.dedent('''
        import toolkit
        class Tok:
            config = {}
            def __call__(self, text):
                return text.split()
        @toolkit.hookimpl
        def register_tokenizers(register):
            register("fake-split", Tok)
    '''))
    (pkg / "bad.py").write_text("raise ImportError('missing dependency xyz')\n")
    dist = site / "fake_plugin-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[toolkit]\ngood = fake_plugin.good\nbad = fake_plugin.bad\n")
    script = textwrap.dedent('''
        import json, sys, warnings
        sys.path.insert(0, sys.argv[1])
        from toolkit.core import registry
        warnings.simplefilter("ignore")
        print(json.dumps({"tokenizers": sorted(registry.get_components("tokenizer")),
                          "errors": registry.load_errors(),
                          "rows": registry.plugin_info()}))
    ''')

    def run(allow):
        env = {k: v for k, v in __import__("os").environ.items() if k != "TOOLKIT_LOAD_PLUGINS"}
        if allow is not None:
            env["TOOLKIT_LOAD_PLUGINS"] = allow
        out = subprocess.run([sys.executable, "-c", script, str(site)], capture_output=True, text=True, env=env,
                             check=True)
        return json.loads(out.stdout)

    everything = run(None)
    assert "fake-split" in everything["tokenizers"] and "nltk" in everything["tokenizers"]
    assert "missing dependency xyz" in everything["errors"]["bad"]
    assert "fake-plugin" in everything["errors"]["bad"]
    good_row = next(r for r in everything["rows"] if r["plugin"] == "good")
    assert good_row["distribution"] == "fake-plugin" and good_row["version"] == "1.2.3"

    only_bad_excluded = run("good")
    assert "fake-split" in only_bad_excluded["tokenizers"] and "bad" not in only_bad_excluded["errors"]

    none = run("")
    assert "fake-split" not in none["tokenizers"] and none["errors"] == {}


def test_plugins_cli_json_lists_builtins():
    result = CliRunner().invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0
    rows = {row["plugin"]: row for row in json.loads(result.output)}
    assert rows["toolkit.serving.tokenizers.nltk_style"]["tokenizers"] == ["nltk"]


def test_every_builtin_in_the_table_resolves_to_its_factory():
    from toolkit.builtins import BUILTINS

    for kind, names in BUILTINS.items():
        for name, target in names.items():
            reg = registry.lookup(kind, name)
            assert (reg.plugin, reg.distribution, reg.version) == (target.split(":")[0], "toolkit", toolkit.__version__)
            assert callable(reg.factory) and reg.factory.__module__ == reg.plugin, target
            assert reg.factory.__name__ == target.split(":")[1]


def test_listing_the_builtins_imports_none_of_their_modules():
    """Names, plugin_info and the unknown-name error come from the table: no factory module is imported."""
    script = textwrap.dedent('''
        import json, sys
        from toolkit.core import registry
        from toolkit.core.errors import RegistryError
        names = {kind: sorted(registry.get_components(kind)) for kind in registry.KINDS}
        rows = registry.plugin_info()
        try:
            registry.lookup("architecture", "nope")
        except RegistryError:
            pass
        loaded = sorted(m for m in sys.modules if m.startswith(("toolkit.serving", "toolkit.training")))
        print(json.dumps({"names": names, "rows": len(rows), "loaded": loaded}))
    ''')
    env = {**__import__("os").environ, "TOOLKIT_LOAD_PLUGINS": ""}
    out = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                                    check=True).stdout)
    assert out["names"] == {"tokenizer": ["nltk", "spacy"], "embedding": ["glove", "learned", "word2vec"],
                            "architecture": ["cnn", "cnn-lstm", "seed-cnn"]}
    assert out["rows"] == 7 and out["loaded"] == []
