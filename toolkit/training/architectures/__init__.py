"""Built-in model architectures: ``cnn`` (the default), ``seed-cnn`` (the classic
preset) and ``cnn-lstm``. Each module is a plugin registering its factories;
TensorFlow/Keras are imported only when a model is built.
"""
