"""Typed contracts of the three kinds of component: base classes, and the check the registry runs.

A plugin's factory returns a tokenizer, an embedding provider or an
architecture. The base classes below are the convenient way to write one:

- the factory's options are captured once, by ``super().__init__(**options)``:
  each becomes an attribute, and together they are ``config`` (a copy each
  time), so that ``factory(**component.config)`` rebuilds the same component;
- ``__repr__``, ``__eq__`` and ``__hash__`` come from ``config``;
- ``option_error(option, message)`` makes the one-line error for a rule that
  :mod:`toolkit.core.options` does not cover, naming the component and the option;
- the abstract members are listed here, and Python refuses to create a
  subclass that lacks one.

::

    from toolkit.core.contracts import Tokenizer
    from toolkit.core.options import check_bool, check_int

    class ShoutTokenizer(Tokenizer):
        name = "shout"

        def __init__(self, lowercase: bool = True, min_length: int = 1) -> None:
            super().__init__(lowercase=check_bool(lowercase, "lowercase", component=self),
                             min_length=check_int(min_length, "min_length", minimum=1, component=self))

        def __call__(self, text) -> list[str]:
            words = self.text_of(text).split()
            ...

Duck typing stays the contract: :func:`check_contract` (run by
``toolkit.core.registry.create`` on every component it builds) looks at attributes,
not at classes, so a plain object with the right members works as before.

Standard library only (the serving half's tokenizers subclass :class:`Tokenizer`).
"""

from __future__ import annotations

import abc
import copy
import json
import numbers
from typing import Any, ClassVar, Sequence

from toolkit.core.errors import ConfigError, ContractError, EmbeddingError, ToolkitError
from toolkit.core.options import check_int

__all__ = [
    "Architecture",
    "Component",
    "EmbeddingProvider",
    "LENGTH_POLICIES",
    "REQUIRED",
    "Tokenizer",
    "check_contract",
    "check_multi_label",
    "contract_problems",
]

#: The length policies an architecture may have.
LENGTH_POLICIES = ("fixed", "dynamic")

#: The members each kind of component must have (attributes or methods).
REQUIRED: dict[str, tuple[str, ...]] = {
    "tokenizer": ("__call__", "config"),
    "embedding": ("matrix", "dim", "trainable", "config"),
    "architecture": ("build", "config", "length_policy"),
}


class Component(abc.ABC):
    """What every component has: ``config``, and ``__repr__`` / ``__eq__`` / ``__hash__`` from it.

    Subclasses set ``name`` (used in messages) and call
    ``super().__init__(**options)`` with their checked, normalised options;
    each option becomes an attribute of the same name. ``repr_options`` (a
    tuple of option names) limits what ``repr()`` shows; ``None`` shows all.
    """

    #: ``"tokenizer"``, ``"embedding"`` or ``"architecture"``.
    kind: ClassVar[str] = "component"
    #: The component's name in messages (usually the name it is registered under).
    name: ClassVar[str] = ""
    #: The error :mod:`toolkit.core.options` raises for a bad option of this component.
    error_class: ClassVar[type[ToolkitError]] = ConfigError
    #: The options ``repr()`` shows (``None``: all of them, in ``config`` order).
    repr_options: ClassVar[tuple[str, ...] | None] = None

    _config: dict[str, Any] | None = None

    def __init__(self, **options: Any) -> None:
        for key, value in options.items():
            setattr(self, key, value)
        self._config = copy.deepcopy(options)

    @property
    def config(self) -> dict[str, Any]:
        """The options (JSON-serialisable); ``type(self)(**config)`` rebuilds this component."""
        if self._config is None:
            raise AttributeError(f"{type(self).__name__}.__init__ did not call super().__init__(**options), "
                                 f"so it has no config")
        return copy.deepcopy(self._config)

    def option_error(self, option: str, message: str) -> ToolkitError:
        """The error to raise for a bad value of ``option`` (``raise self.option_error(...)``)."""
        from toolkit.core.options import option_error

        return option_error(option, message, component=self)

    def __repr__(self) -> str:
        config = self._config or {}
        keys = self.repr_options if self.repr_options is not None else tuple(config)
        return f"{type(self).__name__}({', '.join(f'{k}={config.get(k)!r}' for k in keys)})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._config == other._config  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, json.dumps(self._config, sort_keys=True, default=repr)))


class Tokenizer(Component):
    """A tokenizer: ``tok(text) -> list[str]``.

    Abstract: ``__call__(text)``. ``text`` is a ``str`` or a spaCy ``Doc``
    (the spaCy component passes Docs; :meth:`text_of` gives the text of
    either). Empty text gives ``[]``.

    ``whitespace_separable`` (default ``False``): set it to ``True`` only if
    the tokens of ``a + w + b`` are those of ``a`` followed by those of ``b``
    for any strings ``a``, ``b`` and white space ``w``; the spaCy component
    then encodes Docs from their cached token strings (see docs/plugins.md).
    """

    kind: ClassVar[str] = "tokenizer"
    whitespace_separable: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(self, text: Any) -> list[str]:
        """The tokens of ``text`` (a ``str`` or a spaCy ``Doc``)."""

    @staticmethod
    def text_of(text: Any) -> str:
        """The text of a ``str``, or of a spaCy ``Doc``/``Span`` (its ``.text``); ``TypeError`` otherwise."""
        if isinstance(text, str):
            return text
        inner = getattr(text, "text", None)
        if isinstance(inner, str):
            return inner
        raise TypeError(f"a tokenizer takes a str or a spaCy Doc, got {type(text).__name__}")


class EmbeddingProvider(Component):
    """An embedding provider: the initial embedding matrix (or ``None``: learn it from random weights).

    Abstract: ``matrix(vocab, corpus)`` -> NumPy float32 ``[len(vocab), dim]``
    (row *i* = token id *i*; row 0 padding, row 1 ``<unk>``) or ``None``.
    Attributes: ``dim`` (positive int) and ``trainable`` (bool), usually
    options. ``report`` (a dict, set by ``matrix()``) describes the matrix for
    the training log and ``model.json``. Bad options raise
    :class:`~toolkit.core.errors.EmbeddingError`.
    """

    kind: ClassVar[str] = "embedding"
    error_class: ClassVar[type[ToolkitError]] = EmbeddingError
    dim: int
    trainable: bool = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.report: dict[str, Any] = {}

    @abc.abstractmethod
    def matrix(self, vocab: Any, corpus: Sequence[Sequence[str]] | None = None) -> Any:
        """float32 ``[len(vocab), dim]`` or ``None``; ``corpus`` is the training documents as token lists."""


class Architecture(Component):
    """A model architecture: builds the Keras model.

    Abstract: ``build(vocab_size, dim, weights, trainable, max_len, labels)``
    -> ``keras.Model`` with one int32 input ``token_ids`` and one output
    ``probabilities`` (import Keras inside ``build``). Attributes:
    ``length_policy`` (``"fixed"`` or ``"dynamic"``), ``min_len`` (default 1),
    ``needs_token_weights`` (default ``False``; when true ``build`` also gets
    ``token_weights=``), ``supports_multi_label`` (default ``False``; when true
    ``build`` takes ``multi_label=True`` and then gives one independent
    probability per label, a sigmoid each, for non-exclusive labels) and
    ``recommended`` (a copy of ``RECOMMENDED``: the training settings the
    architecture was tuned with, used by ``--preset``).
    """

    kind: ClassVar[str] = "architecture"
    length_policy: str = "fixed"
    min_len: int = 1
    needs_token_weights: bool = False
    supports_multi_label: bool = False
    #: Training, vocabulary and tokenizer settings shaped like the config's sections.
    RECOMMENDED: ClassVar[dict[str, Any]] = {}

    @property
    def recommended(self) -> dict[str, Any]:
        return copy.deepcopy(self.RECOMMENDED)

    @abc.abstractmethod
    def build(self, vocab_size: int, dim: int, weights: Any = None, trainable: bool = True,
              max_len: int | None = None, labels: Sequence[str] = ("NEGATIVE", "POSITIVE"), **kwargs: Any) -> Any:
        """The Keras model (see the class docstring and docs/plugins.md)."""

    def check_build_args(self, vocab_size: Any, dim: Any, weights: Any, max_len: Any, labels: Any, *,
                         max_len_required: bool = False,
                         multi_label: Any = False) -> tuple[int, int, Any, int | None, list[str]]:
        """``build()``'s arguments checked and normalised: ``(vocab_size, dim, weights, max_len, labels)``.

        ``weights`` becomes a float32 array ``[vocab_size, dim]`` (or stays
        ``None``); ``max_len`` must be at least ``min_len``; ``multi_label``
        must be a bool, and true only when ``supports_multi_label``
        (:func:`check_multi_label`). Raises
        :class:`~toolkit.core.errors.ConfigError` naming the architecture.
        """
        who = f"architecture {self.name or type(self).__name__!r}"
        if not isinstance(multi_label, bool):
            raise ConfigError(f"{who}: multi_label must be true or false, got {multi_label!r}")
        if multi_label:
            check_multi_label(self)
        check_int(vocab_size, "vocab_size", minimum=3, component=who, subject="vocab_size",
                  hint="<pad>, <unk> and one token", error=ConfigError)
        check_int(dim, "dim", minimum=1, component=who, subject="embedding dim", error=ConfigError)
        labels = list(labels or [])
        if len(labels) < 2:
            raise ConfigError(f"{who}: needs at least 2 labels, got {labels!r}")
        min_len = int(self.min_len)
        if max_len is None:
            if max_len_required:
                raise ConfigError(f"{who}: max_len is required (fixed-length input)")
        else:
            max_len = check_int(max_len, "max_len", minimum=1, component=who, subject="max_len", error=ConfigError)
            if max_len < min_len:
                raise ConfigError(
                    f"{who}: max_len={max_len} is shorter than the {min_len} positions the model "
                    f"needs (min_len: the widest kernel/window); raise max_len or use smaller kernel_sizes")
        if weights is not None:
            import numpy as np

            weights = np.asarray(weights, dtype=np.float32)
            if weights.shape != (int(vocab_size), int(dim)):
                raise ConfigError(
                    f"{who}: initial embedding weights have shape {weights.shape}, expected "
                    f"({int(vocab_size)}, {int(dim)}) = (vocab_size, dim)")
        return int(vocab_size), int(dim), weights, max_len, labels


def check_multi_label(arch: Any, name: str | None = None) -> None:
    """Refuse a multi-label run (non-exclusive labels) with an architecture that does not declare
    ``supports_multi_label``: one line naming it (``name``: how the config names it)."""
    if getattr(arch, "supports_multi_label", False) is True:
        return
    who = name or getattr(arch, "name", "") or type(arch).__name__
    raise ConfigError(f"architecture {who!r} does not build multi-label models (supports_multi_label is not set: "
                      f"its build() gives exclusive probabilities); train non-exclusive labels with an "
                      f"architecture that does (cnn, cnn-lstm), or pass --multi-label false")


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def contract_problems(kind: str, obj: Any) -> list[str]:
    """What ``obj`` lacks to be a component of ``kind`` (empty: it keeps the contract).

    Duck typing: the members of :data:`REQUIRED` must be there, ``config``
    must be a dict, ``length_policy`` ``"fixed"`` or ``"dynamic"``, ``dim``
    and ``min_len`` positive integers. Base classes are not required.
    """
    if kind not in REQUIRED:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(REQUIRED)}")
    if isinstance(obj, Component) and obj._config is None:
        return [f"{type(obj).__name__}.__init__ did not call super().__init__(**options), so it has no config"]
    missing = [attr for attr in REQUIRED[kind] if not hasattr(obj, attr)]
    if missing:
        return [f"the object its factory returned has no {', '.join(missing)}"]
    problems = []
    config = getattr(obj, "config")
    if not isinstance(config, dict):
        problems.append(f"config must be a dict, got {type(config).__name__}")
    if kind == "embedding":
        if not callable(getattr(obj, "matrix")):
            problems.append("matrix must be a method matrix(vocab, corpus)")
        if not _is_positive_int(getattr(obj, "dim")):
            problems.append(f"dim must be a positive integer, got {getattr(obj, 'dim')!r}")
    if kind == "architecture":
        if not callable(getattr(obj, "build")):
            problems.append("build must be a method build(vocab_size, dim, weights, trainable, max_len, labels)")
        if getattr(obj, "length_policy") not in LENGTH_POLICIES:
            problems.append(f"length_policy must be 'fixed' or 'dynamic', got {getattr(obj, 'length_policy')!r}")
        if hasattr(obj, "min_len") and not _is_positive_int(getattr(obj, "min_len")):
            problems.append(f"min_len must be a positive integer, got {getattr(obj, 'min_len')!r}")
    return problems


def check_contract(kind: str, obj: Any, *, where: str = "") -> Any:
    """``obj`` if it keeps the contract of ``kind``; else :class:`~toolkit.core.errors.ContractError`.

    ``where`` names the component in the message (the registry passes
    ``"embedding 'x' from plugin 'p' (dist)"``).
    """
    problems = contract_problems(kind, obj)
    if problems:
        who = where or f"{type(obj).__name__} object"
        raise ContractError(f"{who} breaks the {kind} contract: {'; '.join(problems)}")
    return obj
