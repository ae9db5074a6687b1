"""toolkit: train review-sentiment models in Keras, serve them as ONNX from spaCy."""

__version__ = "0.2.0"

from toolkit.core.hookspecs import hookimpl  # noqa: E402  (plugins write @toolkit.hookimpl)
from toolkit.core.contracts import Architecture, EmbeddingProvider, Tokenizer  # noqa: E402  (plugins subclass them)

__all__ = ["__version__", "Architecture", "EmbeddingProvider", "Tokenizer", "hookimpl"]
