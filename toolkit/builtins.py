"""The built-in components, as a table: kind -> name -> ``"module:factory"``.

Strings only, and this module imports nothing, so listing the built-in names
(``toolkit plugins``, the names an unknown-name error offers) imports none of
the modules named here: :mod:`toolkit.core.registry` imports a factory's module
only when it builds that component. A model records a built-in component as
coming from plugin ``module`` of distribution ``toolkit``. Third-party
components come from plugins' ``register_*`` hooks instead (docs/plugins.md).
"""

BUILTINS: dict[str, dict[str, str]] = {
    "tokenizer": {
        "nltk": "toolkit.serving.tokenizers.nltk_style:NltkStyleTokenizer",
        "spacy": "toolkit.serving.tokenizers.spacy_tokens:SpacyTokenizer",
    },
    "embedding": {
        "learned": "toolkit.training.embeddings.learned:LearnedEmbedding",
        "word2vec": "toolkit.training.embeddings.word2vec:Word2VecEmbedding",
        "glove": "toolkit.training.embeddings.glove:PretrainedEmbedding",
    },
    "architecture": {
        "cnn": "toolkit.training.architectures.cnn:CNN",
        "seed-cnn": "toolkit.training.architectures.cnn:SeedCNN",
        "cnn-lstm": "toolkit.training.architectures.cnn_lstm:CNNLSTM",
    },
}
