"""Export a trained model folder to an ONNX bundle (``toolkit export``).

The steps live in their own modules: :mod:`.convert` (Keras -> ONNX, names,
rewrites, checker), :mod:`.rewrites` (exact ONNX layout rewrites),
:mod:`.parity` (Keras vs ONNX on the same batches), :mod:`.quantize` (int8),
:mod:`.card` (bundle metadata, model card, summary) and :mod:`.pipeline`
(:func:`export_model`, which runs them in order and writes the bundle).
Importing this package imports no TensorFlow.
"""

from toolkit.training.export.card import export_summary, library_versions, model_card
from toolkit.training.export.convert import MIN_OPSET, convert_to_onnx
from toolkit.training.export.parity import PARITY_BATCH_SIZE, PARITY_TOLERANCE, parity_report
from toolkit.training.export.pipeline import DEFAULT_EXPORT_ROOT, default_out, export_model
from toolkit.training.export.quantize import MAX_QUANTIZATION_DROP_POINTS, QUANTIZE_CHOICES, QUANTIZED_OPS

__all__ = [
    "DEFAULT_EXPORT_ROOT", "MAX_QUANTIZATION_DROP_POINTS", "MIN_OPSET", "PARITY_BATCH_SIZE", "PARITY_TOLERANCE",
    "QUANTIZED_OPS", "QUANTIZE_CHOICES", "convert_to_onnx", "default_out", "export_model", "export_summary",
    "library_versions", "model_card", "parity_report",
]
