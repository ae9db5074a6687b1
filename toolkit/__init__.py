"""toolkit: train review-sentiment models in Keras, serve them as ONNX from spaCy."""

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402  (plugins write @toolkit.hookimpl)

__all__ = ["__version__", "hookimpl"]
