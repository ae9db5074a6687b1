"""Apply a bundle's calibration to its probabilities (serving half: numpy only).

``bundle.json`` may carry a ``calibration`` record, copied by ``toolkit export``
from the trained model's ``model.json``::

    "calibration": {"method": "temperature", "temperature": 0.77,
                    "fitted_on": "out-of-fold predictions, 3 folds of the training split", "n": 1800}
    "calibration": {"method": "length-temperature", "a": 1.9, "b": -0.35, "length": "model ids", ...}
    "calibration": {"method": "label-temperature", "temperatures": {"POSITIVE": 1.3, "kitchen": 0.9}, ...}

Temperature scaling (Guo et al. 2017) divides the model's log-probabilities by
a temperature ``T`` and renormalises: ``softmax(log(p) / T)``. ``T > 1``
softens over-confident scores, ``T < 1`` sharpens under-confident ones; the
most probable label never changes. ``temperature``: one ``T`` for every text.
``length-temperature``: ``T = exp(a + b * log(n))`` (``log T`` kept within
:data:`LOG_T_RANGE`) where ``n`` is the number of model ids of the text (unigrams and n-grams, after truncation to ``max_len``),
so short texts, on which a bag-of-n-grams model is as sure as on a whole review
with far less evidence, can be softened more than long ones.
``label-temperature`` (multi-label bundles, whose labels each have their own
sigmoid probability): one ``T`` per label, ``sigmoid(logit(p) / T_label)``,
each label on its own (the bundle's ``thresholds`` were chosen on probabilities
calibrated so). A softmax method on a multi-label bundle, or ``label-temperature``
on an exclusive one, is refused.

The runtime applies it to every score it returns (in
:meth:`toolkit.serving.runtime.Runtime._run`, on each batch), so ``toolkit
predict``, the spaCy component, a pipeline loaded with ``spacy.load`` and
``toolkit score`` give the same calibrated numbers. A bundle without the record
(or with ``"method": "none"``) is scored as it always was.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toolkit.core.errors import BundleError
from toolkit.core.options import check_float

#: Calibration methods a bundle may name (``label-temperature``: multi-label bundles only).
METHODS = ("none", "temperature", "length-temperature", "label-temperature")
#: The softmax methods (exclusive labels).
SOFTMAX_METHODS = ("temperature", "length-temperature")
#: ``log T`` is kept in this range (T from 0.05 to 20), at fitting time and when applied.
LOG_T_RANGE = (-3.0, 3.0)
_TINY = np.finfo(np.float32).tiny


def _number(record: dict, key: str, where: str, positive: bool = False) -> float:
    return check_float(record.get(key), key, above=0 if positive else None, subject=f"{where}: calibration {key!r}",
                       error=BundleError)


class Calibration:
    """What a ``calibration`` record asks the runtime to do; :meth:`apply` does it."""

    def __init__(self, temperature: float | None = None, length_ab: tuple[float, float] | None = None,
                 label_temperatures: np.ndarray | None = None):
        self.temperature = temperature
        self.length_ab = length_ab
        #: ``label-temperature``: T per label, in the bundle's label order (float32 [n_labels])
        self.label_temperatures = label_temperatures

    @classmethod
    def from_record(cls, record: Any, where: str = "bundle.json", *, labels: Any = None,
                    multi_label: bool | None = None) -> "Calibration":
        """Parse a record (``None``: no calibration). ``labels``: the bundle's labels, the order a
        ``label-temperature`` record's temperatures are applied in (default: the record's order);
        ``multi_label``: whether the bundle is multi-label (``None``: not checked).

        Raises:
            BundleError: the record is malformed, or does not fit the bundle (naming ``where`` and the field).
        """
        if record is None:
            return cls()
        if not isinstance(record, dict):
            raise BundleError(f"{where}: 'calibration' must be an object, got {record!r}")
        method = record.get("method", "none")
        if method not in METHODS:
            raise BundleError(f"{where}: calibration method {method!r} is unknown; this toolkit applies "
                              f"{', '.join(METHODS)} (upgrade toolkit, or remove the record)")
        if multi_label is not None and method != "none" and (method == "label-temperature") != multi_label:
            kind = "a multi-label" if multi_label else "an exclusive"
            raise BundleError(f"{where}: calibration method {method!r} does not apply to {kind} bundle "
                              f"({'label-temperature' if multi_label else ', '.join(SOFTMAX_METHODS)} does)")
        if method == "label-temperature":
            return cls(label_temperatures=_label_temperatures(record, where, labels))
        if method == "temperature":
            return cls(temperature=_number(record, "temperature", where, positive=True))
        if method == "length-temperature":
            return cls(length_ab=(_number(record, "a", where), _number(record, "b", where)))
        return cls()

    @property
    def active(self) -> bool:
        return self.temperature is not None or self.length_ab is not None or self.label_temperatures is not None

    @property
    def needs_lengths(self) -> bool:
        return self.length_ab is not None

    def temperatures(self, lengths: Any) -> np.ndarray:
        """``T`` per text for ``length-temperature`` (``lengths``: model ids per text, >= 1)."""
        a, b = self.length_ab
        n = np.maximum(np.asarray(lengths, dtype=np.float64), 1.0)
        return np.exp(np.clip(a + b * np.log(n), *LOG_T_RANGE))

    def apply(self, probs: np.ndarray, lengths: Any = None) -> np.ndarray:
        """Calibrated probabilities (float32). ``lengths`` (ids per row) is needed by ``length-temperature``."""
        if self.label_temperatures is not None:
            return apply_label_temperatures(probs, self.label_temperatures)
        if self.length_ab is not None:
            if lengths is None:
                raise BundleError("length-temperature calibration needs the number of ids of each text")
            return apply_temperature(probs, self.temperatures(lengths))
        return apply_temperature(probs, self.temperature)

    def __repr__(self) -> str:
        if self.label_temperatures is not None:
            return f"Calibration(label-temperature {[round(float(t), 4) for t in self.label_temperatures]})"
        if self.length_ab is not None:
            return f"Calibration(length-temperature a={self.length_ab[0]:.4g} b={self.length_ab[1]:.4g})"
        return f"Calibration(temperature={self.temperature})"


def _label_temperatures(record: dict, where: str, labels: Any) -> np.ndarray:
    """A ``label-temperature`` record's ``temperatures`` ({label: T > 0}) in ``labels`` order."""
    temps = record.get("temperatures")
    if not isinstance(temps, dict) or not temps:
        raise BundleError(f"{where}: calibration 'temperatures' must map each label to its temperature, got {temps!r}")
    order = list(temps) if labels is None else list(labels)
    if set(order) != set(temps):
        raise BundleError(f"{where}: calibration 'temperatures' names {sorted(temps)}, the bundle's labels are "
                          f"{sorted(order)}")
    return np.asarray([check_float(temps[label], label, above=0, subject=f"{where}: calibration temperature of "
                                   f"{label!r}", error=BundleError) for label in order], dtype=np.float32)


def temperature_of(record: Any, where: str = "bundle.json") -> float | None:
    """The single temperature a ``temperature`` record asks for; ``None`` otherwise."""
    return Calibration.from_record(record, where).temperature


def apply_temperature(probs: np.ndarray, temperature: Any) -> np.ndarray:
    """``softmax(log(p) / T)`` row by row, in float32; ``T`` is one number or one per row.

    ``T`` of ``None`` or 1 returns ``probs`` unchanged. Probabilities of exactly 0
    are taken as the smallest positive float32, so a saturated score stays finite
    and ordered.
    """
    probs = np.asarray(probs, dtype=np.float32)
    if temperature is None or probs.size == 0:
        return probs
    t = np.asarray(temperature, dtype=np.float32)
    if t.ndim == 0:
        if float(t) == 1.0:
            return probs
    else:
        t = t.reshape(-1, 1)
    z = np.log(np.maximum(probs, _TINY)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32, copy=False)


def logits_of(probs: np.ndarray) -> np.ndarray:
    """``log p - log(1 - p)`` of independent (sigmoid) probabilities, float32; 0 and 1 are taken as the
    nearest float32 values inside (0, 1), so a saturated score stays finite and ordered."""
    p = np.clip(np.asarray(probs, dtype=np.float32), _TINY, np.float32(1.0) - np.finfo(np.float32).epsneg)
    return np.log(p) - np.log1p(-p)


def apply_label_temperatures(probs: np.ndarray, temperatures: Any) -> np.ndarray:
    """``sigmoid(logit(p) / T)`` column by column (``T``: one per label), float32: a multi-label bundle's
    calibration. Each label's order of documents never changes."""
    probs = np.asarray(probs, dtype=np.float32)
    if probs.size == 0:
        return probs
    z = logits_of(probs) / np.asarray(temperatures, dtype=np.float32).reshape(1, -1)
    e = np.exp(-np.abs(z))  # never overflows: sigmoid(z) = 1 / (1 + e) for z >= 0, e / (1 + e) below
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32, copy=False)


__all__ = ["LOG_T_RANGE", "METHODS", "Calibration", "apply_label_temperatures", "apply_temperature", "logits_of",
           "temperature_of"]
