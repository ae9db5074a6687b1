"""The public corpora the toolkit knows by name (``--data polarity``, ``--data mr``,
``--data multi-domain[:DOMAIN,...]``): one module per corpus reads its files in the
published layout and encoding, :mod:`.named` resolves a name to a reader and a folder,
:mod:`.digest` pins each corpus's content.

:func:`toolkit.training.corpus.load_corpus` reaches these through :mod:`.named`; the
readers build on :mod:`toolkit.training.corpus` (its ``Document``, ``Corpus`` and splitter).
"""
