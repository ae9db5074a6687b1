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
   then applies the exact layout rewrites of :mod:`toolkit.training.onnx_rewrite`
   (recorded in ``bundle.json["onnx"]["rewrites"]``);
3. runs ``onnx.checker.check_model`` (full check, with shape inference);
4. parity: scores the test split with Keras and with onnxruntime on the very
   same padded batches (:func:`toolkit.serving.runtime.score_batches`, as the runtime
   batches them) and refuses the export unless the largest absolute difference
   of probabilities is <= 1e-4 and every predicted label agrees;
5. optionally quantizes (``quantize="int8"``: onnxruntime dynamic
   quantization of the embedding tables), keeping the int8 model only if test accuracy drops by at most
   one point;
6. writes ``model.onnx``, ``vocab.txt``, ``README.md`` (model card) and
   ``bundle.json`` (checksums last) into a temporary folder, re-reads it as
   the runtime would, and renames it into place.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from toolkit.serving.bundle import (
    BUNDLE_JSON,
    CARD_FILE,
    INPUT_NAME,
    MODEL_FILE,
    OUTPUT_NAME,
    VOCAB_FILE,
    atomic_dir,
    finalize_bundle,
    read_bundle,
    sha256_file,
)
from toolkit.errors import ExportError, OutputExistsError

#: Files a trained-model folder must hold to be exported.
REQUIRED_MODEL_FILES = ("model.json", "model.keras", VOCAB_FILE, "test_data.npz")
MODEL_FORMAT = "toolkit-model"
MODEL_FORMAT_VERSION = 1
MIN_OPSET = 17
PARITY_TOLERANCE = 1e-4
#: int8 is kept only if test accuracy drops by at most this many points.
MAX_QUANTIZATION_DROP_POINTS = 1.0
QUANTIZE_CHOICES = ("int8",)
DEFAULT_EXPORT_ROOT = Path("exports")
PARITY_BATCH_SIZE = 64

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# the trained-model folder
# ---------------------------------------------------------------------------
def read_model_dir(model_dir: str | os.PathLike) -> dict[str, Any]:
    """``model.json`` of a trained-model folder, after checking the folder is one.

    Raises:
        ExportError: naming what is missing or wrong.
    """
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ExportError(f"model folder {model_dir} does not exist; pass the folder written by `toolkit train --out`")
    if not model_dir.is_dir():
        raise ExportError(f"{model_dir} is not a folder; pass the folder written by `toolkit train --out`")
    if (model_dir / BUNDLE_JSON).is_file() and not (model_dir / "model.keras").exists():
        raise ExportError(f"{model_dir} is already an exported bundle; export takes a trained-model folder")
    missing = [name for name in REQUIRED_MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ExportError(
            f"{model_dir} is not a trained model folder (written by `toolkit train --out`): "
            f"missing {', '.join(missing)}"
        )
    path = model_dir / "model.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ExportError(f"{path}: expected a JSON object")
    if meta.get("format", MODEL_FORMAT) != MODEL_FORMAT:
        raise ExportError(f"{path}: 'format' is {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > MODEL_FORMAT_VERSION:
        raise ExportError(
            f"{path}: model format version {version!r} is newer than this toolkit reads ({MODEL_FORMAT_VERSION}); "
            f"upgrade toolkit"
        )
    for key in ("labels", "tokenizer", "length_policy", "max_len"):
        if key not in meta:
            raise ExportError(f"{path}: field {key!r} is missing")
    if meta["length_policy"] not in ("fixed", "dynamic"):
        raise ExportError(f"{path}: 'length_policy' must be 'fixed' or 'dynamic', got {meta['length_policy']!r}")
    max_len = meta["max_len"]
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ExportError(f"{path}: 'max_len' must be an integer >= 1, got {max_len!r}")
    labels = meta["labels"]
    if not isinstance(labels, list) or len(labels) < 2:
        raise ExportError(f"{path}: 'labels' must list at least two labels, got {labels!r}")
    if not isinstance(meta["tokenizer"], dict) or "name" not in meta["tokenizer"]:
        raise ExportError(f"{path}: 'tokenizer' must be an object with a 'name'")
    return meta


def default_out(model_dir: str | os.PathLike) -> Path:
    """``exports/<name of the model folder>``."""
    return DEFAULT_EXPORT_ROOT / Path(model_dir).resolve().name


def load_test_data(model_dir: Path, max_len: int, n_labels: int) -> tuple[list[list[int]], np.ndarray]:
    """Id lists (padding trimmed using ``lengths``) and label indices of ``test_data.npz``."""
    path = model_dir / "test_data.npz"
    try:
        with np.load(path) as data:
            token_ids = np.asarray(data["token_ids"])
            labels = np.asarray(data["labels"]).astype(np.int64)
            lengths = np.asarray(data["lengths"]) if "lengths" in data.files else None
    except KeyError as exc:
        raise ExportError(f"{path}: array {exc.args[0]!r} is missing (needs token_ids, lengths, labels)") from exc
    except Exception as exc:
        raise ExportError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from exc
    if token_ids.ndim != 2 or len(token_ids) != len(labels):
        raise ExportError(f"{path}: token_ids must be [n, max_len] with one label per row; got {token_ids.shape} and {labels.shape}")
    if len(token_ids) == 0:
        raise ExportError(f"{path} holds no test documents; parity cannot be checked")
    if labels.min() < 0 or labels.max() >= n_labels:
        raise ExportError(f"{path}: labels must be indices 0..{n_labels - 1}")
    if lengths is None:  # post-padded: the length is up to the last non-zero id
        nz = token_ids != 0
        lengths = np.where(nz.any(axis=1), token_ids.shape[1] - np.argmax(nz[:, ::-1], axis=1), 0)
    lengths = np.minimum(np.asarray(lengths, dtype=np.int64), min(max_len, token_ids.shape[1]))
    ids = [row[:length].tolist() for row, length in zip(token_ids, lengths)]
    return ids, labels


# ---------------------------------------------------------------------------
# conversion
# ---------------------------------------------------------------------------
@contextmanager
def _quiet_logs() -> Iterator[None]:
    names = ("tf2onnx", "tensorflow", "absl", "onnxruntime", "root")
    saved = {name: logging.getLogger(name if name != "root" else None).level for name in names}
    for name in names:
        logging.getLogger(name if name != "root" else None).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name if name != "root" else None).setLevel(level)


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise ExportError(f"export needs TensorFlow, which is not installed: pip install \"toolkit[train]\" ({exc})") from exc
    return tf, keras


def load_keras_model(path: str | os.PathLike, meta: dict[str, Any] | None = None):
    """Load ``model.keras`` (plugins are loaded first so custom layers resolve).

    When loading fails and ``meta`` (the folder's ``model.json``) names an
    architecture that is not installed, the error names the package to install.
    """
    from toolkit import registry

    _, keras = _import_tf()
    registry.get_plugin_manager()  # imports architecture plugins, registering their custom objects
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as exc:
        hint = ""
        arch = (meta or {}).get("architecture")
        if isinstance(arch, dict) and arch.get("name") not in registry.get_components("architecture"):
            hint = "; " + registry.missing_component_message("architecture", arch, where=f"model {Path(path).parent}")
        raise ExportError(f"cannot load the Keras model {path}: {type(exc).__name__}: {exc}{hint}") from exc


def convert_to_onnx(model: Any, length_policy: str, max_len: int, opset: int = MIN_OPSET):
    """The Keras ``model`` as an ONNX ``ModelProto``: input ``token_ids``, output ``probabilities``."""
    tf, _ = _import_tf()
    try:
        import tf2onnx
    except ImportError as exc:
        raise ExportError(f"export needs tf2onnx and onnx: pip install \"toolkit[train]\" ({exc})") from exc
    length = None if length_policy == "dynamic" else max_len
    signature = [tf.TensorSpec([None, length], tf.int32, name=INPUT_NAME)]
    with _quiet_logs():
        try:
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
        except Exception as exc:
            raise ExportError(f"tf2onnx could not convert the model (opset {opset}): {type(exc).__name__}: {exc}") from exc
    _name_io(proto, length_policy)
    return proto


def _rename_value(graph: Any, old: str, new: str) -> None:
    """Rename value ``old`` to ``new`` everywhere in ``graph``, subgraphs (Loop/If/Scan bodies) included."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
        for attr in node.attribute:
            if attr.HasField("g"):
                _rename_value(attr.g, old, new)
            for sub in attr.graphs:
                _rename_value(sub, old, new)
    for coll in (graph.input, graph.output, graph.value_info):
        for value in coll:
            if value.name == old:
                value.name = new


def _name_io(proto: Any, length_policy: str) -> None:
    """Make the graph's input ``token_ids`` [batch, length] and output ``probabilities`` [batch, n]."""
    graph = proto.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ExportError(
            f"the converted model has inputs ({', '.join(v.name for v in inputs)}) and outputs "
            f"({', '.join(v.name for v in graph.output)}); a toolkit model has one input and one output"
        )
    if inputs[0].name != INPUT_NAME:
        _rename_value(graph, inputs[0].name, INPUT_NAME)
    if graph.output[0].name != OUTPUT_NAME:
        _rename_value(graph, graph.output[0].name, OUTPUT_NAME)
    dims = inputs[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    if length_policy == "dynamic":
        dims[1].dim_param = "length"
    out_dims = graph.output[0].type.tensor_type.shape.dim
    if len(out_dims):
        out_dims[0].dim_param = "batch"


def rewrite_graph(proto: Any) -> dict[str, int]:
    """Apply :mod:`toolkit.training.onnx_rewrite` (exact layout rewrites); ``{name: matches}`` of those applied."""
    from toolkit.training.onnx_rewrite import rewrite

    try:
        return rewrite(proto)
    except Exception as exc:
        raise ExportError(f"rewriting the converted ONNX graph failed: {type(exc).__name__}: {exc}") from exc


def check_onnx(proto: Any) -> None:
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected the converted model: {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------
def keras_predict_fn(model: Any):
    """``predict(int array) -> probabilities`` calling the Keras model directly (inference mode)."""
    import keras

    def predict(batch: np.ndarray) -> np.ndarray:
        out = model(batch, training=False)
        # EagerTensor.numpy() avoids NumPy 2's __array__(copy=...) deprecation warning on the TF backend.
        out = out.numpy() if hasattr(out, "numpy") else keras.ops.convert_to_numpy(out)
        return np.asarray(out, dtype=np.float32)

    return predict


def onnx_predict_fn(session: Any):
    def predict(batch: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]

    return predict


def _score(ids: list[list[int]], predict: Any, meta: dict[str, Any], batch_size: int) -> np.ndarray:
    from toolkit.serving.runtime import score_batches

    return score_batches(
        ids, predict, policy=meta["length_policy"], max_len=meta["max_len"], min_len=meta.get("min_len", 1) or 1,
        batch_size=batch_size,
    )


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def parity_report(reference: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    diff = np.abs(reference.astype(np.float64) - other.astype(np.float64))
    agree = np.argmax(reference, axis=1) == np.argmax(other, axis=1)
    return {
        "n": int(len(reference)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "label_agreement": float(agree.mean()) if agree.size else 1.0,
        "labels_differing": int((~agree).sum()),
    }


#: ONNX operators whose weights ``--quantize int8`` quantizes (see _quantize).
QUANTIZED_OPS = ("Gather",)


def _quantize(fp32_path: Path, work: Path, ids: list[list[int]], labels: np.ndarray, fp32_probs: np.ndarray,
              meta: dict[str, Any], batch_size: int) -> tuple[Path | None, dict[str, Any]]:
    """Dynamic int8 quantization; returns (path of the kept int8 model or None, record)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from toolkit.serving.runtime import open_session

    acc_fp32 = _accuracy(fp32_probs, labels)
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
            with _quiet_logs():
                quantize_dynamic(str(fp32_path), str(q_path), weight_type=weight_type,
                                 op_types_to_quantize=QUANTIZED_OPS)
            session = open_session(q_path)
            probs = _score(ids, onnx_predict_fn(session), meta, batch_size)
        except Exception as exc:  # a kernel missing for this weight type, say
            attempt["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            record["attempts"].append(attempt)
            continue
        acc = _accuracy(probs, labels)
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


def library_versions() -> dict[str, str]:
    from toolkit import __version__

    versions = {"toolkit": __version__, "python": platform.python_version(), "numpy": np.__version__}
    for name in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"):
        try:
            module = __import__(name)
            versions[name] = str(getattr(module, "__version__", "unknown"))
        except ImportError:
            versions[name] = "not installed"
    return versions


# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------
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
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it, or choose another --out")
    if out.resolve() == model_dir.resolve() or model_dir.resolve() in out.resolve().parents:
        raise ExportError(f"--out {out} is inside the model folder {model_dir}; write the bundle elsewhere")
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ExportError(f"unknown --quantize {quantize!r}; choices: {', '.join(QUANTIZE_CHOICES)}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(f"opset must be an integer >= {MIN_OPSET}, got {opset!r}")
    labels: list[str] = list(meta["labels"])
    metrics = _read_json_optional(model_dir / "metrics.json")
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

        keras_probs = _score(ids, keras_predict_fn(model), meta, batch_size)
        onnx_probs = _score(ids, onnx_predict_fn(session), meta, batch_size)
        parity = parity_report(keras_probs, onnx_probs)
        parity.update(
            tolerance=PARITY_TOLERANCE,
            batch_size=batch_size,
            length_policy=meta["length_policy"],
            keras_accuracy=_accuracy(keras_probs, true_labels),
            onnx_accuracy=_accuracy(onnx_probs, true_labels),
        )
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
            q_path, quant_record = _quantize(fp32_path, work, ids, true_labels, onnx_probs, meta, batch_size)
            if q_path is not None:
                model_path = q_path
        shutil.move(str(model_path), str(tmp / MODEL_FILE))
        shutil.copyfile(model_dir / VOCAB_FILE, tmp / VOCAB_FILE)
        shutil.rmtree(work)

        bundle_meta = _bundle_meta(
            meta, metrics, parity, quant_record, model_dir, out, opset, proto, command, labels, rewrites,
        )
        (tmp / CARD_FILE).write_text(model_card(bundle_meta, model_dir), encoding="utf-8")
        written = finalize_bundle(tmp, bundle_meta)
        # Read it back as the runtime would (checksums, tokenizer installed, session loads).
        from toolkit.serving.runtime import Runtime

        rt = Runtime.load(tmp)
        if quant_record is None or not quant_record.get("applied"):
            check = rt.score_ids(ids[: min(len(ids), batch_size)], batch_size=batch_size)
            if not np.allclose(check, onnx_probs[: len(check)], atol=PARITY_TOLERANCE, rtol=0):
                raise ExportError("the written bundle scores differently from the checked model; nothing was written")
        del rt, session
        log.info("exported %s: %s", out, json.dumps(written.get("parity")))
    return out


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


def _read_json_optional(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _bundle_meta(meta, metrics, parity, quant_record, model_dir: Path, out: Path, opset: int, proto,
                 command: str, labels: list[str], rewrites: dict[str, int]) -> dict[str, Any]:
    bundle_meta = {
        key: value for key, value in meta.items() if key not in ("format", "format_version")
    }
    bundle_meta.update(
        name=out.name,
        labels=labels,
        min_len=int(meta.get("min_len", 1) or 1),
        metrics={key: value for key, value in metrics.items() if key != "history"},
        parity=parity,
        quantization=quant_record or {"requested": None, "applied": False},
        onnx={
            "opset": opset,
            "ir_version": int(proto.ir_version),
            "input": {"name": INPUT_NAME, "dtype": "int32",
                      "shape": ["batch", "length" if meta["length_policy"] == "dynamic" else meta["max_len"]]},
            "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", len(labels)]},
            "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
            "checker": "passed",
            "rewrites": rewrites,
        },
        versions=library_versions(),
        source={
            "model_dir": str(model_dir.resolve()),
            "model_keras_sha256": sha256_file(model_dir / "model.keras"),
            "model_json_sha256": sha256_file(model_dir / "model.json"),
        },
        export_command=command,
        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    )
    bundle_meta.setdefault("toolkit_version", bundle_meta["versions"]["toolkit"])
    bundle_meta["exported_by"] = bundle_meta["versions"]["toolkit"]
    return bundle_meta


# ---------------------------------------------------------------------------
# the model card
# ---------------------------------------------------------------------------
def _fmt_component(comp: Any) -> str:
    if not isinstance(comp, dict):
        return str(comp)
    name = comp.get("name", "?")
    config = comp.get("config") or {}
    source = comp.get("distribution")
    text = f"`{name}`"
    if config:
        text += " " + ", ".join(f"{k}={json.dumps(v)}" for k, v in config.items())
    if source:
        text += f" (from {source} {comp.get('version', '')}".rstrip() + ")"
    return text


def _training_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.toml"
    if not path.is_file():
        return {}
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except Exception:
        return {}


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, (int, float)) else "n/a"


def model_card(meta: dict[str, Any], model_dir: Path) -> str:
    """The bundle's ``README.md``: data, metrics, checks, and the commands that made it."""
    config = _training_config(model_dir)
    metrics = meta.get("metrics") or {}
    parity = meta["parity"]
    quant = meta.get("quantization") or {}
    labels = meta["labels"]
    lines = [
        f"# {meta['name']}: review sentiment classifier",
        "",
        f"An ONNX bundle made by toolkit {meta['versions']['toolkit']} on {meta['created']}. "
        f"Labels: {', '.join(labels)}. It runs with onnxruntime alone (no TensorFlow).",
        "",
        "## Use",
        "",
        "```python",
        "from toolkit.serving.runtime import Runtime",
        f"Runtime.load(\"{meta['name']}\").predict([\"A gripping, beautifully shot film.\"])",
        "```",
        "",
        f"spaCy: `nlp.add_pipe(\"review_sentiment\", config={{\"model\": \"path/to/{meta['name']}\"}})`; "
        f"command line: `toolkit predict path/to/{meta['name']} \"some text\"`.",
        "",
        "## Data",
        "",
    ]
    data = meta.get("data") or meta.get("corpus") or config.get("data") or config.get("corpus")
    if isinstance(data, dict) and data:
        lines += [f"- {key}: {json.dumps(value) if not isinstance(value, str) else value}" for key, value in data.items()]
    elif data:
        lines.append(f"- {data}")
    else:
        lines.append("- not recorded in the trained-model folder")
    if "n_test" in metrics:
        lines.append(f"- test documents: {metrics['n_test']}")
    text = json.dumps(data or {}).lower()
    if "polarity" in text or (isinstance(data, dict) and not data.get("path")):  # no path: the polarity corpus
        lines.append(
            "- corpus: Pang & Lee's movie review polarity dataset v2.0 (CC BY 4.0), 1,000 positive and "
            "1,000 negative reviews"
        )
    lines += ["", "## Model", ""]
    vocab = meta.get("vocab") or {}
    lines += [
        f"- tokenizer: {_fmt_component(meta.get('tokenizer'))}",
        f"- vocabulary: {vocab.get('size', '?')} entries, min_count={vocab.get('min_count', '?')}, "
        f"max_size={vocab.get('max_size')}, ngrams={vocab.get('ngrams', 1)}, "
        f"unknown words: {vocab.get('unknown', 'map')}",
        f"- architecture: {_fmt_component(meta.get('architecture'))}",
        f"- embedding: {_fmt_component(meta.get('embedding'))}",
        f"- length policy: {meta['length_policy']}, max_len={meta['max_len']}, min_len={meta['min_len']}",
        "",
        "## Metrics (test split)",
        "",
        f"- accuracy (Keras, at training): {_pct(metrics.get('accuracy'))}",
        f"- accuracy (this ONNX model): {_pct(quant.get('accuracy_int8') if quant.get('applied') else parity['onnx_accuracy'])}",
    ]
    per_label = [lab for lab in labels if isinstance(metrics.get(lab), dict)]
    if per_label:
        lines += ["", "| label | precision | recall | f1 | support |", "|---|---|---|---|---|"]
        for lab in per_label:
            m = metrics[lab]
            lines.append(
                f"| {lab} | {m.get('precision', float('nan')):.3f} | {m.get('recall', float('nan')):.3f} | "
                f"{m.get('f1', float('nan')):.3f} | {m.get('support', '')} |"
            )
    cm = metrics.get("confusion_matrix")
    if isinstance(cm, list) and cm:
        lines += ["", "Confusion matrix (rows: true label, columns: predicted):", "",
                  "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        for lab, row in zip(labels, cm):
            lines.append(f"| {lab} | " + " | ".join(str(v) for v in row) + " |")
    lines += [
        "",
        "## Export checks",
        "",
        f"- `onnx.checker`: passed (opset {meta['onnx']['opset']}, input `{INPUT_NAME}` "
        f"{meta['onnx']['input']['shape']}, output `{OUTPUT_NAME}`)"
        + ("; graph rewrites: " + ", ".join(f"{name} x{n}" for name, n in meta["onnx"]["rewrites"].items())
           if meta["onnx"].get("rewrites") else ""),
        f"- parity, Keras vs ONNX on {parity['n']} test documents (batch {parity['batch_size']}): max abs difference "
        f"{parity['max_abs_diff']:.2e} (limit {parity['tolerance']:g}), label agreement {_pct(parity['label_agreement'])}",
    ]
    if quant.get("requested"):
        if quant.get("applied"):
            lines.append(
                f"- int8 quantization ({quant['weight_type']} weights of "
                f"{', '.join(quant.get('op_types') or ['all'])}): accuracy {_pct(quant['accuracy_fp32'])} -> "
                f"{_pct(quant['accuracy_int8'])}; size {quant['size_fp32']:,} -> {quant['size_int8']:,} bytes"
            )
        else:
            lines.append(f"- int8 quantization requested, not applied: {quant.get('reason')}")
    lines += ["", "## How it was made", "", "```"]
    train_cmd = meta.get("command") or meta.get("train_command")
    if not train_cmd and (model_dir / "config.toml").is_file():
        train_cmd = f"toolkit train --config {model_dir / 'config.toml'} --out {model_dir}"
    lines += [train_cmd or "# training command not recorded", meta["export_command"], "```", ""]
    versions = meta["versions"]
    lines.append("Versions at export: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    lines.append("")
    lines.append(
        f"Files: `{MODEL_FILE}`, `{VOCAB_FILE}`, this card; their sha256 are in `{BUNDLE_JSON}`, and the runtime "
        f"refuses a bundle whose files do not match."
    )
    return "\n".join(lines) + "\n"


def export_summary(bundle_path: str | os.PathLike) -> str:
    """A few lines describing an exported bundle (for the CLI)."""
    info = read_bundle(bundle_path, verify=False, check_tokenizer=False)
    meta = info.meta
    parity = meta.get("parity", {})
    quant = meta.get("quantization") or {}
    sizes = meta.get("file_sizes", {})
    lines = [
        f"bundle: {info.path} ({info.length_policy} length, max_len {info.max_len}; labels {', '.join(info.labels)})",
        f"parity Keras vs ONNX: max abs diff {parity.get('max_abs_diff', float('nan')):.2e}, "
        f"label agreement {_pct(parity.get('label_agreement'))} on {parity.get('n', '?')} test docs",
        f"test accuracy (ONNX): {_pct(parity.get('onnx_accuracy'))}",
        f"model.onnx: {sizes.get(MODEL_FILE, 0):,} bytes",
    ]
    if quant.get("requested"):
        lines.append(("int8 kept: " if quant.get("applied") else "int8 not kept: ") + str(quant.get("reason")))
    return "\n".join(lines)
