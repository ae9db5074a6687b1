"""The trained-model folder: written by ``toolkit train``, read by ``evaluate`` and ``export``.

One module owns the format (see docs/formats.md), as :mod:`toolkit.core.bundle`
owns the bundle's: ``model.keras``, ``vocab.txt``, ``config.toml``,
``model.json``, ``metrics.json``, ``test_data.npz`` and ``training_curve.png``.
The folder is written into a temporary folder next to the target and renamed
into place (:func:`toolkit.core.atomic.atomic_dir`), so an error or a
signal leaves a complete folder or none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from toolkit.core.errors import ModelFolderError
from toolkit.core.options import check_int
from toolkit.core.batching import LENGTH_POLICIES, pad
from toolkit.core.atomic import atomic_dir, write_json
from toolkit.core.bundle import BUNDLE_JSON, VOCAB_FILE

MODEL_FORMAT = "toolkit-model"
MODEL_FORMAT_VERSION = 1
MODEL_FILE_KERAS = "model.keras"
MODEL_JSON = "model.json"
METRICS_JSON = "metrics.json"
CONFIG_FILE = "config.toml"
TEST_DATA = "test_data.npz"
CURVE_PNG = "training_curve.png"
#: Files a trained-model folder must hold to be evaluated or exported.
REQUIRED_MODEL_FILES = (MODEL_JSON, MODEL_FILE_KERAS, VOCAB_FILE, TEST_DATA)


def write_model_folder(out_dir: str | os.PathLike, *, model: Any, vocab: Any, config_toml: str, meta: dict[str, Any],
                       metrics: dict[str, Any], test_ids: Sequence[Sequence[int]], test_labels: np.ndarray,
                       max_len: int, overwrite: bool = False,
                       extras: Callable[[Path], None] | None = None) -> Path:
    """Write a complete model folder atomically; ``extras(tmp)`` may add files (plots) before the rename."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out_dir, overwrite=overwrite, expect=(MODEL_JSON,)) as tmp:
        tmp = Path(tmp)
        model.save(tmp / MODEL_FILE_KERAS)
        vocab.to_file(tmp / VOCAB_FILE)
        (tmp / CONFIG_FILE).write_text(config_toml, encoding="utf-8")
        write_json(tmp / MODEL_JSON, meta)
        write_json(tmp / METRICS_JSON, metrics)
        padded = pad(test_ids, max_len, "fixed")
        np.savez_compressed(tmp / TEST_DATA, token_ids=padded,
                            lengths=np.array([min(len(x), max_len) for x in test_ids], dtype=np.int32),
                            labels=np.asarray(test_labels))
        if extras is not None:
            extras(tmp)
    return out_dir


def read_model_dir(model_dir: str | os.PathLike) -> dict[str, Any]:
    """``model.json`` of a trained-model folder, after checking the folder is one.

    Raises:
        ModelFolderError: naming what is missing or wrong.
    """
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelFolderError(f"model folder {model_dir} does not exist; pass the folder written by `toolkit train --out`")
    if not model_dir.is_dir():
        raise ModelFolderError(f"{model_dir} is not a folder; pass the folder written by `toolkit train --out`")
    if (model_dir / BUNDLE_JSON).is_file() and not (model_dir / "model.keras").exists():
        raise ModelFolderError(f"{model_dir} is already an exported bundle; export takes a trained-model folder")
    missing = [name for name in REQUIRED_MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelFolderError(
            f"{model_dir} is not a trained model folder (written by `toolkit train --out`): "
            f"missing {', '.join(missing)}"
        )
    path = model_dir / "model.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelFolderError(f"{path}: expected a JSON object")
    if meta.get("format", MODEL_FORMAT) != MODEL_FORMAT:
        raise ModelFolderError(f"{path}: 'format' is {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > MODEL_FORMAT_VERSION:
        raise ModelFolderError(
            f"{path}: model format version {version!r} is newer than this toolkit reads ({MODEL_FORMAT_VERSION}); "
            f"upgrade toolkit"
        )
    for key in ("labels", "tokenizer", "length_policy", "max_len"):
        if key not in meta:
            raise ModelFolderError(f"{path}: field {key!r} is missing")
    if meta["length_policy"] not in LENGTH_POLICIES:
        raise ModelFolderError(f"{path}: 'length_policy' must be 'fixed' or 'dynamic', got {meta['length_policy']!r}")
    check_int(meta["max_len"], "max_len", minimum=1, subject=f"{path}: 'max_len'", error=ModelFolderError)
    labels = meta["labels"]
    if not isinstance(labels, list) or len(labels) < 2:
        raise ModelFolderError(f"{path}: 'labels' must list at least two labels, got {labels!r}")
    if not isinstance(meta["tokenizer"], dict) or "name" not in meta["tokenizer"]:
        raise ModelFolderError(f"{path}: 'tokenizer' must be an object with a 'name'")
    return meta


def load_test_data(model_dir: Path, max_len: int, n_labels: int) -> tuple[list[list[int]], np.ndarray]:
    """Id lists (padding trimmed using ``lengths``) and label indices of ``test_data.npz`` (a multi-label
    model's: its label matrix [n, n_labels] of 0/1)."""
    path = model_dir / "test_data.npz"
    try:
        with np.load(path) as data:
            token_ids = np.asarray(data["token_ids"])
            labels = np.asarray(data["labels"]).astype(np.int64)
            lengths = np.asarray(data["lengths"]) if "lengths" in data.files else None
    except KeyError as exc:
        raise ModelFolderError(f"{path}: array {exc.args[0]!r} is missing (needs token_ids, lengths, labels)") from exc
    except Exception as exc:
        raise ModelFolderError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from exc
    if token_ids.ndim != 2 or len(token_ids) != len(labels):
        raise ModelFolderError(f"{path}: token_ids must be [n, max_len] with one label per row; got {token_ids.shape} and {labels.shape}")
    if len(token_ids) == 0:
        raise ModelFolderError(f"{path} holds no test documents; parity cannot be checked")
    if labels.ndim == 2:  # multi-label
        if labels.shape[1] != n_labels or not np.isin(labels, (0, 1)).all():
            raise ModelFolderError(f"{path}: a multi-label model's labels must be a 0/1 matrix [n, {n_labels}], "
                                   f"got shape {labels.shape}")
    elif labels.min() < 0 or labels.max() >= n_labels:
        raise ModelFolderError(f"{path}: labels must be indices 0..{n_labels - 1}")
    if lengths is None:  # post-padded: the length is up to the last non-zero id
        nz = token_ids != 0
        lengths = np.where(nz.any(axis=1), token_ids.shape[1] - np.argmax(nz[:, ::-1], axis=1), 0)
    lengths = np.minimum(np.asarray(lengths, dtype=np.int64), min(max_len, token_ids.shape[1]))
    ids = [row[:length].tolist() for row, length in zip(token_ids, lengths)]
    return ids, labels


def read_json_optional(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}
