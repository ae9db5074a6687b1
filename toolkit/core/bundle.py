"""Model bundles: the folder ``toolkit export`` writes and the runtime reads.

Serving half: this module imports only the standard library (numpy is not even
needed), so reading a bundle never pulls in TensorFlow.

A bundle is a folder (see ``docs/formats.md``)::

    model.onnx    input token_ids int32 [batch, length], output probabilities
    vocab.txt     one token per line, in id order
    vocab.npz     the vocabulary's bigram index, as arrays (optional: older bundles
                  lack it and the runtime builds it on first use)
    README.md     the model card
    bundle.json   everything serving needs, the sha256 of every other file, and
                  the bundle id: a sha256 over all of bundle.json's other fields

:func:`read_bundle` checks a bundle before anything is loaded from it: the
folder and ``bundle.json`` exist, the format is ``toolkit-bundle`` of a version
this toolkit reads, the bundle id matches ``bundle.json`` (so no field, label
order included, can change unnoticed; format 2), the fields serving needs are
present and sane, every listed file has its recorded size and sha256, and the
tokenizer it names is installed.

Bundles are written with :func:`toolkit.core.atomic.atomic_dir` (complete
or not at all).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.core.errors import BundleError, RegistryError
from toolkit.core.options import check_int
from toolkit.core.atomic import write_json
from toolkit.core.batching import LENGTH_POLICIES
from toolkit.core.vocab import UNKNOWN_POLICIES

#: The bundle format this toolkit writes, and the newest it reads. Version 2 added ``bundle_id``
#: (version-1 bundles are still read, with their per-file checks only).
FORMAT = "toolkit-bundle"
FORMAT_VERSION = 2
#: The first format version whose bundle.json must carry a ``bundle_id``.
BUNDLE_ID_SINCE = 2
BUNDLE_JSON = "bundle.json"
MODEL_FILE = "model.onnx"
VOCAB_FILE = "vocab.txt"
#: The bigram index of ``vocab.txt`` (:meth:`toolkit.core.vocab.Vocab.save_bigram_index`); optional.
VOCAB_INDEX_FILE = "vocab.npz"
CARD_FILE = "README.md"
#: Files every bundle must hold (besides bundle.json) and list in ``files``.
REQUIRED_FILES = (MODEL_FILE, VOCAB_FILE)

INPUT_NAME = "token_ids"
OUTPUT_NAME = "probabilities"


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def compute_bundle_id(meta: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``meta`` without its ``bundle_id``.

    ``meta`` holds the sha256 of every other file (``files``), so the id covers the
    whole bundle: any change to a file or to a field of bundle.json changes it.
    """
    body = {key: value for key, value in meta.items() if key != "bundle_id"}
    try:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{BUNDLE_JSON} holds a value JSON cannot represent exactly: {exc}") from exc
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def finalize_bundle(folder: str | os.PathLike, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``bundle.json`` into ``folder``: ``meta`` plus checksums, sizes and the bundle id.

    Every file in ``folder`` except ``bundle.json`` (and hidden files) is listed in
    ``files`` (name -> sha256) and ``file_sizes`` (name -> bytes); ``bundle_id`` is
    :func:`compute_bundle_id` of the rest. Call it last, once every other file is in
    place. Returns the metadata written.
    """
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise BundleError(f"cannot finish the bundle in {folder}: {', '.join(missing)} not written")
    names = sorted(p.name for p in folder.iterdir()
                   if p.is_file() and p.name != BUNDLE_JSON and not p.name.startswith("."))
    meta = {key: value for key, value in meta.items() if key != "bundle_id"}
    meta["format"] = FORMAT
    meta["format_version"] = FORMAT_VERSION
    meta["files"] = {name: sha256_file(folder / name) for name in names}
    meta["file_sizes"] = {name: (folder / name).stat().st_size for name in names}
    meta["bundle_id"] = compute_bundle_id(meta)
    write_json(folder / BUNDLE_JSON, meta)
    return meta


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
@dataclass
class BundleInfo:
    """A checked bundle: where it is and what serving needs from ``bundle.json``."""

    path: Path
    meta: dict[str, Any]
    labels: list[str]
    tokenizer: dict[str, Any]  # {"name", "config", and where known "plugin", "distribution", "version"}
    length_policy: str
    max_len: int
    min_len: int
    ngrams: int = 1
    unknown: str = "map"  # out-of-vocabulary words: "map" to <unk> or "drop" (toolkit.core.vocab)
    format_version: int = FORMAT_VERSION
    files: dict[str, str] = field(default_factory=dict)
    #: ``sha256:...`` over bundle.json (and through ``files``, every file). Recorded and checked from
    #: format 2 on; for a version-1 bundle it is computed on reading (``bundle_id_recorded`` false).
    bundle_id: str = ""
    bundle_id_recorded: bool = True
    #: Non-exclusive labels (``bundle.json["multi_label"]``): one independent probability per label, and a
    #: label is predicted when its probability reaches its threshold. False for bundles without the field.
    multi_label: bool = False
    #: The decision threshold of each label, in label order (``bundle.json["thresholds"]``; 0.5 each when a
    #: multi-label bundle has none); ``None`` for an exclusive bundle.
    thresholds: list[float] | None = None

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def vocab_path(self) -> Path:
        return self.path / VOCAB_FILE

    @property
    def vocab_index_path(self) -> Path | None:
        """``vocab.npz`` when the bundle lists it (bundles exported before it existed do not)."""
        return self.path / VOCAB_INDEX_FILE if VOCAB_INDEX_FILE in self.files else None

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.path.name


_DAMAGED = "the bundle is damaged or was not written by toolkit export"


def _field_error(path: Path, message: str) -> BundleError:
    return BundleError(f"{path / BUNDLE_JSON}: {message}; {_DAMAGED}")


def _int_field(meta: dict[str, Any], key: str, path: Path, default: int | None = None) -> int:
    return check_int(meta.get(key, default), key, minimum=1, subject=f"{path / BUNDLE_JSON}: {key!r}", hint=_DAMAGED,
                     error=BundleError)


def read_bundle(path: str | os.PathLike, verify: bool = True, check_tokenizer: bool = True) -> BundleInfo:
    """Read and check the bundle in folder ``path``.

    ``verify=False`` skips the sha256 checks (for large bundles loaded often
    from trusted storage); ``check_tokenizer=False`` skips the registry lookup.

    Raises:
        BundleError: naming the file or field at fault and what to do.
    """
    path = Path(path)
    try:
        return _read_bundle(path, verify, check_tokenizer)
    except BundleError:
        raise
    except RecursionError as exc:
        raise BundleError(f"{path / BUNDLE_JSON}: nested too deeply to be a toolkit bundle.json") from exc
    except OSError as exc:
        raise BundleError(f"bundle {path} cannot be read: {exc.strerror or exc}"
                          + (f" ({exc.filename})" if getattr(exc, "filename", None) else "")) from exc


def _read_bundle(path: Path, verify: bool, check_tokenizer: bool) -> BundleInfo:
    if not path.exists():
        raise BundleError(f"bundle {path} does not exist; pass the folder written by `toolkit export`")
    if not path.is_dir():
        raise BundleError(f"bundle {path} is not a folder; pass the folder written by `toolkit export`")
    meta_path = path / BUNDLE_JSON
    if not meta_path.is_file():
        hint = " (it looks like a trained-model folder: run `toolkit export` on it first)" if (path / "model.json").is_file() else ""
        raise BundleError(f"{path} is not a toolkit bundle: {BUNDLE_JSON} is missing{hint}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{meta_path} is not valid JSON: {' '.join(str(exc).split())}; the bundle is damaged, "
                          f"export it again") from exc
    if not isinstance(meta, dict):
        raise _field_error(path, f"expected a JSON object, got {type(meta).__name__}")

    if meta.get("format") != FORMAT:
        raise _field_error(path, f"'format' is {meta.get('format')!r}, expected {FORMAT!r}")
    version = _int_field(meta, "format_version", path)
    if version > FORMAT_VERSION:
        from toolkit import __version__

        made_by = meta.get("exported_by") or meta.get("toolkit_version") or "version unknown"
        raise BundleError(
            f"bundle {path} was made by a newer toolkit ({made_by}; bundle format version {version}) and "
            f"this toolkit {__version__} reads format versions up to {FORMAT_VERSION}; upgrade: pip install -U toolkit"
        )

    labels = meta.get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels):
        raise _field_error(path, f"'labels' must be a list of at least two label names, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise _field_error(path, f"'labels' has duplicates: {labels!r}")
    tokenizer = meta.get("tokenizer")
    if not isinstance(tokenizer, dict) or not isinstance(tokenizer.get("name"), str) or not tokenizer["name"]:
        raise _field_error(path, f"'tokenizer' must be an object with a 'name', got {tokenizer!r}")
    tokenizer = dict(tokenizer)
    tokenizer.setdefault("config", {})
    if not isinstance(tokenizer["config"], dict):
        raise _field_error(path, f"'tokenizer.config' must be an object, got {tokenizer['config']!r}")
    policy = meta.get("length_policy")
    if policy not in LENGTH_POLICIES:
        raise _field_error(path, f"'length_policy' must be one of {', '.join(LENGTH_POLICIES)}, got {policy!r}")
    max_len = _int_field(meta, "max_len", path)
    min_len = _int_field(meta, "min_len", path, default=1)
    if min_len > max_len:
        raise _field_error(path, f"'min_len' ({min_len}) is larger than 'max_len' ({max_len})")
    vocab_meta = meta.get("vocab") or {}
    if not isinstance(vocab_meta, dict):
        raise _field_error(path, f"'vocab' must be an object, got {vocab_meta!r}")
    ngrams = _int_field(vocab_meta, "ngrams", path, default=1)
    unknown = vocab_meta.get("unknown", "map")
    if unknown not in UNKNOWN_POLICIES:
        raise _field_error(path, f"'vocab.unknown' must be one of {', '.join(UNKNOWN_POLICIES)}, got {unknown!r}")

    multi_label, thresholds = _label_mode(meta, labels, path)

    files = meta.get("files")
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise _field_error(path, "'files' must map file names to sha256 hex digests")
    for name in REQUIRED_FILES:
        if name not in files:
            raise _field_error(path, f"'files' does not list {name}")
    for name in files:
        if not name or Path(name).name != name or name in (".", "..", BUNDLE_JSON) or "\x00" in name:
            raise _field_error(path, f"'files' lists {name!r}, which is not a plain file name of the bundle")
    # The id last among the bundle.json checks: a malformed field gets its own message above, a
    # well-formed but changed one (labels swapped, a policy edited) is caught here.
    recorded_id = meta.get("bundle_id")
    if recorded_id is None and version >= BUNDLE_ID_SINCE:
        raise _field_error(path, f"'bundle_id' is missing (required from format version {BUNDLE_ID_SINCE})")
    bundle_id = compute_bundle_id(meta)
    if recorded_id is not None and recorded_id != bundle_id:
        raise BundleError(
            f"bundle {path}: {BUNDLE_JSON} does not match its bundle_id (recorded {str(recorded_id)[:19]}..., "
            f"content {bundle_id[:19]}...): a field was changed or damaged after export; export the bundle again"
        )
    sizes = meta.get("file_sizes") or {}
    if not isinstance(sizes, dict):
        raise _field_error(path, "'file_sizes' must map file names to sizes in bytes")
    for name, expected in files.items():
        file_path = path / name
        if not file_path.is_file():
            raise BundleError(f"bundle {path} is incomplete: {name} is listed in {BUNDLE_JSON} but missing")
        size = sizes.get(name)
        if verify and isinstance(size, int) and not isinstance(size, bool) and file_path.stat().st_size != size:
            raise BundleError(
                f"bundle {path}: size mismatch for {name} ({file_path.stat().st_size} bytes, {BUNDLE_JSON} "
                f"records {size}); "
                f"the file was truncated, modified or damaged; export the bundle again"
            )
        if verify:
            actual = sha256_file(file_path)
            if actual != expected.lower():
                raise BundleError(
                    f"bundle {path}: checksum mismatch for {name} (sha256 {actual[:12]}..., "
                    f"{BUNDLE_JSON} records {expected[:12]}...); the file was modified or damaged; "
                    f"export the bundle again"
                )

    if check_tokenizer:
        check_tokenizer_installed(tokenizer, path)

    return BundleInfo(
        path=path,
        meta=meta,
        labels=list(labels),
        tokenizer=tokenizer,
        length_policy=policy,
        max_len=max_len,
        min_len=min_len,
        ngrams=ngrams,
        unknown=unknown,
        format_version=version,
        files=dict(files),
        bundle_id=bundle_id,
        bundle_id_recorded=recorded_id is not None,
        multi_label=multi_label,
        thresholds=thresholds,
    )


def _label_mode(meta: dict[str, Any], labels: list[str], path: Path) -> tuple[bool, list[float] | None]:
    """``multi_label`` (a bool, default false) and ``thresholds`` ({label: number in [0, 1]} naming every
    label, only with ``multi_label``) of bundle.json, the thresholds in label order."""
    multi_label = meta.get("multi_label", False)
    if not isinstance(multi_label, bool):
        raise _field_error(path, f"'multi_label' must be true or false, got {multi_label!r}")
    thresholds = meta.get("thresholds")
    if thresholds is None:
        return multi_label, [0.5] * len(labels) if multi_label else None
    if not multi_label:
        raise _field_error(path, "'thresholds' is set but 'multi_label' is not true (an exclusive bundle predicts "
                                 "its top label)")
    if not isinstance(thresholds, dict) or set(thresholds) != set(labels):
        raise _field_error(path, f"'thresholds' must map each label ({', '.join(labels)}) to a number, got "
                                 f"{thresholds!r}")
    out = []
    for label in labels:
        value = thresholds[label]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise _field_error(path, f"'thresholds' of {label!r} must be a number from 0 to 1, got {value!r}")
        out.append(float(value))
    return multi_label, out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_tokenizer_installed(tokenizer: dict[str, Any], bundle_path: str | os.PathLike = "") -> None:
    """Raise :class:`BundleError` naming the plugin to install when the tokenizer is unknown."""
    from toolkit.core import registry

    try:
        registry.require("tokenizer", tokenizer, where=f"bundle {bundle_path}" if bundle_path else "")
    except RegistryError as exc:
        raise BundleError(exc.message) from exc
