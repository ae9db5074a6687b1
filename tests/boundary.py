"""The one check of the boundary between the halves, for code run in a fresh interpreter.

The serving half (toolkit.serving, what the spaCy component and `toolkit predict`
load) must never import ``toolkit.training`` nor a heavy library; the training
half imports its heavy libraries only inside the functions that need them.
A test embeds :func:`report_code` in the snippet it runs with
``spacy_helpers.run_python``, calls ``_boundary_report()`` at the end and checks the
result with :func:`assert_serving_only` or :func:`assert_not_loaded`.
"""

from __future__ import annotations

from typing import Any, Iterable

#: Libraries the serving half never imports (the training half and the optional engines).
HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx", "gensim", "matplotlib", "ray", "pyspark", "sklearn", "fastapi")

_CODE = '''
def _boundary_report(extra=()):
    import sys
    names = set({heavy!r}) | set(extra)
    loaded = {{m.split(".")[0] for m in sys.modules}}
    return {{
        "heavy": sorted(loaded & names),
        "training": sorted(m for m in sys.modules if m == "toolkit.training" or m.startswith("toolkit.training.")),
    }}
'''


def report_code() -> str:
    """Source defining ``_boundary_report(extra=())`` -> ``{"heavy": [...], "training": [...]}``."""
    return _CODE.format(heavy=HEAVY)


def assert_serving_only(report: dict[str, Any]) -> None:
    """No heavy library and no ``toolkit.training`` module was loaded."""
    assert report["heavy"] == [], f"the serving half imported {report['heavy']}"
    assert report["training"] == [], f"the serving half imported training modules {report['training']}"


def assert_not_loaded(report: dict[str, Any], names: Iterable[str]) -> None:
    """None of ``names`` (top-level modules) was loaded: for the training half's lazy imports."""
    loaded = sorted(set(report["heavy"]) & set(names))
    assert loaded == [], f"imported at import time: {loaded}"
