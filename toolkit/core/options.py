"""Option checks for components: one place for the built-ins and for plugins.

Every factory checks its options when it is created, and a bad value is one
line naming the component, the option, the value and what is allowed::

    [E040] tokenizer 'nltk': option 'min_length' must be an integer >= 1, got 0
    [E030] embedding 'glove': option 'dim' must be an integer >= 1, got 'x'
    [E040] architecture 'cnn': option 'pooling' must be one of 'max', 'avg' or 'max+avg', got 'median'

Each ``check_*`` function takes the value and the option's name, returns the
value normalised (``int``, ``float``, ``list[int]``, ``str``) and raises
otherwise. ``component`` says whose option it is: a string such as
``"tokenizer 'shout'"``, or the component itself (any object with ``kind`` and
``name``, such as a subclass of the base classes in :mod:`toolkit.core.contracts`,
whose ``error_class`` then chooses the error). The error is
:class:`~toolkit.core.errors.ConfigError` unless ``error`` (or the component's
``error_class``, :class:`~toolkit.core.errors.EmbeddingError` for embedding
providers) says otherwise.

``True`` and ``False`` are never accepted as numbers (``isinstance(True, int)``
is true in Python); NumPy integers and floats are (as ``numbers.Integral`` and
``numbers.Real``) and come back as ``int`` and ``float``.

Standard library only: the serving half's tokenizers import this module.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Iterable, Mapping, Sequence

from toolkit.core.errors import ConfigError, ToolkitError

__all__ = [
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_int_list",
    "check_path",
    "check_str",
    "describe_component",
    "option_error",
]


def describe_component(component: Any) -> str:
    """``"tokenizer 'nltk'"`` for a component (``kind`` and ``name``), the string itself for a string."""
    if component is None:
        return ""
    if isinstance(component, str):
        return component
    kind = getattr(component, "kind", "") or ""
    name = getattr(component, "name", "") or ""
    if kind and name:
        return f"{kind} {name!r}"
    return kind or name or type(component).__name__


def option_error(option: str, message: str, *, component: Any = None,
                 error: type[ToolkitError] | None = None, subject: str | None = None) -> ToolkitError:
    """The error for option ``option`` of ``component``: ``"<component>: option '<option>' <message>"``.

    For rules the ``check_*`` functions do not cover (two options that do not
    go together): ``raise option_error("bag", "needs pooling='max'", component=self)``.
    ``subject`` names the value instead of ``option '<option>'``, for values that are not a
    component's options (``"opset"``, ``"model/model.json: 'max_len'"``).
    """
    if error is None:
        error = getattr(component, "error_class", None) if not isinstance(component, str) else None
    if not (isinstance(error, type) and issubclass(error, ToolkitError)):
        error = ConfigError
    who = describe_component(component)
    return error(f"{who + ': ' if who else ''}{subject or f'option {option!r}'} {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _bounds(minimum: Any = None, maximum: Any = None, above: Any = None, below: Any = None) -> str:
    """``>= 1``, ``in [0, 1)``, ``> 0``... (empty without bounds)."""
    low = (f"[{minimum}", minimum) if minimum is not None else (f"({above}", above) if above is not None else None
    high = (f"{maximum}]", maximum) if maximum is not None else (f"{below})", below) if below is not None else None
    if low and high:
        return f"in {low[0]}, {high[0]}"
    if low:
        return f"{'>=' if minimum is not None else '>'} {low[1]}"
    if high:
        return f"{'<=' if maximum is not None else '<'} {high[1]}"
    return ""


def _in_bounds(value: Any, minimum: Any, maximum: Any, above: Any = None, below: Any = None) -> bool:
    return ((minimum is None or value >= minimum) and (maximum is None or value <= maximum)
            and (above is None or value > above) and (below is None or value < below))


def _must_be(what: str, bounds: str, optional: bool, value: Any, hint: str | None) -> str:
    return (f"must be {what}{' ' + bounds if bounds else ''}{' or None' if optional else ''}, got {value!r}"
            f"{'; ' + hint if hint else ''}")


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None,
              optional: bool = False, subject: str | None = None, hint: str | None = None,
              component: Any = None, error: type[ToolkitError] | None = None) -> int | None:
    """An integer (not a bool) within ``[minimum, maximum]`` (either may be ``None``); with ``optional``,
    ``None`` too (returned as is). ``subject`` and ``error``: see :func:`option_error`; ``hint`` is added
    to the message (``"... got 1; or set training.calibration = 'none'"``)."""
    if value is None and optional:
        return None
    if not _is_int(value) or not _in_bounds(value, minimum, maximum):
        raise option_error(name, _must_be("an integer", _bounds(minimum, maximum), optional, value, hint),
                           component=component, error=error, subject=subject)
    return int(value)


def check_float(value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None,
                above: float | None = None, below: float | None = None, optional: bool = False,
                subject: str | None = None, hint: str | None = None, component: Any = None,
                error: type[ToolkitError] | None = None) -> float | None:
    """A finite number (int or float, not a bool); ``minimum``/``maximum`` are inclusive bounds,
    ``above``/``below`` exclusive ones (``check_float(rate, "dropout", minimum=0, below=1)``: [0, 1));
    ``optional``, ``subject``, ``hint``: as for :func:`check_int`."""
    if value is None and optional:
        return None
    if not _is_number(value) or not math.isfinite(value) or not _in_bounds(value, minimum, maximum, above, below):
        raise option_error(name, _must_be("a number", _bounds(minimum, maximum, above, below), optional, value, hint),
                           component=component, error=error, subject=subject)
    return float(value)


def check_bool(value: Any, name: str, *, null: str | None = None, component: Any = None,
               error: type[ToolkitError] | None = None) -> bool | None:
    """``True`` or ``False`` (not 0, 1 or ``"yes"``). With ``null`` (what ``None`` means, e.g.
    ``"detect"``), ``None`` is accepted too."""
    if isinstance(value, bool) or (value is None and null is not None):
        return value
    allowed = "true or false" if null is None else f"true, false or null ({null})"
    raise option_error(name, f"must be {allowed}, got {value!r}", component=component, error=error)


def _choices_text(choices: Iterable[Any] | Mapping[Any, str]) -> str:
    if isinstance(choices, Mapping):
        items = [f"{c!r} ({meaning})" for c, meaning in choices.items()]
    else:
        items = [repr(c) for c in choices]
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} or {items[1]}"
    return f"one of {', '.join(items[:-1])} or {items[-1]}"


def check_choice(value: Any, name: str, choices: Sequence[Any] | Mapping[Any, str], *, component: Any = None,
                 error: type[ToolkitError] | None = None) -> Any:
    """One of ``choices`` (a sequence, or a mapping from each choice to what it means:
    ``{0: "CBOW", 1: "skip-gram"}`` reads "must be 0 (CBOW) or 1 (skip-gram)").
    A bool is not taken for 0 or 1."""
    options = list(choices)
    bool_ok = any(isinstance(c, bool) for c in options)
    try:
        ok = value in options and (bool_ok or not isinstance(value, bool))
    except TypeError:  # pragma: no cover - an odd type whose == raises
        ok = False
    if not ok:
        raise option_error(name, f"must be {_choices_text(choices)}, got {value!r}", component=component,
                           error=error)
    return value


def check_int_list(value: Any, name: str, *, minimum: int | None = None, allow_empty: bool = False,
                   component: Any = None, error: type[ToolkitError] | None = None) -> list[int]:
    """A list (or tuple) of integers each >= ``minimum``; a single integer ``k`` is read as ``[k]``."""
    if _is_int(value):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise option_error(name, f"must be a list of integers, got {value!r}", component=component, error=error)
    if not value and not allow_empty:
        raise option_error(name, "must not be empty", component=component, error=error)
    for item in value:
        if not _is_int(item) or not _in_bounds(item, minimum, None):
            bounds = _bounds(minimum)
            raise option_error(name, f"must hold integers{' ' + bounds if bounds else ''}, got {item!r} in "
                                     f"{list(value)!r}", component=component, error=error)
    return [int(item) for item in value]


def check_str(value: Any, name: str, *, what: str = "a non-empty string", component: Any = None,
              error: type[ToolkitError] | None = None) -> str:
    """A non-empty string; ``what`` describes it in the message ("a spaCy language code such as 'en'")."""
    if not isinstance(value, str) or not value:
        raise option_error(name, f"must be {what}, got {value!r}", component=component, error=error)
    return value


def check_path(value: Any, name: str, *, required: bool = False, what: str = "a file", component: Any = None,
               error: type[ToolkitError] | None = None) -> str | None:
    """A file path (``str`` or ``os.PathLike``) as a ``str``; ``None`` or ``""`` give ``None``, or an
    error when ``required`` ("option 'path' (a vector file) is required"). Whether the file exists is
    the caller's business (it says which file and why it is needed)."""
    if value is None or value == "":
        if required:
            raise option_error(name, f"({what}) is required", component=component, error=error)
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise option_error(name, f"must be a file path, got {value!r}", component=component, error=error)
    return os.fspath(value)
