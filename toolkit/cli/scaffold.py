"""``toolkit plugins new NAME``: write the skeleton of a plugin package.

The skeleton installs and passes its own tests as generated::

    NAME/
      pyproject.toml        the entry point: [project.entry-points.toolkit] SHORT = "PACKAGE.plugin"
      README.md             install, test, use
      PACKAGE/__init__.py   __version__
      PACKAGE/plugin.py     a toolkit.Tokenizer subclass (options checked with toolkit.core.options) and
                            one @toolkit.hookimpl registering it as the tokenizer SHORT
      tests/test_plugin.py  registers the plugin in a fixture (and unregisters it), tests the
                            tokenizer, and, once installed, that the entry point is found

``NAME`` is the distribution name (``toolkit-shout``); the package is NAME with
``_`` for ``-`` (``toolkit_shout``); SHORT, the entry-point and tokenizer name, is
NAME without a leading ``toolkit-`` (``shout``).

Serving half: this module imports only the standard library and the registry.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path
from string import Template

from toolkit.core.errors import OutputExistsError, RegistryError, ToolkitError

#: A distribution name the skeleton accepts: lowercase letters and digits in
#: parts joined by single ``-`` or ``_``, starting with a letter.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
#: Dropped from the distribution name to make the entry-point and tokenizer name.
PREFIXES = ("toolkit-", "toolkit_")


class ScaffoldError(ToolkitError, ValueError):
    code = "E090"


@dataclass
class PluginSkeleton:
    """What :func:`new_plugin` wrote."""

    path: Path
    distribution: str
    package: str
    short_name: str
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"created plugin {self.distribution} in {self.path}"]
        lines += [f"  {f.relative_to(self.path.parent)}" for f in self.files]
        lines += [
            f"entry point: [project.entry-points.toolkit] {self.short_name} = \"{self.package}.plugin\"",
            f"it registers the tokenizer {self.short_name!r}; next:",
            f"  pip install -e {self.path}",
            f"  toolkit plugins                        # lists {self.short_name} ({self.distribution} 0.1.0)",
            f"  cd {self.path} && python -m pytest",
            f"  toolkit train --tokenizer {self.short_name} ...",
        ]
        return "\n".join(lines)


def plugin_names(name: str) -> tuple[str, str, str]:
    """``(distribution, package, short name)`` for ``name``, or :class:`ScaffoldError` saying what is wrong."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ScaffoldError(
            f"plugin name {name!r} is not valid: use lowercase letters and digits, in parts joined by single "
            f"'-' or '_', starting with a letter (for example: toolkit-shout)"
        )
    package = name.replace("-", "_")
    short = name
    for prefix in PREFIXES:
        if name.startswith(prefix):
            short = name[len(prefix):]  # not empty: NAME_PATTERN wants a part after each '-' or '_'
    if keyword.iskeyword(package) or package == "toolkit":
        raise ScaffoldError(f"plugin name {name!r} is not valid: its package would be named {package!r}, which "
                            f"{'is a Python keyword' if keyword.iskeyword(package) else 'is toolkit itself'}; "
                            f"choose another name (for example: toolkit-{name if package != 'toolkit' else 'shout'})")
    return name, package, short


def _check_free(package: str, short: str) -> None:
    """The package must not shadow an importable module, the entry point and tokenizer names must be free."""
    spec = util.find_spec(package)
    if spec is not None:
        where = spec.origin or (list(spec.submodule_search_locations or []) or ["?"])[0]
        raise ScaffoldError(f"a module named {package!r} is already importable ({where}); the new plugin's package "
                            f"would clash with it: choose another name")
    taken = {ep.name: ep for ep in metadata.entry_points(group="toolkit")}
    if short in taken:
        dist = getattr(taken[short], "dist", None)
        owner = dist.metadata["Name"] if dist is not None else taken[short].value
        raise ScaffoldError(f"an installed plugin already uses the entry-point name {short!r} (from {owner}); "
                            f"choose another name")
    from toolkit.core import registry

    try:
        taken_by = registry.lookup("tokenizer", short)
    except RegistryError:
        return  # unknown (or registered twice already: `toolkit plugins` reports that clash)
    raise ScaffoldError(f"a tokenizer named {short!r} already exists (plugin {taken_by.plugin!r} of "
                        f"{taken_by.distribution}); choose another name")


def new_plugin(name: str, directory: str | Path = ".") -> PluginSkeleton:
    """Write the skeleton of plugin ``name`` into ``directory/name`` (see the module docstring).

    Raises:
        ScaffoldError: ``name`` is not valid, or its package, entry point or
            tokenizer name is taken.
        OutputExistsError: ``directory/name`` exists (nothing is overwritten).
    """
    from toolkit import __version__
    from toolkit.core.atomic import atomic_dir

    dist, package, short = plugin_names(name)
    target = Path(directory) / dist
    if target.exists() or target.is_symlink():
        raise OutputExistsError(f"{target} exists; choose another name or another --dir (nothing was written)")
    _check_free(package, short)
    values = {
        "dist": dist,
        "package": package,
        "short": short,
        "klass": "".join(part.capitalize() for part in re.split(r"[-_]", short)) + "Tokenizer",
        "toolkit_version": __version__,
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{package}/__init__.py": INIT,
        f"{package}/plugin.py": PLUGIN,
        "tests/test_plugin.py": TEST,
    }
    written: list[Path] = []
    with atomic_dir(target) as tmp:
        for rel, template in files.items():
            path = Path(tmp) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Template(template).substitute(values), encoding="utf-8")
            written.append(target / rel)
    return PluginSkeleton(target, dist, package, short, written)


# ---------------------------------------------------------------------------
# templates ($name placeholders; string.Template)
# ---------------------------------------------------------------------------
PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A toolkit plugin: the $short tokenizer"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["toolkit>=$toolkit_version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# How toolkit finds the plugin: entry-point group `toolkit`; the name ($short)
# is what TOOLKIT_LOAD_PLUGINS lists; the value is the module with the hooks.
[project.entry-points.toolkit]
$short = "$package.plugin"

[tool.setuptools.packages.find]
include = ["$package*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
'''

INIT = '''\
"""$dist: a toolkit plugin. The hooks are in :mod:`$package.plugin`."""

__version__ = "0.1.0"
'''

PLUGIN = '''\
"""The hook implementations of $dist: what toolkit calls.

toolkit finds this module through the entry point in pyproject.toml::

    [project.entry-points.toolkit]
    $short = "$package.plugin"

It registers one tokenizer, ``$short``. The other hooks are
``register_embeddings`` and ``register_architectures``; each gets the same
``register(name, factory)`` callback (see toolkit's docs/plugins.md for the
contracts). Keep this module light: import heavy libraries inside the
factories' methods, not here.
"""

from __future__ import annotations

import re
from typing import Any

import toolkit
from toolkit.core.options import check_bool, check_int

#: A word: letters, with apostrophes inside (isn't, o'clock).
_WORD = re.compile(r"[^\\W\\d_]+(?:'[^\\W\\d_]+)*")


class $klass(toolkit.Tokenizer):
    """Words of letters (digits and punctuation dropped).

    Options: ``lowercase`` (default true), ``min_length`` (default 1).
    ``super().__init__(**options)`` keeps them as attributes and as
    ``config``, so ``$klass(**config)`` rebuilds it: that is how a bundle
    rebuilds its tokenizer at serving time. ``repr``, ``==`` and ``hash``
    come from ``config`` too (see toolkit.core.contracts).
    """

    name = "$short"
    #: True would promise that splitting on white space first changes nothing (see docs/plugins.md).
    whitespace_separable = False

    def __init__(self, lowercase: bool = True, min_length: int = 1) -> None:
        # toolkit.core.options: a bad value is a ConfigError naming this tokenizer, the option and the value.
        super().__init__(
            lowercase=check_bool(lowercase, "lowercase", component=self),
            min_length=check_int(min_length, "min_length", minimum=1, component=self),
        )

    def __call__(self, text: Any) -> list[str]:
        words = _WORD.findall(self.text_of(text))  # text_of: a str, or the text of a spaCy Doc
        if self.lowercase:
            words = [w.lower() for w in words]
        return [w for w in words if len(w) >= self.min_length]


@toolkit.hookimpl
def register_tokenizers(register):
    """Register the ``$short`` tokenizer."""
    register("$short", $klass)
'''

TEST = '''\
"""Tests of $dist. Run them in this folder: python -m pytest"""

from __future__ import annotations

from importlib import metadata

import pytest

from toolkit.core import registry
from toolkit.core.errors import ConfigError

from $package import __version__, plugin


@pytest.fixture
def registered(monkeypatch):
    """This plugin, registered by hand on a fresh registry; unregistered afterwards.

    TOOLKIT_LOAD_PLUGINS="" keeps installed plugins (this one included) from
    loading through their entry points, so they cannot change the results.
    """
    monkeypatch.setenv("TOOLKIT_LOAD_PLUGINS", "")
    registry.reset()
    registry.register_plugin(plugin, name="$short", distribution="$dist", version=__version__)
    try:
        yield registry
    finally:
        registry.unregister_plugin("$short")
        registry.reset()


def test_tokenizer(registered):
    tok = registered.create("tokenizer", "$short")
    assert tok("A GREAT film, isn't it? 10/10") == ["a", "great", "film", "isn't", "it"]
    assert registered.create("tokenizer", "$short", min_length=2)("A great film") == ["great", "film"]
    # config rebuilds the same tokenizer (a bundle records it)
    assert registered.create("tokenizer", "$short", **tok.config).config == tok.config


def test_registered_under_this_distribution(registered):
    reg = registered.lookup("tokenizer", "$short")
    assert (reg.plugin, reg.distribution, reg.version) == ("$short", "$dist", __version__)


def test_bad_option_is_a_clear_error(registered):
    with pytest.raises(ConfigError, match="tokenizer '$short': option 'min_length' must be an integer >= 1, got 0"):
        registered.create("tokenizer", "$short", min_length=0)


def test_found_through_its_entry_point(monkeypatch):
    """Once installed (pip install -e .), toolkit finds the plugin by itself."""
    try:
        version = metadata.version("$dist")
    except metadata.PackageNotFoundError:
        pytest.skip("$dist is not installed; run: pip install -e .")
    monkeypatch.setenv("TOOLKIT_LOAD_PLUGINS", "$short")
    registry.reset()
    try:
        rows = {row["plugin"]: row for row in registry.plugin_info()}
        assert rows["$short"]["error"] is None
        assert rows["$short"]["tokenizers"] == ["$short"]
        assert (rows["$short"]["distribution"], rows["$short"]["version"]) == ("$dist", version)
    finally:
        registry.reset()
'''

README = '''\
# $dist

A plugin for `toolkit` that adds the tokenizer `$short`.

## Install and check

```bash
pip install -e .          # from this folder
toolkit plugins           # a row "$short" ($dist 0.1.0) providing the tokenizer $short
```

toolkit finds the plugin through the entry point in `pyproject.toml`:

```toml
[project.entry-points.toolkit]
$short = "$package.plugin"
```

## Use

```bash
toolkit train --tokenizer $short -T min_length=2 --out runs/$short
```

A model trained with it records `"plugin": "$short", "distribution": "$dist",
"version": "0.1.0"` for its tokenizer; whoever serves the model needs this
package installed (the error message says `pip install $dist==0.1.0`).

## Test

```bash
pip install -e ".[test]"
python -m pytest
```

## Grow it

`$package/plugin.py` has one hook, `register_tokenizers`. Embedding providers
and architectures are registered the same way, with `register_embeddings` and
`register_architectures`: subclass `toolkit.EmbeddingProvider` or
`toolkit.Architecture` as the tokenizer subclasses `toolkit.Tokenizer`, and
check options with `toolkit.core.options`. The contracts are in toolkit's
`docs/plugins.md`.
'''
