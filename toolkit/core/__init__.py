"""The shared core: formats and mechanisms both halves use.

Plugin loading (plugins) and component lookup (registry, which reads the
built-ins' table :mod:`toolkit.builtins`) and the hook specs, contracts and options, errors, the
vocabulary and its encoding, batching, the record reader, atomic outputs, the
bundle format and applying a calibration. Standard library, numpy and pluggy
only. Nothing here imports :mod:`toolkit.serving`, :mod:`toolkit.training` or
:mod:`toolkit.cli` (``tests/core/test_layering.py`` checks it).
"""
