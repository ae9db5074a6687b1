"""Export a trained model folder to an ONNX bundle (``toolkit export``).

Training half: TensorFlow, Keras, tf2onnx and onnx are imported inside the
functions that need them, so importing this module is cheap.

What :func:`export_model` does, in order (nothing is written unless every check
passes; the bundle appears under its final name only when complete):

1. checks the trained-model folder (``model.json``, ``model.keras``,
   ``vocab.txt``, ``test_data.npz``; ``docs/formats.md``) and the output folder;
2. converts the Keras model with ``tf2onnx.convert.from_keras`` and an explicit
   ``input_signature``: int32 ``token_ids`` ``[batch, length]`` with a dynamic
   batch axis, and a dynamic length axis when the length policy is
   ``dynamic`` (else ``max_len``); the output is named ``probabilities``;
   then applies the exact layout rewrites of :mod:`toolkit.training.export.rewrites`
   (recorded in ``bundle.json["onnx"]["rewrites"]``);
3. runs ``onnx.checker.check_model`` (full check, with shape inference);
4. parity: scores the test split with Keras and with onnxruntime on the very
   same padded batches (:func:`toolkit.core.batching.score_batches`, as the runtime
   batches them) and refuses the export unless the largest absolute difference
   of probabilities is <= 1e-4 and every predicted label agrees;
5. optionally quantizes (``quantize="int8"``: onnxruntime dynamic
   quantization of the embedding tables), keeping the int8 model only if test accuracy drops by at most
   one point;
6. writes ``model.onnx``, ``vocab.txt``, ``vocab.npz`` (its bigram index), ``README.md`` (model card) and
   ``bundle.json`` (checksums last) into a temporary folder, re-reads it as
   the runtime would, and renames it into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.core.errors import ExportError, OutputExistsError
from toolkit.core.options import check_int
from toolkit.core.atomic import atomic_dir, check_parent_writable, refuse_existing
from toolkit.core.bundle import (BUNDLE_JSON, CARD_FILE, MODEL_FILE, VOCAB_FILE, VOCAB_INDEX_FILE,
                                 finalize_bundle, sha256_file)
from toolkit.core.vocab import Vocab
from toolkit.training.export.card import bundle_meta, model_card
from toolkit.training.export.convert import MIN_OPSET, check_onnx, convert_to_onnx, rewrite_graph
from toolkit.training.export.parity import (
    PARITY_BATCH_SIZE,
    PARITY_TOLERANCE,
    accuracy,
    onnx_predict_fn,
    parity_report,
    score_ids,
)
from toolkit.training.export.quantize import QUANTIZE_CHOICES, quantize_int8
from toolkit.training.keras_io import keras_predict_fn, load_keras_model
from toolkit.training.model_folder import load_test_data, read_json_optional, read_model_dir

DEFAULT_EXPORT_ROOT = Path("exports")

log = logging.getLogger(__name__)


def default_out(model_dir: str | os.PathLike) -> Path:
    """``exports/<name of the model folder>``."""
    return DEFAULT_EXPORT_ROOT / Path(model_dir).resolve().name

def export_model(
    model_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    quantize: str | None = None,
    opset: int = MIN_OPSET,
    batch_size: int = PARITY_BATCH_SIZE,
    command: str | None = None,
) -> Path:
    """Export the trained model in ``model_dir`` to a bundle; returns the bundle folder.

    Args:
        model_dir: a folder written by ``toolkit train --out``.
        out: the bundle folder (default ``exports/<model_dir name>``).
        overwrite: replace an existing bundle at ``out``.
        quantize: ``"int8"`` for dynamic quantization, kept only if test
            accuracy drops by at most one point (else fp32 is kept and
            ``bundle.json["quantization"]["reason"]`` says why).
        opset: ONNX opset (>= 17).
        batch_size: batch size of the parity check (the runtime's default).
        command: the command line to record in the model card (default: the
            equivalent ``toolkit export`` command).

    Raises:
        ExportError: not a trained model, conversion or checker failure, or
            Keras and ONNX disagree (the message gives the figures).
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
    """
    model_dir = Path(model_dir)
    meta = read_model_dir(model_dir)
    out = Path(out) if out is not None else default_out(model_dir)
    refuse_existing(out, overwrite, another="--out")
    if out.exists() and (not out.is_dir() or out.is_symlink()):
        raise OutputExistsError(f"refusing to replace {out}: it is not a folder; remove it yourself or choose another --out")
    check_parent_writable(out, "bundle folder")  # before the conversion, not after it
    if out.resolve() == model_dir.resolve() or model_dir.resolve() in out.resolve().parents:
        raise ExportError(f"--out {out} is inside the model folder {model_dir}; write the bundle elsewhere")
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ExportError(f"unknown --quantize {quantize!r}; choices: {', '.join(QUANTIZE_CHOICES)}")
    check_int(opset, "opset", minimum=MIN_OPSET, subject="opset", error=ExportError)
    labels: list[str] = list(meta["labels"])
    metrics = read_json_optional(model_dir / "metrics.json")
    ids, true_labels = load_test_data(model_dir, meta["max_len"], len(labels))

    model = load_keras_model(model_dir / "model.keras", meta)
    _check_keras_model(model, len(labels), model_dir)
    proto = convert_to_onnx(model, meta["length_policy"], meta["max_len"], opset)
    rewrites = rewrite_graph(proto)
    check_onnx(proto)

    import onnx

    from toolkit.serving.runtime import open_session

    if command is None:
        command = f"toolkit export {model_dir} --out {out}" + (" --overwrite" if overwrite else "") + (
            f" --quantize {quantize}" if quantize else "") + (f" --opset {opset}" if opset != MIN_OPSET else "")

    with atomic_dir(out, overwrite, expect=(BUNDLE_JSON,)) as tmp:
        work = tmp / ".work"
        work.mkdir()
        fp32_path = work / "model.fp32.onnx"
        onnx.save_model(proto, str(fp32_path))
        session = open_session(fp32_path)

        keras_probs = score_ids(ids, keras_predict_fn(model), meta, batch_size)
        onnx_probs = score_ids(ids, onnx_predict_fn(session), meta, batch_size)
        decide = multilabel_decisions(meta)
        parity = parity_report(keras_probs, onnx_probs, decide)
        parity.update(
            tolerance=PARITY_TOLERANCE,
            batch_size=batch_size,
            length_policy=meta["length_policy"],
            keras_accuracy=accuracy(keras_probs, true_labels, decide),
            onnx_accuracy=accuracy(onnx_probs, true_labels, decide),
        )
        if decide is not None:
            parity["per_label_max_abs_diff"] = {
                label: float(np.abs(keras_probs[:, i].astype(np.float64) - onnx_probs[:, i]).max())
                for i, label in enumerate(labels)}
        finite = bool(np.isfinite(onnx_probs).all() and np.isfinite(keras_probs).all())
        parity["passed"] = finite and parity["max_abs_diff"] <= PARITY_TOLERANCE and parity["labels_differing"] == 0
        if not parity["passed"]:
            raise ExportError(
                f"Keras and ONNX disagree on the {parity['n']} test documents of {model_dir / 'test_data.npz'}: "
                f"max abs difference {parity['max_abs_diff']:.3g} (limit {PARITY_TOLERANCE:g}), "
                f"{parity['labels_differing']} predicted labels differ"
                + ("" if finite else ", non-finite probabilities")
                + "; nothing was written"
            )

        quant_record: dict[str, Any] | None = None
        model_path = fp32_path
        if quantize == "int8":
            q_path, quant_record = quantize_int8(fp32_path, work, ids, true_labels, onnx_probs, meta, batch_size)
            if q_path is not None:
                model_path = q_path
        shutil.move(str(model_path), str(tmp / MODEL_FILE))
        shutil.copyfile(model_dir / VOCAB_FILE, tmp / VOCAB_FILE)
        # The bigram index, built here once so the runtime reads it instead of building it at every start.
        Vocab.from_file(tmp / VOCAB_FILE).save_bigram_index(tmp / VOCAB_INDEX_FILE, sha256_file(tmp / VOCAB_FILE))
        shutil.rmtree(work)

        bundle_meta_ = bundle_meta(
            meta, metrics, parity, quant_record, model_dir, out, opset, proto, command, labels, rewrites,
        )
        (tmp / CARD_FILE).write_text(model_card(bundle_meta_, model_dir), encoding="utf-8")
        written = finalize_bundle(tmp, bundle_meta_)
        # Read it back as the runtime would (checksums, tokenizer installed, session loads).
        from toolkit.serving.runtime import Runtime

        rt = Runtime.load(tmp)
        if quant_record is None or not quant_record.get("applied"):
            check = rt.score_ids(ids[: min(len(ids), batch_size)], batch_size=batch_size)
            lengths = [min(len(x), meta["max_len"]) for x in ids[: len(check)]]  # the runtime applies model.json's calibration
            expected = rt.calibration.apply(onnx_probs[: len(check)], lengths)
            if not np.allclose(check, expected, atol=PARITY_TOLERANCE, rtol=0):
                raise ExportError("the written bundle scores differently from the checked model; nothing was written")
        del rt, session
        log.info("exported %s: %s", out, json.dumps(written.get("parity")))
    return out

def multilabel_decisions(meta: dict[str, Any]):
    """A multi-label model's decision (``model.json``: its calibration, then each label at its threshold) as
    a function of raw probabilities, for parity and accuracy; ``None`` for an exclusive model (the top label)."""
    if not meta.get("multi_label"):
        return None
    from toolkit.core.calibration import Calibration

    labels = list(meta["labels"])
    cal = Calibration.from_record(meta.get("calibration"), where="model.json", labels=labels, multi_label=True)
    thresholds = meta.get("thresholds") or {}
    cut = np.asarray([float(thresholds.get(label, 0.5)) for label in labels], dtype=np.float32)
    return lambda probs: cal.apply(probs) >= cut


def _check_keras_model(model: Any, n_labels: int, model_dir: Path) -> None:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ExportError(
            f"{model_dir / 'model.keras'} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            f"a toolkit model has one input (token_ids) and one output (probabilities)"
        )
    out_shape = tuple(model.outputs[0].shape)
    if out_shape[-1] != n_labels:
        raise ExportError(
            f"{model_dir / 'model.keras'} outputs {out_shape[-1]} values per document but model.json lists {n_labels} labels"
        )
