"""``--quantize int8``: onnxruntime dynamic quantization of the embedding tables, kept only if accuracy holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from toolkit.training.export.parity import accuracy, onnx_predict_fn, parity_report, score_ids
from toolkit.training.keras_io import quiet_logs

#: int8 is kept only if test accuracy drops by at most this many points.
MAX_QUANTIZATION_DROP_POINTS = 1.0
QUANTIZE_CHOICES = ("int8",)

#: ONNX operators whose weights ``--quantize int8`` quantizes (see _quantize).
QUANTIZED_OPS = ("Gather",)


def quantize_int8(fp32_path: Path, work: Path, ids: list[list[int]], labels: np.ndarray, fp32_probs: np.ndarray,
              meta: dict[str, Any], batch_size: int) -> tuple[Path | None, dict[str, Any]]:
    """Dynamic int8 quantization; returns (path of the kept int8 model or None, record)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from toolkit.serving.runtime import open_session

    acc_fp32 = accuracy(fp32_probs, labels)
    record: dict[str, Any] = {
        "requested": "int8",
        "method": "onnxruntime.quantization.quantize_dynamic",
        "op_types": list(QUANTIZED_OPS),
        "applied": False,
        "accuracy_fp32": acc_fp32,
        "max_drop_points": MAX_QUANTIZATION_DROP_POINTS,
        "size_fp32": fp32_path.stat().st_size,
        "attempts": [],
    }
    best: tuple[Path, dict[str, Any]] | None = None
    # Only the embedding tables (Gather) are quantized: they hold nearly all the bytes, and
    # a gathered int8 row is dequantized as it is read. Quantizing the Conv/MatMul weights
    # too gives the same file size but quantizes activations on every call: measured on the
    # default cnn, 2.1x slower than fp32 (138 vs 66 ms per 200 reviews; Gather only: 66 ms).
    # QUInt8 is the fallback should a kernel reject int8 weights.
    for weight_type in (QuantType.QInt8, QuantType.QUInt8):
        name = str(weight_type).split(".")[-1]
        q_path = work / f"model.{name.lower()}.onnx"
        attempt: dict[str, Any] = {"weight_type": name}
        try:
            with quiet_logs():
                quantize_dynamic(str(fp32_path), str(q_path), weight_type=weight_type,
                                 op_types_to_quantize=QUANTIZED_OPS)
            session = open_session(q_path)
            probs = score_ids(ids, onnx_predict_fn(session), meta, batch_size)
        except Exception as exc:  # a kernel missing for this weight type, say
            attempt["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            record["attempts"].append(attempt)
            continue
        acc = accuracy(probs, labels)
        vs_fp32 = parity_report(fp32_probs, probs)
        attempt.update(
            accuracy=acc,
            drop_points=round((acc_fp32 - acc) * 100, 4),
            size=q_path.stat().st_size,
            max_abs_diff_vs_fp32=vs_fp32["max_abs_diff"],
            label_agreement_vs_fp32=vs_fp32["label_agreement"],
        )
        record["attempts"].append(attempt)
        if attempt["drop_points"] > MAX_QUANTIZATION_DROP_POINTS:
            attempt["rejected"] = f"accuracy dropped {attempt['drop_points']:.2f} points (limit {MAX_QUANTIZATION_DROP_POINTS})"
        elif attempt["size"] >= record["size_fp32"]:
            # Tiny models: quantization parameters outweigh the saved bytes. Another weight type won't help.
            attempt["rejected"] = f"not smaller than fp32 ({attempt['size']:,} >= {record['size_fp32']:,} bytes)"
            break
        else:
            best = (q_path, attempt)
            break
    measured = [a for a in record["attempts"] if "accuracy" in a]
    if measured:  # before/after figures, whether or not int8 is kept
        last = best[1] if best else measured[-1]
        record.update(weight_type=last["weight_type"], accuracy_int8=last["accuracy"],
                      drop_points=last["drop_points"], size_int8=last["size"])
    if best is None:
        tried = "; ".join(f"{a['weight_type']}: {a.get('error') or a.get('rejected')}" for a in record["attempts"])
        record["reason"] = f"kept fp32 (accuracy {acc_fp32:.4f}): {tried}"
        return None, record
    q_path, attempt = best
    record.update(
        applied=True,
        max_abs_diff_vs_fp32=attempt["max_abs_diff_vs_fp32"],
        label_agreement_vs_fp32=attempt["label_agreement_vs_fp32"],
        reason=f"accuracy dropped {attempt['drop_points']:.2f} points (limit {MAX_QUANTIZATION_DROP_POINTS})",
    )
    return q_path, record
