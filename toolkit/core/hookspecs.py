"""Hook specifications of the ``toolkit`` plugin system.

Each hook is handed a ``register(name, factory)`` callback. A plugin calls it
once per component it provides. Implementations may accept fewer arguments than
the spec (pluggy's rule), so these specs can grow without breaking plugins.
The component contracts are :mod:`toolkit.core.contracts`: subclass its base classes
(``toolkit.Tokenizer``, ``toolkit.EmbeddingProvider``, ``toolkit.Architecture``),
or return any object with the members below; ``docs/plugins.md`` has the guide.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("toolkit")
hookimpl = pluggy.HookimplMarker("toolkit")


@hookspec
def register_tokenizers(register):
    """Register tokenizers: ``register(name, factory)``.

    ``factory(**options)`` returns an object with ``__call__(text) -> list[str]``
    and a JSON-serialisable ``config`` dict such that ``factory(**config)``
    rebuilds an identical tokenizer; optionally ``whitespace_separable = True``
    (see ``docs/plugins.md`` and :mod:`toolkit.serving.doc_encoding`).
    """


@hookspec
def register_embeddings(register):
    """Register embedding providers: ``register(name, factory)``.

    ``factory(**options)`` returns an object with ``dim``, ``trainable``,
    ``config`` and ``matrix(vocab, corpus) -> numpy array [len(vocab), dim] or
    None`` (``None`` means: start from random weights and learn them).
    """


@hookspec
def register_architectures(register):
    """Register model architectures: ``register(name, factory)``.

    ``factory(**options)`` returns an object with ``config``, ``length_policy``
    (``"fixed"`` or ``"dynamic"``) and ``build(vocab_size, dim, weights,
    trainable, max_len, labels) -> keras.Model`` whose input is int32
    ``token_ids`` [batch, length] and whose output is ``probabilities``
    [batch, len(labels)]. An architecture whose ``needs_token_weights`` is
    true is also passed ``token_weights=`` (float32 [vocab_size], see
    :func:`toolkit.training.linear.nb_token_weights`); one whose
    ``supports_multi_label`` is true is passed ``multi_label=True`` in a
    multi-label run and then gives a sigmoid per label (others are refused
    for such a run: :func:`toolkit.core.contracts.check_multi_label`).
    """
