"""What an export records: ``bundle.json``'s metadata, the model card (README.md) and the CLI summary."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.core.bundle import (BUNDLE_JSON, INPUT_NAME, MODEL_FILE, OUTPUT_NAME, VOCAB_FILE, VOCAB_INDEX_FILE,
                                 read_bundle, sha256_file)
from toolkit.training.splits import describe_part


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

def bundle_meta(meta, metrics, parity, quant_record, model_dir: Path, out: Path, opset: int, proto,
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
    used = metrics.get("data")
    if isinstance(used, dict) and used:  # which documents trained, validated and tested (toolkit.training.splits)
        lines.append("- documents used:")
        for part, record in used.items():
            what = f", for {record['used_for']}" if isinstance(record, dict) and record.get("used_for") else ""
            lines.append(f"  - {part}: {describe_part(record)}{what}")
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
    lines += _calibration_lines(meta.get("calibration"), metrics.get("calibration"))
    if meta.get("multi_label"):
        lines += _multilabel_lines(meta, metrics)
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
        f"Files: `{MODEL_FILE}`, `{VOCAB_FILE}`, `{VOCAB_INDEX_FILE}` (its bigram index), this card; their sha256 "
        f"are in `{BUNDLE_JSON}`, and the runtime "
        f"refuses a bundle whose files do not match."
    )
    return "\n".join(lines) + "\n"

def _multilabel_lines(meta: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    """Model-card lines of a multi-label bundle: what its outputs mean, the averaged figures, per label."""
    thresholds = meta.get("thresholds") or {}
    figures = ", ".join(f"{name} {metrics.get(key, float('nan')):.3f}" for name, key in (
        ("micro F1", "micro_f1"), ("macro F1", "macro_f1"), ("samples F1", "samples_f1"), ("macro AUC", "macro_auc"),
        ("Hamming loss", "hamming_loss")))
    lines = [
        "- multi-label: one independent probability per label (a sigmoid each, not summing to 1); a label is "
        "predicted when its probability reaches its threshold (`thresholds` in bundle.json), chosen on "
        f"{meta.get('thresholds_chosen_on', '?')}",
        f"- exact match (every label of a document right; the 'accuracy' above): {_pct(metrics.get('accuracy'))}; "
        f"{figures}",
    ]
    per_label = metrics.get("per_label") or {}
    if per_label:
        lines += ["", "| label | threshold | precision | recall | f1 | AUC | support |", "|---" * 7 + "|"]
        for label in meta["labels"]:
            m = per_label.get(label) or {}
            auc = m.get("auc")
            lines.append(f"| {label} | {thresholds.get(label, 0.5):.2f} | {m.get('precision', float('nan')):.3f} | "
                         f"{m.get('recall', float('nan')):.3f} | {m.get('f1', float('nan')):.3f} | "
                         f"{'n/a' if auc is None else f'{auc:.3f}'} | {m.get('support', '')} |")
        lines.append("")
    return lines


def _calibration_lines(record: Any, measured: Any) -> list[str]:
    """Model-card lines on the calibration the runtime applies (``bundle.json["calibration"]``)."""
    method = record.get("method") if isinstance(record, dict) else None
    if method == "temperature":
        what = f"temperature {record['temperature']:.3f}, applied by the runtime as softmax(log(p) / T)"
    elif method == "length-temperature":
        what = (f"length-dependent temperature T = exp({record['a']:.3f} {record['b']:+.3f} log n), n = the text's "
                f"model ids, applied by the runtime as softmax(log(p) / T)")
    elif method == "label-temperature":
        temps = ", ".join(f"{label} {t:.3f}" for label, t in (record.get("temperatures") or {}).items())
        what = f"a temperature per label ({temps}), applied by the runtime as sigmoid(logit(p) / T)"
    else:
        return ["- calibration: none (probabilities as the model outputs them)"]
    lines = [f"- calibration: {what}; fitted on {record.get('fitted_on', '?')} ({record.get('n', '?')} examples)"]
    test = measured.get("test") if isinstance(measured, dict) else None
    if isinstance(test, dict) and "before" in test:
        b, a = test["before"], test["after"]
        kind = "per label, averaged" if method == "label-temperature" else "top-label"
        lines.append(f"- test split, before -> after calibration: ECE ({kind}, 10 bins) {b['ece']:.3f} -> "
                     f"{a['ece']:.3f}, Brier {b['brier']:.3f} -> {a['brier']:.3f}, log loss {b['log_loss']:.3f} -> "
                     f"{a['log_loss']:.3f}")
    return lines

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
