"""Plugin loading: the pluggy manager, the entry points of group ``toolkit``, failure isolation.

Entry points (``[project.entry-points.toolkit] name = "my_pkg.plugin"``) load on first use, those
``TOOLKIT_LOAD_PLUGINS`` (comma-separated names; empty: none) names if it is set. A plugin that fails
to import (even by ``sys.exit()``), that pluggy rejects, or that implements a hook toolkit does not
have is recorded in :attr:`Manager.errors` with a one-line reason, warned about and skipped; Ctrl-C
still stops the program. Built-in components are no plugins: :mod:`toolkit.core.registry` reads them.
"""

from __future__ import annotations

import functools
import os
import warnings
from importlib import metadata
from typing import Any, Callable, NamedTuple

import pluggy

from toolkit.core import hookspecs
from toolkit.core.errors import PluginLoadError, RegistryError

ENTRY_POINT_GROUP, ENV_LOAD_PLUGINS = "toolkit", "TOOLKIT_LOAD_PLUGINS"
#: The three kinds of component, and the hook that registers each.
KINDS = {"tokenizer": "register_tokenizers", "embedding": "register_embeddings",
         "architecture": "register_architectures"}


class Source(NamedTuple):
    distribution: str
    version: str


def guarded(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """Run plugin code: ``(its result, None)`` or ``(None, what it raised)``. Every ``BaseException``
    counts (a plugin's ``sys.exit()`` must not end the host) but ``KeyboardInterrupt``, the user's."""
    try:
        return call(), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and GeneratorExit included, on purpose
        return None, exc


def describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class Manager(pluggy.PluginManager):
    """pluggy's manager with toolkit's hook specs, and what pluggy does not keep: the source of
    plugins registered by hand or that failed to load (``by_hand``), and the problems (``errors``)."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.by_hand: dict[str, Source] = {}
        self.errors: dict[str, str] = {}

    def sources(self) -> dict[str, Source]:
        """Plugin name -> where it comes from (an entry point's: pluggy's own record)."""
        loaded = {self.get_name(p): Source(d.project_name, d.version) for p, d in self.list_plugin_distinfo()}
        return {**{name: src for name, src in loaded.items() if name}, **self.by_hand}

    def problem(self, name: str, message: str) -> None:
        """Record (once) and warn about a problem of plugin ``name``; the other plugins keep working."""
        known = self.errors.get(name)
        if known is None or message not in known:
            self.errors[name] = f"{known}; {message}" if known else message
            warnings.warn(str(PluginLoadError(message)), stacklevel=3)

    def admit(self, name: str, source: Source, load: Callable[[], Any], failed: str) -> str | None:
        """Run ``load`` (plugin code registering plugin ``name``), then check its hooks; on refusal,
        return why (and nothing of it stays registered)."""
        taken = self.has_plugin(name)
        _, exc = guarded(load)
        if exc is None:
            try:
                self.check_pending()  # a hook no spec has (a misspelt name) would be ignored without a word
                return None
            except pluggy.PluginValidationError:
                unknown = [c.name for c in self.get_hookcallers(self.get_plugin(name)) or () if not c.has_spec()]
                reason = (f"implements {', '.join(sorted(unknown))}, which "
                          f"{'is not a toolkit hook' if len(unknown) == 1 else 'are not toolkit hooks'}; "
                          f"the hooks are: {', '.join(KINDS.values())}")
        elif isinstance(exc, pluggy.PluginValidationError):
            reason = f"is not a valid toolkit plugin: {' '.join(str(exc).split())}"
        else:
            reason = f"{failed}: {describe(exc)}"
        if not taken and self.has_plugin(name):  # pluggy (to 1.5 at least) can leave it half-registered
            self.unregister(name=name)
        return f"plugin {name!r} (from {source.distribution} {source.version}) {reason}"


@functools.cache
def get_plugin_manager() -> Manager:
    """The process-wide manager; on first use, each allowed entry point is loaded on its own (pluggy's
    ``name=``), so a failing one hides no other."""
    pm, allowed = Manager(), os.environ.get(ENV_LOAD_PLUGINS)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is None or ep.name in {part.strip() for part in allowed.split(",")}:
            dist = getattr(ep, "dist", None)
            source = Source(dist.metadata["Name"], dist.version) if dist is not None else Source(ep.value, "unknown")
            problem = pm.admit(ep.name, source, lambda n=ep.name: pm.load_setuptools_entrypoints(
                ENTRY_POINT_GROUP, name=n), failed="failed to import")
            if problem:
                pm.by_hand[ep.name] = source  # for `toolkit plugins`: pluggy records only what loaded
                pm.problem(ep.name, problem)
    return pm


reset = get_plugin_manager.cache_clear  # forget every loaded plugin; the next lookup loads them again


def register_plugin(plugin: Any, name: str, distribution: str = "", version: str = "") -> None:
    """Register a module, or an object with hook implementations, by hand (RegistryError: refused, why)."""
    pm, source = get_plugin_manager(), Source(distribution or name, version or "unknown")
    problem = pm.admit(name, source, lambda: pm.register(plugin, name=name), failed="cannot be registered")
    if problem:
        raise RegistryError(problem)
    pm.by_hand[name] = source


def unregister_plugin(name: str) -> None:
    pm = get_plugin_manager()
    if pm.has_plugin(name):
        pm.unregister(name=name)
    pm.by_hand.pop(name, None)
    pm.errors.pop(name, None)
