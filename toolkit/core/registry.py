"""The plugin registry: one pluggy manager for built-ins and third-party plugins.

Built-in components are ordinary plugins (:data:`BUILTIN_PLUGINS`, registered
per kind on first use); third-party packages declare an entry point in the
group ``toolkit`` (``[project.entry-points.toolkit] myplugin = "my_pkg.plugin"``).
``TOOLKIT_LOAD_PLUGINS`` (a comma-separated list of entry-point names) restricts
which entry points load; empty, none load. A plugin that fails to import (even
by ``sys.exit()``), is not a valid plugin, whose hook fails, or that registers
an invalid name or factory is recorded in :func:`load_errors`, reported by name
(a warning, and ``toolkit plugins``) and skipped; the others keep working. A
name registered by two plugins is never handed out: looking it up is an error
naming both. Registering imports nothing heavy: factories import TensorFlow or
gensim only when they build something.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from toolkit.core import hookspecs
from toolkit.core.errors import ContractError, PluginLoadError, RegistryError, ToolkitError

ENTRY_POINT_GROUP = "toolkit"
ENV_LOAD_PLUGINS = "TOOLKIT_LOAD_PLUGINS"

#: Built-in plugins by the kind of component they provide. They are ordinary
#: plugins on the same manager as third-party ones, but each kind's modules are
#: imported only when a component of that kind is first looked up: scoring
#: (tokenizers only) never imports the training half's architectures or
#: embedding providers.
BUILTIN_PLUGINS: dict[str, tuple[str, ...]] = {
    "tokenizer": tuple(f"toolkit.serving.tokenizers.{m}" for m in ("nltk_style", "spacy_tokens")),
    "embedding": tuple(f"toolkit.training.embeddings.{m}" for m in ("learned", "word2vec", "glove")),
    "architecture": tuple(f"toolkit.training.architectures.{m}" for m in ("cnn", "cnn_lstm")),
}

#: Every built-in plugin module, in registration order.
DEFAULT_PLUGINS: tuple[str, ...] = tuple(m for modules in BUILTIN_PLUGINS.values() for m in modules)

#: The three kinds of component, and the hook that registers each.
KINDS: dict[str, str] = {
    "tokenizer": "register_tokenizers",
    "embedding": "register_embeddings",
    "architecture": "register_architectures",
}


@dataclass(frozen=True)
class Registration:
    """One component: who provides it and how to build it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str
    version: str


@dataclass
class _PluginSource:
    distribution: str
    version: str


@dataclass
class _State:
    pm: pluggy.PluginManager | None = None
    sources: dict[str, _PluginSource] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    builtins_loaded: set[str] = field(default_factory=set)
    # kind -> (the set of registered plugins it was collected from, registrations, clashes)
    cache: dict[str, tuple[frozenset[int], dict[str, "Registration"], dict[str, list[str]]]] = field(
        default_factory=dict)


_state = _State()


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    _load_entry_points(pm)
    return pm


def _load_builtins(kind: str) -> None:
    """Register the built-in plugins of ``kind`` (once per manager)."""
    if kind in _state.builtins_loaded:
        return
    pm = get_plugin_manager()
    _state.builtins_loaded.add(kind)
    for module_name in BUILTIN_PLUGINS[kind]:
        if pm.has_plugin(module_name):
            continue
        try:
            module = importlib.import_module(module_name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken built-in (even one calling sys.exit) must not hide the others
            _state.errors[module_name] = _describe_failure(exc)
            continue
        from toolkit import __version__

        problem = _register(pm, module, module_name, _PluginSource("toolkit", __version__))
        if problem:
            _state.errors[module_name] = problem


def _register(pm: pluggy.PluginManager, plugin: Any, name: str, source: _PluginSource) -> str | None:
    """Register ``plugin`` under ``name``; on failure return why (nothing stays registered).

    Refused: an object pluggy rejects (a hook implementation whose arguments are
    not the spec's, a name already taken), and one that implements a hook the
    toolkit does not have (a misspelt ``register_tokenizer`` would otherwise be
    ignored without a word).
    """
    origin = f"plugin {name!r} (from {source.distribution} {source.version})"
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        return f"{origin} is not a valid toolkit plugin: {' '.join(str(exc).split())}"
    unknown = sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []) if not caller.has_spec())
    if unknown:
        pm.unregister(plugin, name=name)
        return (f"{origin} implements {', '.join(unknown)}, which {'is not a' if len(unknown) == 1 else 'are not'} "
                f"toolkit hook{'s' if len(unknown) > 1 else ''}; the hooks are: {', '.join(KINDS.values())}")
    _state.sources[name] = source
    return None


def _allowed_entry_points() -> set[str] | None:
    value = os.environ.get(ENV_LOAD_PLUGINS)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _describe_failure(exc: BaseException) -> str:
    """One line for a plugin's import failure (``sys.exit()`` included)."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}) while being imported"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed_entry_points()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else ep.value.split(":")[0]
        dist_version = dist.version if dist is not None else "unknown"
        try:
            plugin = ep.load()
        except KeyboardInterrupt:  # the user pressed Ctrl-C (or SIGTERM): not the plugin's failure
            raise
        except BaseException as exc:  # SystemExit, GeneratorExit, any error: the plugin is skipped, the host lives
            _state.sources[ep.name] = _PluginSource(dist_name, dist_version)  # for `toolkit plugins`
            _state.errors[ep.name] = (
                f"plugin {ep.name!r} (from {dist_name} {dist_version}) failed to import: {_describe_failure(exc)}"
            )
            warnings.warn(str(PluginLoadError(_state.errors[ep.name])), stacklevel=2)
            continue
        if pm.is_registered(plugin):
            continue
        try:
            problem = _register(pm, plugin, ep.name, _PluginSource(dist_name, dist_version))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # an object that fails when pluggy inspects it
            problem = f"plugin {ep.name!r} (from {dist_name} {dist_version}) cannot be registered: {_describe_failure(exc)}"
            with contextlib.suppress(Exception):
                if pm.is_registered(plugin):
                    pm.unregister(plugin)
        if problem:
            _state.sources[ep.name] = _PluginSource(dist_name, dist_version)  # for `toolkit plugins`
            _state.errors[ep.name] = problem
            warnings.warn(str(PluginLoadError(problem)), stacklevel=2)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, created (and plugins loaded) on first use."""
    if _state.pm is None:
        _state.pm = _new_manager()
    return _state.pm


def reset() -> None:
    """Forget every loaded plugin; the next lookup loads them again (for tests)."""
    _state.pm = None
    _state.sources.clear()
    _state.errors.clear()
    _state.builtins_loaded.clear()
    _state.cache.clear()


def register_plugin(plugin: Any, name: str, distribution: str = "", version: str = "") -> None:
    """Register a plugin object (module or class instance) by hand.

    Raises:
        RegistryError: the object is not a valid toolkit plugin (see :func:`_register`).
    """
    pm = get_plugin_manager()
    problem = _register(pm, plugin, name, _PluginSource(distribution or name, version or "unknown"))
    if problem:
        raise RegistryError(problem)


def unregister_plugin(name: str) -> None:
    pm = get_plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin, name=name)
    _state.sources.pop(name, None)
    _state.errors.pop(name, None)


def load_errors() -> dict[str, str]:
    """Plugins that failed to import or to register, by plugin name -> reason (every kind loaded)."""
    for kind in KINDS:
        _load_builtins(kind)
    return dict(_state.errors)


def _plugin_problem(plugin_name: str, message: str) -> None:
    """Record (once) and warn about a problem of plugin ``plugin_name``; the others keep working."""
    known = _state.errors.get(plugin_name)
    if known is not None and message in known:
        return
    _state.errors[plugin_name] = f"{known}; {message}" if known else message
    warnings.warn(str(PluginLoadError(message)), stacklevel=3)


def _clash_message(kind: str, name: str, plugins: list[str]) -> str:
    who = " and by ".join(f"plugin {p!r}" for p in plugins)
    return (f"{kind} {name!r} is registered twice: by {who}; uninstall one of them or restrict plugins with "
            f"{ENV_LOAD_PLUGINS}")


def _collect_all(kind: str) -> tuple[dict[str, Registration], dict[str, list[str]]]:
    """Every registration of ``kind`` by name, and the names registered more than once.

    The hook is called through pluggy (one plugin at a time, with
    ``subset_hook_caller``, so every name is attributed to the plugin that
    registered it, a failing plugin cannot hide the rest, and pluggy's tracing
    and monitoring see every call). What was collected is cached until the set
    of registered plugins changes. A name registered twice keeps its first
    registration here (built-ins come first) but is never handed out:
    :func:`lookup` refuses it naming both plugins. A plugin whose hook raises,
    or that registers an invalid name or factory, is recorded in
    :func:`load_errors` (with a warning) and the other plugins' components stay
    available.
    """
    if kind not in KINDS:
        raise RegistryError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    _load_builtins(kind)
    pm = get_plugin_manager()
    key = frozenset(id(plugin) for plugin in pm.get_plugins())
    cached = _state.cache.get(kind)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    hook_name = KINDS[kind]
    found: dict[str, Registration] = {}
    clashes: dict[str, list[str]] = {}
    implementers = [impl.plugin_name for impl in getattr(pm.hook, hook_name).get_hookimpls()]
    # Built-ins first, then the others in registration order, so that a clash is
    # charged to the plugin that is not toolkit's own.
    implementers.sort(key=lambda name: _state.sources.get(name, _PluginSource("", "")).distribution != "toolkit")
    for plugin_name in implementers:
        source = _state.sources.get(plugin_name, _PluginSource(plugin_name, "unknown"))

        def register(name: str, factory: Callable[..., Any], _plugin=plugin_name, _src=source) -> None:
            if not isinstance(name, str) or not name:
                _plugin_problem(_plugin, f"plugin {_plugin!r} registered a {kind} with an invalid name {name!r}")
                return
            if not callable(factory):
                _plugin_problem(_plugin, f"plugin {_plugin!r} registered {kind} {name!r} with a factory that is "
                                         f"not callable ({type(factory).__name__})")
                return
            if name in found:
                plugins = clashes.setdefault(name, [found[name].plugin])
                if _plugin not in plugins:
                    plugins.append(_plugin)
                _plugin_problem(_plugin, _clash_message(kind, name, plugins))
                return
            found[name] = Registration(kind, name, factory, _plugin, _src.distribution, _src.version)

        others = [p for n, p in pm.list_name_plugin() if n != plugin_name]
        caller = pm.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            caller(register=register)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # sys.exit() in a hook included: the plugin is skipped, the host lives
            _plugin_problem(plugin_name, f"plugin {plugin_name!r} failed in {hook_name}: {_describe_failure(exc)}")
    _state.cache[kind] = (key, found, clashes)
    return found, clashes


def _collect(kind: str) -> dict[str, Registration]:
    """Every registration of ``kind``; a name registered twice is an error naming both plugins."""
    found, clashes = _collect_all(kind)
    for name, plugins in clashes.items():
        raise RegistryError(_clash_message(kind, name, plugins))
    return found


def get_tokenizers() -> dict[str, Registration]:
    return _collect("tokenizer")


def get_embeddings() -> dict[str, Registration]:
    return _collect("embedding")


def get_architectures() -> dict[str, Registration]:
    return _collect("architecture")


def get_components(kind: str) -> dict[str, Registration]:
    return _collect(kind)


def lookup(kind: str, name: str, record: dict[str, Any] | None = None, where: str = "") -> Registration:
    """The registration of component ``name``; unknown names list the known ones, or, for a component a
    saved model records (``record``, see :func:`require`), say which package to install."""
    components, clashes = _collect_all(kind)
    if name in clashes:
        raise RegistryError(_clash_message(kind, name, clashes[name]))
    if name not in components and record is not None:
        raise RegistryError(missing_component_message(kind, record, where))
    if name not in components:
        known = ", ".join(sorted(components)) or "(none)"
        hint = ""
        failed = load_errors()
        if failed:
            hint = f"; plugins that failed to load: {', '.join(sorted(failed))}"
        raise RegistryError(f"unknown {kind} {name!r}; available {kind}s: {known}{hint}")
    return components[name]


def missing_component_message(kind: str, record: dict[str, Any], where: str = "") -> str:
    """What to say when a recorded component is not installed: the plugin and the package to install.

    ``record`` is a component entry of ``model.json`` / ``bundle.json``:
    ``{"name", "config", "plugin", "distribution", "version"}``.
    """
    name = record.get("name")
    plugin = record.get("plugin") or "?"
    dist = record.get("distribution")
    version = record.get("version")
    if dist and dist != "toolkit":
        spec = f"{dist}=={version}" if version and version != "unknown" else dist
        fix = f"install the plugin that provides it: pip install {spec}"
    elif dist == "toolkit":
        fix = f"it is built into toolkit {version or ''}".rstrip() + "; upgrade: pip install -U toolkit"
    else:
        fix = "install the plugin that provides it"
    message = (
        f"{where or 'this model'} needs {kind} {name!r}, which is not installed; it came from plugin {plugin!r} "
        f"of distribution {dist or '?'!r}{f' {version}' if version else ''}: {fix}"
    )
    restricted = os.environ.get(ENV_LOAD_PLUGINS)
    if restricted is not None:
        message += f" (note: {ENV_LOAD_PLUGINS}={restricted!r} restricts which plugins load)"
    return message


def require(kind: str, record: dict[str, Any], where: str = "") -> Registration:
    """The registration of the component ``record`` names (a ``model.json`` entry).

    Raises:
        RegistryError: it is not installed; the message names the package to install
            (:func:`missing_component_message`). A name clash as by :func:`lookup`.
    """
    return lookup(kind, record.get("name"), record=record, where=where)


# What each kind of component must provide: the contracts live in toolkit.core.contracts
# (base classes, and the duck-typed check run on every component built here).
def create(kind: str, name: str, **options: Any) -> Any:
    """Build component ``name`` of ``kind`` with ``options`` and check its contract.

    The check (:func:`toolkit.core.contracts.check_contract`) is by duck typing: a
    subclass of the base classes in :mod:`toolkit.core.contracts` passes, and so
    does any object with the right members.
    """
    from toolkit.core.contracts import check_contract

    reg = lookup(kind, name)
    where = f"{kind} {name!r} from plugin {reg.plugin!r} ({reg.distribution})"
    try:
        obj = reg.factory(**options)
    except ToolkitError:
        raise  # the component's own message (a bad option value, a missing extra)
    except TypeError as exc:
        abstract = sorted(getattr(reg.factory, "__abstractmethods__", None) or ())
        if abstract:  # a base-class subclass that does not implement the whole contract
            raise ContractError(f"{where} breaks the {kind} contract: {reg.factory.__name__} does not implement "
                                f"{', '.join(abstract)}") from exc
        raise RegistryError(f"{kind} {name!r} (plugin {reg.plugin!r}) rejected its options {options!r}: {exc}") from exc
    except Exception as exc:
        raise RegistryError(
            f"{kind} {name!r} from plugin {reg.plugin!r} ({reg.distribution} {reg.version}) failed to build: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return check_contract(kind, obj, where=where)


def create_tokenizer(name: str, **options: Any) -> Any:
    return create("tokenizer", name, **options)


def create_embedding(name: str, **options: Any) -> Any:
    return create("embedding", name, **options)


def create_architecture(name: str, **options: Any) -> Any:
    return create("architecture", name, **options)


def plugin_info() -> list[dict[str, Any]]:
    """What is installed: one row per plugin with the names it provides (every kind loaded)."""
    for kind in KINDS:
        _load_builtins(kind)
    pm = get_plugin_manager()

    def row(name: str, default: _PluginSource) -> dict[str, Any]:
        src = _state.sources.get(name, default)
        return {"plugin": name, "distribution": src.distribution, "version": src.version,
                **{kind + "s": [] for kind in KINDS}, "error": None}

    rows = {name: row(name, _PluginSource(name, "unknown")) for name, _plugin in pm.list_name_plugin()}
    for kind in KINDS:
        for reg in _collect_all(kind)[0].values():
            if reg.plugin in rows:
                rows[reg.plugin][kind + "s"].append(reg.name)
    for name, reason in _state.errors.items():
        rows.setdefault(name, row(name, _PluginSource("?", "?")))["error"] = reason
    return list(rows.values())
