"""Built-in model architectures: ``cnn`` (the default), ``seed-cnn`` (the classic
preset) and ``cnn-lstm``. They are listed in :mod:`toolkit.builtins` (a module
is imported only when one of its architectures is created);
TensorFlow/Keras are imported only when a model is built.
"""
