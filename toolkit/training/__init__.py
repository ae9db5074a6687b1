"""The training half (the ``[train]`` extra): corpora, vocabulary, embeddings,
architectures, the training loop, the model folder and ONNX export.

TensorFlow, Keras, tf2onnx and gensim are imported inside these modules only,
and only by the functions that need them. The training half may use the
serving half (bundle format, vocabulary, batching); never the other way round.
"""
