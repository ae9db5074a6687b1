"""Component lookup: the names of each kind, building a component, what to say when one is missing.

Names come from the built-ins' table (:data:`toolkit.builtins.BUILTINS`; a factory's module is
imported only when its component is built) and from the hooks of the plugins :mod:`toolkit.core.plugins`
loads (its functions plugin tests use are re-exported here). A name two plugins register is never
handed out; a hook that fails or registers an invalid name or factory is reported (:func:`load_errors`).
"""

from __future__ import annotations

import os
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

from toolkit import __version__
from toolkit.builtins import BUILTINS
from toolkit.core.contracts import check_contract
from toolkit.core.errors import ContractError, RegistryError, ToolkitError
from toolkit.core.plugins import (  # noqa: F401  (register_plugin ... reset: re-exported)
    ENV_LOAD_PLUGINS, KINDS, Source, describe, get_plugin_manager, guarded, register_plugin, reset,
    unregister_plugin)


@dataclass(frozen=True)
class Registration:
    """One component: who provides it, and its factory (a built-in's as ``"module:factory"``)."""
    kind: str
    name: str
    target: Callable[..., Any] | str
    plugin: str
    distribution: str
    version: str

    @property
    def factory(self) -> Callable[..., Any]:  # a built-in's module is imported here
        return pkgutil.resolve_name(self.target) if isinstance(self.target, str) else self.target


def _clash_message(kind: str, name: str, plugins: list[str]) -> str:
    who = " and by ".join(f"plugin {p!r}" for p in plugins)
    return f"{kind} {name!r} is registered twice: by {who}; uninstall one of them or restrict plugins with " \
           f"{ENV_LOAD_PLUGINS}"


def _collect(kind: str) -> tuple[dict[str, Registration], dict[str, list[str]]]:
    """Every registration of ``kind`` by name (built-ins first), and the names registered twice. Each
    plugin's hook is called on its own (``subset_hook_caller``): a name is charged to the plugin that
    registered it, and a failing plugin hides none of the others."""
    if kind not in KINDS:
        raise RegistryError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    pm, hook = get_plugin_manager(), KINDS[kind]
    found = {name: Registration(kind, name, target, target.partition(":")[0], "toolkit", __version__)
             for name, target in BUILTINS[kind].items()}
    clashes: dict[str, list[str]] = {}

    def registrar(plugin: str, source: Source) -> Callable[[str, Any], None]:
        def register(name: str, factory: Callable[..., Any]) -> None:
            if not isinstance(name, str) or not name:
                return pm.problem(plugin, f"plugin {plugin!r} registered a {kind} with an invalid name {name!r}")
            if not callable(factory):
                return pm.problem(plugin, f"plugin {plugin!r} registered {kind} {name!r} with a factory that is "
                                          f"not callable ({type(factory).__name__})")
            if name in found:
                plugins = clashes.setdefault(name, [found[name].plugin])
                if plugin not in plugins:
                    plugins.append(plugin)
                return pm.problem(plugin, _clash_message(kind, name, plugins))
            found[name] = Registration(kind, name, factory, plugin, *source)
        return register

    sources = pm.sources()
    for plugin in [impl.plugin_name for impl in getattr(pm.hook, hook).get_hookimpls()]:
        caller = pm.subset_hook_caller(hook, remove_plugins=[p for n, p in pm.list_name_plugin() if n != plugin])
        register = registrar(plugin, sources.get(plugin, Source(plugin, "unknown")))
        _, exc = guarded(lambda: caller(register=register))
        if exc is not None:
            pm.problem(plugin, f"plugin {plugin!r} failed in {hook}: {describe(exc)}")
    return found, clashes


def get_components(kind: str) -> dict[str, Registration]:
    """Every component of ``kind`` by name; a name registered twice is an error naming both plugins."""
    found, clashes = _collect(kind)
    for name, plugins in clashes.items():
        raise RegistryError(_clash_message(kind, name, plugins))
    return found


def load_errors() -> dict[str, str]:
    """Plugins that failed to load, or whose hooks failed: plugin name -> reason (every kind's hooks called)."""
    for kind in KINDS:
        _collect(kind)
    return dict(get_plugin_manager().errors)


def lookup(kind: str, name: str) -> Registration:
    """The registration of component ``name``; an unknown name is an error listing the known ones."""
    found, clashes = _collect(kind)
    if name in clashes:
        raise RegistryError(_clash_message(kind, name, clashes[name]))
    if name in found:
        return found[name]
    failed = load_errors()
    hint = f"; plugins that failed to load: {', '.join(sorted(failed))}" if failed else ""
    raise RegistryError(f"unknown {kind} {name!r}; available {kind}s: {', '.join(sorted(found)) or '(none)'}{hint}")


def missing_component_message(kind: str, record: dict[str, Any], where: str = "") -> str:
    """What to say when a recorded component (a ``model.json`` / ``bundle.json`` entry ``{"name",
    "config", "plugin", "distribution", "version"}``) is not installed: the plugin, the package to install."""
    name, plugin = record.get("name"), record.get("plugin") or "?"
    dist, version = record.get("distribution"), record.get("version")
    if dist == "toolkit":
        fix = f"it is built into toolkit {version or ''}".rstrip() + "; upgrade: pip install -U toolkit"
    else:
        spec = f"{dist}=={version}" if version and version != "unknown" else dist
        fix = "install the plugin that provides it" + (f": pip install {spec}" if dist else "")
    message = (f"{where or 'this model'} needs {kind} {name!r}, which is not installed; it came from plugin "
               f"{plugin!r} of distribution {dist or '?'!r}{f' {version}' if version else ''}: {fix}")
    restricted = os.environ.get(ENV_LOAD_PLUGINS)
    if restricted is not None:
        message += f" (note: {ENV_LOAD_PLUGINS}={restricted!r} restricts which plugins load)"
    return message


def require(kind: str, record: dict[str, Any], where: str = "") -> Registration:
    """The registration of the component ``record`` (a ``model.json`` entry) names; RegistryError naming
    the package to install when it is not installed (:func:`missing_component_message`)."""
    if record.get("name") not in _collect(kind)[0]:
        raise RegistryError(missing_component_message(kind, record, where))
    return lookup(kind, record["name"])


def create(kind: str, name: str, **options: Any) -> Any:
    """Build component ``name`` of ``kind`` with ``options`` and check its contract (by duck typing:
    :func:`toolkit.core.contracts.check_contract`)."""
    reg = lookup(kind, name)
    origin = f"{kind} {name!r} from plugin {reg.plugin!r}"
    where = f"{origin} ({reg.distribution})"
    try:
        factory = reg.factory  # a built-in's module is imported here, before the checks below
        obj = factory(**options)
    except ToolkitError:
        raise  # the component's own message (a bad option value, a missing extra)
    except TypeError as exc:
        abstract = sorted(getattr(factory, "__abstractmethods__", None) or ())
        if abstract:  # a base-class subclass that does not implement the whole contract
            raise ContractError(f"{where} breaks the {kind} contract: {factory.__name__} does not implement "
                                f"{', '.join(abstract)}") from exc
        raise RegistryError(f"{kind} {name!r} (plugin {reg.plugin!r}) rejected its options {options!r}: {exc}") from exc
    except Exception as exc:
        raise RegistryError(f"{origin} ({reg.distribution} {reg.version}) failed to build: "
                            f"{type(exc).__name__}: {exc}") from exc
    return check_contract(kind, obj, where=where)


def plugin_info() -> list[dict[str, Any]]:
    """What ``toolkit plugins`` prints: one row per plugin (built-in modules included), the names it provides."""
    pm, rows = get_plugin_manager(), {}
    sources = pm.sources()

    def row(plugin: str, source: Source) -> dict[str, Any]:
        return rows.setdefault(plugin, {"plugin": plugin, "distribution": source.distribution,
                                        "version": source.version, **{k + "s": [] for k in KINDS}, "error": None})

    for plugin, _ in pm.list_name_plugin():
        row(plugin, sources.get(plugin, Source(plugin, "unknown")))
    for kind in KINDS:
        for reg in _collect(kind)[0].values():
            row(reg.plugin, Source(reg.distribution, reg.version))[kind + "s"].append(reg.name)
    for plugin, reason in pm.errors.items():
        row(plugin, sources.get(plugin, Source("?", "?")))["error"] = reason
    return list(rows.values())
