"""Keras and TensorFlow access for the training half: import, quiet logs, load, predict.

One place imports TensorFlow (inside functions, so importing this module is
cheap) and knows how to load a saved ``model.keras`` with the plugins' custom
objects and how to call a model for inference.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from toolkit.core.errors import ModelFolderError, TrainingError


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Raise the Python log level of TensorFlow, tf2onnx, absl and onnxruntime to ERROR for a while."""
    names = ("tf2onnx", "tensorflow", "absl", "onnxruntime", "root")
    saved = {name: logging.getLogger(name if name != "root" else None).level for name in names}
    for name in names:
        logging.getLogger(name if name != "root" else None).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name if name != "root" else None).setLevel(level)


def import_tf():
    """``(tensorflow, keras)``; a one-line error naming the extra when TensorFlow is not installed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise TrainingError(f"this needs TensorFlow, which is not installed: pip install \"toolkit[train]\" ({exc})") from exc
    return tf, keras


def load_keras_model(path: str | os.PathLike, meta: dict[str, Any] | None = None):
    """Load ``model.keras`` (architecture plugins are loaded first so custom layers resolve).

    When loading fails and ``meta`` (the folder's ``model.json``) names an
    architecture that is not installed, the error names the package to install.
    """
    from toolkit.core import registry

    _, keras = import_tf()
    registry.get_plugin_manager()  # loads the plugins (entry points), registering their custom Keras objects
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as exc:
        hint = ""
        arch = (meta or {}).get("architecture")
        if isinstance(arch, dict) and arch.get("name") not in registry.get_components("architecture"):
            hint = "; " + registry.missing_component_message("architecture", arch, where=f"model {Path(path).parent}")
        raise ModelFolderError(f"cannot load the Keras model {path}: {type(exc).__name__}: {exc}{hint}") from exc


def keras_predict_fn(model: Any):
    """``predict(int array) -> probabilities`` calling the Keras model directly (inference mode)."""
    import keras

    def predict(batch: np.ndarray) -> np.ndarray:
        out = model(batch, training=False)
        # EagerTensor.numpy() avoids NumPy 2's __array__(copy=...) deprecation warning on the TF backend.
        out = out.numpy() if hasattr(out, "numpy") else keras.ops.convert_to_numpy(out)
        return np.asarray(out, dtype=np.float32)

    return predict
