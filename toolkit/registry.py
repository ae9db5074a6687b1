"""The plugin registry: one pluggy manager for built-ins and third-party plugins.

Built-in components are ordinary plugins listed in :data:`DEFAULT_PLUGINS`.
Third-party packages declare an entry point in the group ``toolkit``::

    [project.entry-points.toolkit]
    myplugin = "my_pkg.plugin"

``TOOLKIT_LOAD_PLUGINS`` (a comma-separated list of entry-point names) restricts
which entry points load; set to an empty string, none load. Plugins load lazily,
once per process. A plugin that fails to import, or whose hook raises, is
recorded in :func:`load_errors` and reported by name; the others keep working.

Registering a component imports nothing heavy: factories are plain callables and
import TensorFlow or gensim only when they build something.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import ContractError, PluginLoadError, RegistryError

ENTRY_POINT_GROUP = "toolkit"
ENV_LOAD_PLUGINS = "TOOLKIT_LOAD_PLUGINS"

#: Built-in plugins, registered on the same manager as third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "toolkit.tokenizers.nltk_style",
    "toolkit.tokenizers.spacy_tokens",
    "toolkit.embeddings.learned",
    "toolkit.embeddings.word2vec",
    "toolkit.embeddings.glove",
    "toolkit.architectures.cnn",
    "toolkit.architectures.cnn_lstm",
)

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


_state = _State()


def _toolkit_version() -> str:
    from . import __version__

    return __version__


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken built-in must not hide the others
            _state.errors[module_name] = f"{type(exc).__name__}: {exc}"
            continue
        pm.register(module, name=module_name)
        _state.sources[module_name] = _PluginSource("toolkit", _toolkit_version())
    _load_entry_points(pm)
    return pm


def _allowed_entry_points() -> set[str] | None:
    value = os.environ.get(ENV_LOAD_PLUGINS)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


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
        except Exception as exc:
            _state.errors[ep.name] = (
                f"plugin {ep.name!r} (from {dist_name} {dist_version}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            )
            warnings.warn(str(PluginLoadError(_state.errors[ep.name])), stacklevel=2)
            continue
        if pm.is_registered(plugin):
            continue
        pm.register(plugin, name=ep.name)
        _state.sources[ep.name] = _PluginSource(dist_name, dist_version)


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


def register_plugin(plugin: Any, name: str, distribution: str = "", version: str = "") -> None:
    """Register a plugin object (module or class instance) by hand."""
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    _state.sources[name] = _PluginSource(distribution or name, version or "unknown")


def unregister_plugin(name: str) -> None:
    pm = get_plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin, name=name)
    _state.sources.pop(name, None)
    _state.errors.pop(name, None)


def load_errors() -> dict[str, str]:
    """Plugins that failed to import or to register, by plugin name -> reason."""
    get_plugin_manager()
    return dict(_state.errors)


def _collect(kind: str) -> dict[str, Registration]:
    if kind not in KINDS:
        raise RegistryError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    pm = get_plugin_manager()
    hook = getattr(pm.hook, KINDS[kind])
    found: dict[str, Registration] = {}
    # Call each implementation on its own, so that every name is attributed to
    # the plugin that registered it and a failing plugin cannot hide the rest.
    for impl in reversed(hook.get_hookimpls()):
        plugin_name = impl.plugin_name
        source = _state.sources.get(plugin_name, _PluginSource(plugin_name, "unknown"))

        def register(name: str, factory: Callable[..., Any], _plugin=plugin_name, _src=source):
            if not isinstance(name, str) or not name:
                raise RegistryError(f"plugin {_plugin!r} registered a {kind} with an invalid name {name!r}")
            if not callable(factory):
                raise RegistryError(f"plugin {_plugin!r} registered {kind} {name!r} with a factory that is not callable")
            if name in found:
                other = found[name].plugin
                raise RegistryError(
                    f"{kind} {name!r} is registered twice: by plugin {other!r} and by plugin {_plugin!r}; "
                    f"uninstall one of them or restrict plugins with {ENV_LOAD_PLUGINS}"
                )
            found[name] = Registration(kind, name, factory, _plugin, _src.distribution, _src.version)

        try:
            impl.function(register=register)
        except RegistryError:
            raise
        except Exception as exc:
            message = f"plugin {plugin_name!r} failed in {KINDS[kind]}: {type(exc).__name__}: {exc}"
            if _state.errors.get(plugin_name) != message:
                _state.errors[plugin_name] = message
                warnings.warn(str(PluginLoadError(message)), stacklevel=2)
    return found


def get_tokenizers() -> dict[str, Registration]:
    return _collect("tokenizer")


def get_embeddings() -> dict[str, Registration]:
    return _collect("embedding")


def get_architectures() -> dict[str, Registration]:
    return _collect("architecture")


def get_components(kind: str) -> dict[str, Registration]:
    return _collect(kind)


def lookup(kind: str, name: str) -> Registration:
    """The registration of component ``name``; unknown names list the known ones."""
    components = _collect(kind)
    if name not in components:
        known = ", ".join(sorted(components)) or "(none)"
        hint = ""
        failed = load_errors()
        if failed:
            hint = f"; plugins that failed to load: {', '.join(sorted(failed))}"
        raise RegistryError(f"unknown {kind} {name!r}; available {kind}s: {known}{hint}")
    return components[name]


# What each kind of component must provide (attribute or method names).
_CONTRACTS: dict[str, tuple[str, ...]] = {
    "tokenizer": ("__call__", "config"),
    "embedding": ("matrix", "dim", "trainable", "config"),
    "architecture": ("build", "config", "length_policy"),
}


def create(kind: str, name: str, **options: Any) -> Any:
    """Build component ``name`` of ``kind`` with ``options`` and check its contract."""
    reg = lookup(kind, name)
    try:
        obj = reg.factory(**options)
    except TypeError as exc:
        raise RegistryError(f"{kind} {name!r} (plugin {reg.plugin!r}) rejected its options {options!r}: {exc}") from exc
    missing = [attr for attr in _CONTRACTS[kind] if not hasattr(obj, attr)]
    if missing:
        raise ContractError(
            f"{kind} {name!r} from plugin {reg.plugin!r} ({reg.distribution}) breaks the {kind} contract: "
            f"the object its factory returned has no {', '.join(missing)}"
        )
    config = getattr(obj, "config")
    if not isinstance(config, dict):
        raise ContractError(
            f"{kind} {name!r} from plugin {reg.plugin!r} breaks the {kind} contract: config must be a dict, "
            f"got {type(config).__name__}"
        )
    return obj


def create_tokenizer(name: str, **options: Any) -> Any:
    return create("tokenizer", name, **options)


def create_embedding(name: str, **options: Any) -> Any:
    return create("embedding", name, **options)


def create_architecture(name: str, **options: Any) -> Any:
    return create("architecture", name, **options)


def plugin_info() -> list[dict[str, Any]]:
    """What is installed: one row per plugin with the names it provides."""
    pm = get_plugin_manager()
    rows: dict[str, dict[str, Any]] = {}
    for name, _plugin in pm.list_name_plugin():
        src = _state.sources.get(name, _PluginSource(name, "unknown"))
        rows[name] = {
            "plugin": name,
            "distribution": src.distribution,
            "version": src.version,
            "tokenizers": [],
            "embeddings": [],
            "architectures": [],
            "error": None,
        }
    for kind in KINDS:
        for reg in _collect(kind).values():
            if reg.plugin in rows:
                rows[reg.plugin][kind + "s"].append(reg.name)
    for name, reason in _state.errors.items():
        rows.setdefault(
            name,
            {"plugin": name, "distribution": "?", "version": "?", "tokenizers": [], "embeddings": [],
             "architectures": [], "error": None},
        )["error"] = reason
    return list(rows.values())
