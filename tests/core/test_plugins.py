"""Third-party plugins (issue 7): the example plugin toolkit-fasttext installed
and used end to end, the hooks' documentation, the `toolkit plugins new`
skeleton, and broken plugins that must not take the toolkit down.

Registry basics (hand-registered plugins, a clash, a hook that raises, a
factory breaking the contract, entry points and the allow-list) are in
tests/core/test_registry.py; here the same failures come through *installed* entry
points, the `toolkit plugins` listing and `toolkit train`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.core import hookspecs, registry
from toolkit.cli import app
from toolkit.core.errors import ContractError, RegistryError

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "plugins.md"
EXAMPLE = "toolkit-fasttext"
EXAMPLE_DIR = REPO / "plugins" / EXAMPLE
runner = CliRunner()


def _fail_or_skip(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def fasttext_plugin(monkeypatch):
    """The installed example plugin, loaded through its entry point (and nothing else)."""
    try:
        version = metadata.version(EXAMPLE)
    except metadata.PackageNotFoundError:
        _fail_or_skip(f"{EXAMPLE} is not installed; `make test` installs it (pip install -e ./plugins/{EXAMPLE})")
    monkeypatch.setenv("TOOLKIT_LOAD_PLUGINS", "fasttext")
    registry.reset()
    return version


# ---------------------------------------------------------------------------
# The example plugin, installed
# ---------------------------------------------------------------------------
def test_example_plugin_is_installed_and_listed(fasttext_plugin):
    entry_points = {ep.name: ep for ep in metadata.entry_points(group="toolkit")}
    assert entry_points["fasttext"].value == "toolkit_fasttext.plugin"
    assert entry_points["fasttext"].dist.metadata["Name"] == EXAMPLE

    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["plugin"]: row for row in json.loads(result.stdout)}
    row = rows["fasttext"]
    assert (row["distribution"], row["version"], row["error"]) == (EXAMPLE, fasttext_plugin, None)
    assert row["embeddings"] == ["fasttext"] and row["architectures"] == ["bilstm"] and row["tokenizers"] == []
    assert rows["toolkit.training.architectures.cnn"]["architectures"] == ["cnn", "seed-cnn"]  # built-ins still there

    table = runner.invoke(app, ["plugins"])
    assert table.exit_code == 0, table.output
    line = next(line for line in table.stdout.splitlines() if "toolkit-fasttext" in line)
    assert "fasttext" in line and fasttext_plugin in line and "bilstm" in line


def test_example_plugin_loads_only_when_allowed(monkeypatch):
    monkeypatch.setenv("TOOLKIT_LOAD_PLUGINS", "")
    registry.reset()
    assert "bilstm" not in registry.get_components("architecture")
    result = runner.invoke(app, ["plugins", "--json"])
    assert "fasttext" not in {row["plugin"] for row in json.loads(result.stdout)}


@pytest.mark.slow
def test_fasttext_bilstm_trains_exports_and_scores_in_spacy(fasttext_plugin, tmp_path, monkeypatch):
    """`toolkit train --embedding fasttext --architecture bilstm` (tiny data, one epoch),
    `toolkit export`, then nlp.add_pipe("review_sentiment") with the plugin *not* loaded:
    serving needs only the tokenizer."""
    import spacy

    from corpora import learnable_corpus

    corpus = learnable_corpus(tmp_path / "reviews.jsonl", n_per_label=40)
    model_dir, bundle = tmp_path / "model", tmp_path / "bundle"
    result = runner.invoke(app, [
        "train", "--data", str(corpus), "--out", str(model_dir), "--quiet",
        "--embedding", "fasttext", "-E", "dim=16", "-E", "epochs=3", "-E", "bucket=5000", "-E", "progress=false",
        "--architecture", "bilstm", "-A", "units=8", "-A", "dropout=0.0",
        # one batch per epoch and no validation split: each distinct batch shape costs a (slow) LSTM graph trace
        "--epochs", "1", "--batch-size", "128", "--set", "training.validation_share=0",
        "--set", "vocab.min_count=1", "--set", "training.max_len=40",
    ])
    assert result.exit_code == 0, result.output
    meta = json.loads((model_dir / "model.json").read_text())
    for kind in ("embedding", "architecture"):
        assert (meta[kind]["plugin"], meta[kind]["distribution"], meta[kind]["version"]) == \
            ("fasttext", EXAMPLE, fasttext_plugin)
    assert meta["length_policy"] == "dynamic"
    report = meta["embedding"]["report"]
    assert report["provider"] == "fasttext" and report["from_ngrams"] > 0  # bigram tokens: vectors from n-grams

    result = runner.invoke(app, ["export", str(model_dir), "--out", str(bundle)])
    assert result.exit_code == 0, result.output
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["parity"]["passed"] and info["onnx"]["input"]["shape"] == ["batch", "length"]
    for kind in ("embedding", "architecture"):  # the bundle keeps who provided each component
        assert (info[kind]["distribution"], info[kind]["version"]) == (EXAMPLE, fasttext_plugin)
    assert info["tokenizer"]["distribution"] == "toolkit"
    assert "toolkit-fasttext" in (bundle / "README.md").read_text()

    # Serving: the plugin is not loaded (nor needed) any more.
    monkeypatch.setenv("TOOLKIT_LOAD_PLUGINS", "")
    registry.reset()
    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": str(bundle)})
    texts = ["A wonderful, moving film with a superb cast.", "Dreadful and boring; a tedious, clumsy script.",
             "", "film " * 30 + "brilliant"]
    docs = list(nlp.pipe(texts, batch_size=4))
    labels = info["labels"]
    for doc in docs:
        assert set(doc.cats) == set(labels)
        assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)
    # Padding invariance survives export: each text alone scores as in the length-bucketed batch.
    for text, doc in zip(texts, docs):
        alone = nlp(text)
        for label in labels:
            assert alone.cats[label] == pytest.approx(doc.cats[label], abs=1e-5)

    # Training or evaluating this model again needs the plugin: the error names the package.
    with pytest.raises(RegistryError) as err:
        registry.require("architecture", meta["architecture"], where=f"model {model_dir}")
    message = str(err.value)
    assert f"pip install {EXAMPLE}=={fasttext_plugin}" in message and "'bilstm'" in message
    assert "TOOLKIT_LOAD_PLUGINS" in message
    with pytest.raises(RegistryError, match=f"embedding 'fasttext'.*pip install {EXAMPLE}=="):
        registry.require("embedding", meta["embedding"])


# ---------------------------------------------------------------------------
# Meta-test: every hook is documented and exercised
# ---------------------------------------------------------------------------
def hook_signatures(module) -> dict[str, list[str]]:
    """Hook name -> argument names, for every ``@hookspec`` function of ``module``."""
    marker = f"{hookspecs.hookspec.project_name}_spec"
    return {
        name: list(inspect.signature(func).parameters)
        for name, func in inspect.getmembers(module, inspect.isfunction)
        if hasattr(func, marker)
    }


def undocumented(hooks: dict[str, list[str]], docs: str) -> list[str]:
    return [f"{name}({', '.join(args)})" for name, args in hooks.items()
            if f"{name}({', '.join(args)})" not in docs]


def hook_test_files() -> list[Path]:
    files = [p for p in (REPO / "tests").rglob("*.py")]
    files += list((REPO / "plugins").glob("*/tests/*.py"))
    return files


def unexercised(hooks: dict[str, list[str]], files: list[Path]) -> list[str]:
    """Hooks that no test file implements (``def <hook>(``: a plugin a test registers)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    return [name for name in hooks if not re.search(rf"def {name}\(", text)]


def test_every_hook_is_documented_with_its_arguments_and_exercised_by_a_test():
    hooks = hook_signatures(hookspecs)
    assert set(hooks) == set(registry.KINDS.values())  # the registry calls every hook
    assert undocumented(hooks, DOCS.read_text(encoding="utf-8")) == [], "document these hooks in docs/plugins.md"
    assert unexercised(hooks, hook_test_files()) == [], "add a test with a plugin implementing these hooks"
    # and the guide documents no hook that does not exist
    documented = set(re.findall(r"^### `(register_\w+)\(", DOCS.read_text(encoding="utf-8"), re.M))
    assert documented == set(hooks)


def test_meta_test_fails_when_a_hook_is_added_and_forgotten():
    """A new hook in hookspecs.py that the guide and the tests do not mention is caught."""
    import types

    fake = types.ModuleType("fake_hookspecs")

    @hookspecs.hookspec
    def register_tokenizers(register):
        """Known."""

    def new_hook(register, language):  # added as register_stemmers (a `def` by that name would count as a test)
        """New."""

    fake.register_tokenizers = register_tokenizers
    fake.register_stemmers = hookspecs.hookspec(new_hook)
    hooks = hook_signatures(fake)
    assert hooks == {"register_tokenizers": ["register"], "register_stemmers": ["register", "language"]}
    assert undocumented(hooks, DOCS.read_text(encoding="utf-8")) == ["register_stemmers(register, language)"]
    assert unexercised(hooks, hook_test_files()) == ["register_stemmers"]


# ---------------------------------------------------------------------------
# `toolkit plugins new`
# ---------------------------------------------------------------------------
def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)


def _offline_build_possible() -> bool:
    """setuptools (and, before setuptools 70.1, wheel) in this environment: build without downloading."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    try:
        major, minor = (int(x) for x in metadata.version("setuptools").split(".")[:2])
    except (ValueError, metadata.PackageNotFoundError):
        return False
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.mark.slow
def test_scaffold_installs_is_listed_and_passes_its_own_tests(tmp_path):
    short = f"scaffold{uuid.uuid4().hex[:8]}"
    dist = f"toolkit-{short}"
    result = runner.invoke(app, ["plugins", "new", dist, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / dist
    package = dist.replace("-", "_")
    for rel in ("pyproject.toml", "README.md", f"{package}/__init__.py", f"{package}/plugin.py",
                "tests/test_plugin.py"):
        assert (folder / rel).is_file(), rel
    assert f'{short} = "{package}.plugin"' in (folder / "pyproject.toml").read_text()
    assert "@toolkit.hookimpl" in (folder / package / "plugin.py").read_text()
    assert f"pip install -e {folder}" in result.stdout

    build = ["--no-build-isolation"] if _offline_build_possible() else []
    installed = _pip("install", "-q", "--no-deps", *build, str(folder))
    assert installed.returncode == 0, installed.stderr
    try:
        env = {k: v for k, v in os.environ.items() if k != "TOOLKIT_LOAD_PLUGINS"}
        env["TOOLKIT_LOAD_PLUGINS"] = short
        listed = subprocess.run([sys.executable, "-m", "toolkit.cli", "plugins", "--json"], capture_output=True,
                                text=True, env=env, timeout=120)
        assert listed.returncode == 0, listed.stderr
        rows = {row["plugin"]: row for row in json.loads(listed.stdout)}
        assert rows[short]["distribution"] == dist and rows[short]["version"] == "0.1.0"
        assert rows[short]["tokenizers"] == [short] and rows[short]["error"] is None

        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder,
                               capture_output=True, text=True, env=env, timeout=120)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert "4 passed" in tests.stdout  # the entry-point test ran too: it skips only when not installed
    finally:
        removed = _pip("uninstall", "-y", "-q", dist)
        assert removed.returncode == 0, removed.stderr


@pytest.mark.parametrize("name, message", [
    ("Toolkit-Shout", "is not valid: use lowercase letters"),
    ("toolkit--shout", "is not valid"),
    ("9lives", "is not valid"),
    ("toolkit-", "is not valid"),
    ("class", "Python keyword"),
    ("toolkit", "toolkit itself"),
    ("numpy", "already importable"),
    ("toolkit-nltk", "a tokenizer named 'nltk' already exists"),
])
def test_scaffold_refuses_bad_names(tmp_path, name, message):
    result = runner.invoke(app, ["plugins", "new", name, "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_scaffold_refuses_an_existing_folder(tmp_path):
    (tmp_path / "toolkit-shout").mkdir()
    (tmp_path / "toolkit-shout" / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["plugins", "new", "toolkit-shout", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "exists" in result.stderr and "nothing was written" in result.stderr
    assert [p.name for p in (tmp_path / "toolkit-shout").iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["toolkit-shout"]  # no temporary folder left


def test_scaffold_plugin_works_in_process(tmp_path, monkeypatch):
    """The generated module is a valid plugin as written (no install needed)."""
    from toolkit.cli.scaffold import new_plugin

    skeleton = new_plugin("toolkit-inproc", tmp_path)
    monkeypatch.syspath_prepend(str(skeleton.path))
    module = importlib.import_module("toolkit_inproc.plugin")
    try:
        registry.register_plugin(module, name="inproc", distribution="toolkit-inproc", version="0.1.0")
        tok = registry.create("tokenizer", "inproc", min_length=3)
        assert tok("It's a GREAT film!") == ["it's", "great", "film"]
    finally:
        registry.unregister_plugin("inproc")
        for name in [m for m in sys.modules if m.startswith("toolkit_inproc")]:
            del sys.modules[name]


# ---------------------------------------------------------------------------
# Broken plugins, installed through entry points
# ---------------------------------------------------------------------------
BAD_PACKAGE = "toolkit_badplugins_for_tests"
BAD_DIST, BAD_VERSION = "toolkit-badplugins", "6.6.6"
BAD_MODULES = {
    # import fails
    "importfails": "raise ImportError('needs libfoo, which is not installed')\n",
    # a hook raises; its other hook still works
    "hookraises": '''
        import toolkit

        class Tok:
            config = {}
            def __call__(self, text):
                return text.split()

        @toolkit.hookimpl
        def register_tokenizers(register):
            register("still-works", Tok)

        @toolkit.hookimpl
        def register_embeddings(register):
            raise RuntimeError("no GPU found")
    ''',
    # registers a built-in name (and one of its own)
    "clash": '''
        import toolkit

        class Emb:
            dim, trainable, config = 8, True, {}
            def matrix(self, vocab, corpus):
                return None

        @toolkit.hookimpl
        def register_embeddings(register):
            register("word2vec", Emb)
            register("clash-own", Emb)
    ''',
    # factories whose objects break the contract, or that raise
    "badcontract": '''
        import toolkit

        class Hollow:
            config = {}

        class Wobbly:
            config = {}
            length_policy = "sometimes"
            def build(self, vocab_size, dim, weights, trainable, max_len, labels):
                raise AssertionError("never built")

        class Explodes:
            def __init__(self):
                raise RuntimeError("model file missing")

        @toolkit.hookimpl
        def register_embeddings(register):
            register("hollow", Hollow)

        @toolkit.hookimpl
        def register_architectures(register):
            register("wobbly", Wobbly)

        @toolkit.hookimpl
        def register_tokenizers(register):
            register("explodes", Explodes)
            register("", Explodes)
    ''',
    # a hook implementation whose argument is not the spec's
    "badsignature": '''
        import toolkit

        @toolkit.hookimpl
        def register_tokenizers(callback):
            callback("never", str)
    ''',
    # a misspelt hook
    "typo": '''
        import toolkit

        @toolkit.hookimpl
        def register_tokenizer(register):
            register("never", str)
    ''',
}


@pytest.fixture(scope="module")
def bad_site(tmp_path_factory) -> Path:
    """A folder holding an 'installed' distribution whose entry points are all broken plugins."""
    site = tmp_path_factory.mktemp("site")
    pkg = site / BAD_PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, source in BAD_MODULES.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(source))
    info = site / f"{BAD_PACKAGE}-{BAD_VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {BAD_DIST}\nVersion: {BAD_VERSION}\n")
    (info / "entry_points.txt").write_text(
        "[toolkit]\n" + "".join(f"{name} = {BAD_PACKAGE}.{name}\n" for name in BAD_MODULES))
    return site


@pytest.fixture
def bad_plugins(bad_site, monkeypatch):
    monkeypatch.syspath_prepend(str(bad_site))
    monkeypatch.setenv("TOOLKIT_LOAD_PLUGINS", ",".join(BAD_MODULES))
    registry.reset()
    try:
        yield
    finally:
        registry.reset()
        for name in [m for m in sys.modules if m.startswith(BAD_PACKAGE)]:
            del sys.modules[name]


EXPECTED_ERRORS = {
    "importfails": ["failed to import", "needs libfoo"],
    "hookraises": ["failed in register_embeddings", "no GPU found"],
    "clash": ["embedding 'word2vec' is registered twice", "'toolkit.training.embeddings.word2vec'", "'clash'"],
    "badcontract": ["invalid name ''"],
    "badsignature": ["not a valid toolkit plugin", "callback"],
    "typo": ["register_tokenizer", "not a toolkit hook"],
}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_toolkit_plugins_lists_every_broken_plugin_by_name_and_keeps_the_rest(bad_plugins):
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["plugin"]: row for row in json.loads(result.stdout)}
    for plugin, fragments in EXPECTED_ERRORS.items():
        error = rows[plugin]["error"] or ""
        assert all(f in error for f in fragments), (plugin, error)
        assert (rows[plugin]["distribution"], rows[plugin]["version"]) == (BAD_DIST, BAD_VERSION), plugin
    # what the broken plugins could still provide is listed; the built-ins are all there
    assert rows["hookraises"]["tokenizers"] == ["still-works"]
    assert rows["clash"]["embeddings"] == ["clash-own"]
    assert rows["toolkit.training.embeddings.word2vec"]["embeddings"] == ["word2vec"]
    assert {"nltk", "spacy"} <= {t for row in rows.values() for t in row["tokenizers"]}

    table = runner.invoke(app, ["plugins"])
    assert table.exit_code == 0
    failed = [line for line in table.stderr.splitlines() if line.startswith("failed: ")]
    assert sorted(line.split(":")[1].strip() for line in failed) == sorted(EXPECTED_ERRORS)
    assert "toolkit.serving.tokenizers.nltk_style" in table.stdout


def test_broken_plugins_warn_once_by_name(bad_plugins):
    with pytest.warns(UserWarning) as caught:
        registry.get_components("tokenizer")
        registry.get_components("tokenizer")
    text = "\n".join(str(w.message) for w in caught)
    for plugin in ("importfails", "badsignature", "typo", "badcontract"):
        assert f"'{plugin}'" in text
    assert len(caught) == len({str(w.message) for w in caught})  # no repeats


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_builtins_keep_working_and_bad_components_name_their_plugin(bad_plugins):
    assert registry.create("tokenizer", "nltk")("A fine film") == ["fine", "film"]
    assert registry.create("embedding", "learned", dim=8).dim == 8
    assert registry.create("architecture", "cnn").length_policy == "dynamic"
    assert registry.create("tokenizer", "still-works")("a b") == ["a", "b"]
    assert registry.create("embedding", "clash-own").dim == 8

    with pytest.raises(RegistryError, match=r"embedding 'word2vec' is registered twice: by plugin "
                                            r"'toolkit.training.embeddings.word2vec' and by plugin 'clash'"):
        registry.create("embedding", "word2vec")
    with pytest.raises(RegistryError, match="registered twice"):
        registry.get_components("embedding")  # the full listing refuses the ambiguity too
    with pytest.raises(ContractError, match=r"'hollow' from plugin 'badcontract' \(toolkit-badplugins\).*matrix"):
        registry.create("embedding", "hollow")
    with pytest.raises(ContractError, match=r"'wobbly' from plugin 'badcontract'.*length_policy"):
        registry.create("architecture", "wobbly")
    with pytest.raises(RegistryError, match=r"'explodes' from plugin 'badcontract' \(toolkit-badplugins 6.6.6\) "
                                            r"failed to build: RuntimeError: model file missing"):
        registry.create("tokenizer", "explodes")
    with pytest.raises(RegistryError, match="unknown tokenizer 'never'.*failed to load: .*typo"):
        registry.create("tokenizer", "never")


def test_hand_registering_an_invalid_plugin_is_refused_with_a_reason():
    import toolkit

    class Misspelt:
        @toolkit.hookimpl
        def register_architecture(self, register):
            register("never", object)

    with pytest.raises(RegistryError, match="register_architecture, which is not a toolkit hook"):
        registry.register_plugin(Misspelt(), name="misspelt")
    assert registry.get_plugin_manager().get_plugin("misspelt") is None
    assert registry.create("architecture", "cnn")  # nothing left half-registered


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_toolkit_train_works_with_broken_plugins_installed(bad_plugins, tmp_path):
    from corpora import learnable_corpus

    corpus = learnable_corpus(tmp_path / "reviews.jsonl", n_per_label=30)
    common = ["train", "--data", str(corpus), "--epochs", "1", "--batch-size", "16", "--quiet",
              "--set", "vocab.min_count=1", "--set", "training.max_len=30"]
    ok = runner.invoke(app, common + ["--out", str(tmp_path / "ok"), "-E", "dim=8", "-A", "filters=8"])
    assert ok.exit_code == 0, ok.output
    meta = json.loads((tmp_path / "ok" / "model.json").read_text())
    assert meta["embedding"]["distribution"] == meta["architecture"]["distribution"] == "toolkit"

    for args, fragment in (
        (["--embedding", "word2vec"], "registered twice: by plugin 'toolkit.training.embeddings.word2vec' and by plugin 'clash'"),
        (["--embedding", "hollow"], "from plugin 'badcontract' (toolkit-badplugins) breaks the embedding contract"),
    ):
        bad = runner.invoke(app, common + ["--out", str(tmp_path / "bad")] + args)
        assert bad.exit_code == 1, bad.output
        errors = [line for line in bad.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and fragment in errors[0], bad.stderr
        assert not (tmp_path / "bad").exists()
