"""toolkit-fasttext: an example third-party plugin for ``toolkit``.

It provides, through the ``toolkit`` entry-point group (entry point ``fasttext``
-> :mod:`toolkit_fasttext.plugin`):

- the embedding provider ``fasttext`` (:class:`~toolkit_fasttext.embedding.FastTextEmbedding`):
  gensim ``FastText`` vectors trained on the training documents; vocabulary
  tokens that fastText did not keep get vectors from their character n-grams;
- the architecture ``bilstm`` (:class:`~toolkit_fasttext.bilstm.BiLSTM`): a
  bidirectional LSTM over masked, dynamic-length input.

Importing this package is light: gensim is imported when vectors are trained,
Keras when a model is built.
"""

__version__ = "0.2.0"
