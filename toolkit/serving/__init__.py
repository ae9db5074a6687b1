"""The serving half: score texts with an exported bundle, no TensorFlow.

Everything under :mod:`toolkit.serving` depends only on numpy, pluggy, spaCy and
onnxruntime (plus the optional engines its functions import when used). Nothing
here imports :mod:`toolkit.training`, the CLI, TensorFlow, Keras, tf2onnx,
gensim or matplotlib; ``tests/boundary.py`` checks ``sys.modules`` after real
serving work.
"""
