"""``toolkit export``: Keras -> ONNX bundle, its checks, and the runtime on real exports.

Models are small and trained on a synthetic corpus (``model_factory``) with the
registered architectures: ``cnn`` (dynamic length, masked global pooling),
``cnn-lstm`` (fixed length, chunked CNN + masked LSTM) and, for int8,
``seed-cnn`` (fixed length, Flatten). Each is trained and exported once per
process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import model_factory as mf
from boundary import assert_serving_only, report_code
from spacy_helpers import run_python
from toolkit.training.export import convert as convert_mod
from toolkit.training.export import pipeline as export_mod
from toolkit.training.export import quantize as quantize_mod
from toolkit.core.bundle import sha256_file
from toolkit.core.errors import ExportError, ModelFolderError, OutputExistsError
from toolkit.training.export import export_model
from toolkit.training.keras_io import keras_predict_fn
from toolkit.core.batching import pad_fixed, score_batches
from toolkit.serving.runtime import Runtime

pytestmark = pytest.mark.slow

ARCHS = {"cnn": "dynamic", "cnn-lstm": "fixed"}


@pytest.fixture(scope="module", params=list(ARCHS))
def exported(request) -> tuple[str, Path, Path]:
    """(architecture, trained-model folder, bundle)."""
    name = request.param
    return name, mf.trained_model_dir(name), mf.exported_bundle(name)


@pytest.fixture(scope="module")
def cnn_dir() -> Path:
    return mf.trained_model_dir("cnn")


def load_keras(model_dir: Path):
    import keras

    return keras.saving.load_model(str(model_dir / "model.keras"), compile=False)


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------------------
# what a bundle holds
# ---------------------------------------------------------------------------
def test_bundle_files_checksums_and_metadata(exported):
    name, model_dir, bundle = exported
    assert sorted(p.name for p in bundle.iterdir()) == ["README.md", "bundle.json", "model.onnx", "vocab.npz",
                                                         "vocab.txt"]
    assert leftovers(bundle.parent) == []
    meta = json.loads((bundle / "bundle.json").read_text())
    model_json = json.loads((model_dir / "model.json").read_text())
    assert meta["format"] == "toolkit-bundle" and meta["format_version"] == 2
    from toolkit.core.bundle import compute_bundle_id

    assert meta["bundle_id"] == compute_bundle_id(meta)  # covers bundle.json and, through "files", every file
    for key in ("labels", "tokenizer", "vocab", "length_policy", "max_len", "min_len", "architecture", "embedding"):
        assert meta[key] == model_json[key], key
    assert meta["length_policy"] == ARCHS[name]
    assert meta["metrics"]["accuracy"] == json.loads((model_dir / "metrics.json").read_text())["accuracy"]
    assert "history" not in meta["metrics"]
    assert set(meta["versions"]) >= {"toolkit", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"}
    assert meta["created"] and meta["export_command"].startswith("toolkit export ")
    # checksums and sizes of every other file
    assert set(meta["files"]) == {"model.onnx", "vocab.txt", "vocab.npz", "README.md"}
    for fname, digest in meta["files"].items():
        assert sha256_file(bundle / fname) == digest
        assert meta["file_sizes"][fname] == (bundle / fname).stat().st_size
    assert (bundle / "vocab.txt").read_bytes() == (model_dir / "vocab.txt").read_bytes()
    # parity figures, within bounds
    parity = meta["parity"]
    n_test = len(np.load(model_dir / "test_data.npz")["labels"])
    assert parity["n"] == n_test and parity["passed"] is True
    assert 0 <= parity["max_abs_diff"] <= 1e-4 and parity["tolerance"] == 1e-4
    assert parity["label_agreement"] == 1.0 and parity["labels_differing"] == 0
    assert 0.0 <= parity["onnx_accuracy"] <= 1.0 and parity["onnx_accuracy"] == parity["keras_accuracy"]
    assert meta["quantization"] == {"requested": None, "applied": False}
    # the model card
    card = (bundle / "README.md").read_text()
    for needle in ("## Data", "## Metrics", "## Export checks", "## How it was made", "synthetic reviews",
                   "write_trained_model", meta["export_command"], "max abs difference", name):
        assert needle in card, needle


def test_onnx_graph_is_checked_and_named(exported):
    import onnx

    name, model_dir, bundle = exported
    model = onnx.load(str(bundle / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "token_ids" and out.name == "probabilities"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.INT32
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    max_len = json.loads((model_dir / "model.json").read_text())["max_len"]
    if ARCHS[name] == "dynamic":
        assert dims[1].dim_param == "length"
    else:
        assert dims[1].dim_value == max_len


def test_graph_io_is_renamed_when_the_converter_names_it_otherwise():
    import onnx
    import onnxruntime as ort

    from toolkit.training.export.convert import _name_io

    proto = mf.toy_onnx_model("dynamic", 8)
    graph = proto.graph
    convert_mod._rename_value(graph, "token_ids", "input_1:0")
    convert_mod._rename_value(graph, "probabilities", "model/dense/Softmax:0")
    assert graph.input[0].name == "input_1:0" and graph.output[0].name == "model/dense/Softmax:0"
    _name_io(proto, "dynamic")
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["token_ids"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    ids = np.asarray([[2, 3, 0, 0]], dtype=np.int32)
    np.testing.assert_allclose(session.run(["probabilities"], {"token_ids": ids})[0], mf.toy_scores(ids), atol=1e-6)


# ---------------------------------------------------------------------------
# the runtime agrees with Keras
# ---------------------------------------------------------------------------
TEXTS = mf.synthetic_corpus(n=40, seed=7)[0] + [
    "A great, superb and moving film with a wonderful cast.",
    "Dull. Boring! Tedious and awful: a painful two hours.",
    "",
    "   ",
    "unseen words only zyx qwv",
    "great " * 500,
]


def test_runtime_scores_equal_keras_scores(exported):
    name, model_dir, bundle = exported
    rt = Runtime.load(bundle)
    model = load_keras(model_dir)
    probs = rt.score(TEXTS, batch_size=8)
    ids = rt.encode(TEXTS)
    # Keras on the very batches the runtime builds (sorted buckets under the dynamic policy).
    keras_probs = score_batches(ids, keras_predict_fn(model), policy=rt.length_policy, max_len=rt.max_len,
                                min_len=rt.min_len, batch_size=8)
    assert np.abs(probs - keras_probs).max() <= 1e-4
    assert (probs.argmax(axis=1) == keras_probs.argmax(axis=1)).all()
    # Keras as training evaluates it (every text padded to max_len). The built-in architectures
    # mask padding, so the runtime's shorter dynamic batches give the same scores.
    keras_full = keras_predict_fn(model)(pad_fixed(ids, rt.max_len))
    nonempty = [i for i, seq in enumerate(ids) if seq]
    assert np.abs(probs[nonempty] - keras_full[nonempty]).max() <= 1e-4
    # Empty texts get the all-padding score.
    for i, text in enumerate(TEXTS):
        if not text.strip():
            np.testing.assert_allclose(probs[i], rt.empty_score, atol=1e-6)


def test_fresh_process_scores_real_bundle_without_training_libraries(exported):
    _, _, bundle = exported
    code = report_code() + (
        "import json, sys\n"
        "from toolkit.serving.runtime import Runtime\n"
        f"rt = Runtime.load({str(bundle)!r}, threads=1)\n"
        "out = rt.predict(['A great superb film.', 'dull boring awful', ''])\n"
        "print(json.dumps({'labels': [o['label'] for o in out], **_boundary_report()}))\n"
    )
    result = run_python(code, env={"TOOLKIT_LOAD_PLUGINS": ""})
    assert_serving_only(result)
    assert result["labels"][:2] == ["POSITIVE", "NEGATIVE"]


# ---------------------------------------------------------------------------
# refusals, and nothing half-written
# ---------------------------------------------------------------------------
def test_refuses_a_folder_that_is_not_a_trained_model(tmp_path, exported):
    out = tmp_path / "out"
    with pytest.raises(ModelFolderError, match="does not exist"):
        export_model(tmp_path / "nowhere", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFolderError, match="not a trained model folder.*missing model.json, model.keras, vocab.txt, "
                                          "test_data.npz"):
        export_model(empty, out)
    partial = tmp_path / "partial"
    shutil.copytree(exported[1], partial, ignore=shutil.ignore_patterns("model.keras"))
    with pytest.raises(ModelFolderError, match="missing model.keras$"):
        export_model(partial, out)
    with pytest.raises(ModelFolderError, match="already an exported bundle"):
        export_model(exported[2], out)
    assert not out.exists()


def test_output_folder_rules_and_default_location(tmp_path, monkeypatch, cnn_dir):
    monkeypatch.chdir(tmp_path)
    first = export_model(cnn_dir)
    assert first == Path("exports") / cnn_dir.name and (first / "bundle.json").is_file()
    stamp = json.loads((first / "bundle.json").read_text())["created"]
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_model(cnn_dir)
    again = export_model(cnn_dir, overwrite=True)
    assert again == first and Runtime.load(again).labels == ["NEGATIVE", "POSITIVE"]
    assert json.loads((again / "bundle.json").read_text())["created"] >= stamp
    assert leftovers(tmp_path / "exports") == []
    # --overwrite never replaces a folder that is not a bundle
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="refusing to replace"):
        export_model(cnn_dir, foreign, overwrite=True)
    assert (foreign / "todo.txt").read_text() == "keep me"


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_interrupted_export_leaves_no_bundle(tmp_path, monkeypatch, cnn_dir, interrupt):
    def fail_midway(folder, meta):
        assert (folder / "model.onnx").is_file()  # the bundle was half-written
        raise interrupt("simulated interruption")

    monkeypatch.setattr(export_mod, "finalize_bundle", fail_midway)
    out = tmp_path / "bundle"
    with pytest.raises(interrupt):
        export_model(cnn_dir, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_the_old_bundle(tmp_path, monkeypatch, cnn_dir):
    out = tmp_path / "bundle"
    shutil.copytree(mf.exported_bundle("cnn"), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(export_mod, "finalize_bundle", lambda folder, meta: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        export_model(cnn_dir, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_parity_failure_refuses_and_writes_nothing(tmp_path, monkeypatch, cnn_dir):
    monkeypatch.setattr(export_mod, "PARITY_TOLERANCE", -1.0)  # no model can pass
    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match="Keras and ONNX disagree.*max abs difference.*nothing was written"):
        export_model(cnn_dir, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_options_are_refused_before_any_work(tmp_path, cnn_dir):
    with pytest.raises(ExportError, match="unknown --quantize 'int4'"):
        export_model(cnn_dir, tmp_path / "a", quantize="int4")
    with pytest.raises(ExportError, match="opset must be an integer >= 17"):
        export_model(cnn_dir, tmp_path / "b", opset=13)
    with pytest.raises(ExportError, match="inside the model folder"):
        export_model(cnn_dir, cnn_dir / "bundle")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# int8
# ---------------------------------------------------------------------------
def test_quantize_int8_records_before_after_and_sizes(tmp_path):
    # seed-cnn (Flatten + Dense) has enough weights for int8 to pay off.
    bundle = export_model(mf.trained_model_dir("seed-cnn"), tmp_path / "int8", quantize="int8")
    meta = json.loads((bundle / "bundle.json").read_text())
    q = meta["quantization"]
    assert q["requested"] == "int8" and q["method"].endswith("quantize_dynamic")
    for key in ("accuracy_fp32", "accuracy_int8", "size_fp32", "size_int8", "drop_points", "reason", "attempts"):
        assert key in q, key
    if q["applied"]:
        assert q["weight_type"] in ("QInt8", "QUInt8")
        assert q["drop_points"] <= 1.0
        assert meta["file_sizes"]["model.onnx"] == q["size_int8"] < q["size_fp32"]
    else:  # refused: the reason is recorded and fp32 kept
        assert q["reason"].startswith("kept fp32") and meta["file_sizes"]["model.onnx"] == q["size_fp32"]
    assert meta["parity"]["passed"]  # parity is checked on fp32 before quantizing
    rt = Runtime.load(bundle)
    assert [p["label"] for p in rt.predict(["great superb wonderful film", "awful dull boring film"])] == [
        "POSITIVE", "NEGATIVE"]
    assert "int8 quantization" in (bundle / "README.md").read_text()


def test_quantize_int8_refused_when_accuracy_drops(tmp_path, monkeypatch, cnn_dir):
    monkeypatch.setattr(quantize_mod, "MAX_QUANTIZATION_DROP_POINTS", -1.0)  # any int8 model "drops too much"
    bundle = export_model(cnn_dir, tmp_path / "b", quantize="int8")
    meta = json.loads((bundle / "bundle.json").read_text())
    q = meta["quantization"]
    assert q["applied"] is False and "accuracy dropped" in q["reason"]
    assert meta["file_sizes"]["model.onnx"] == q["size_fp32"]
    assert "not applied" in (bundle / "README.md").read_text()


def test_vocab_index_added_to_an_older_bundle(tmp_path):
    """python -m toolkit.training.export.vocab_index: vocab.npz written, bundle.json finalised again, same scores."""
    from toolkit.core.bundle import read_bundle
    from toolkit.training.export.vocab_index import add_vocab_index, main

    bundle = mf.make_onnx_bundle(tmp_path / "b", vocab={"size": len(mf.TOY_VOCAB), "ngrams": 2})
    before = read_bundle(bundle)
    texts = [" ".join(mf.TOY_VOCAB[2:]), "good bad " * 5, ""]
    scores = Runtime.load(bundle).score(texts)
    meta = add_vocab_index(bundle)
    after = read_bundle(bundle)  # every checksum verified
    assert set(after.files) == set(before.files) | {"vocab.npz"} and after.bundle_id == meta["bundle_id"]
    assert {k: v for k, v in after.files.items() if k != "vocab.npz"} == before.files
    rt = Runtime.load(bundle)
    assert rt.vocab._pairs is not None
    np.testing.assert_array_equal(rt.score(texts), scores)
    (bundle / "vocab.txt").write_text("changed\n")
    assert main([str(bundle)]) == 1  # a damaged bundle is refused, not blessed with new checksums
    assert read_bundle(bundle, verify=False).bundle_id == meta["bundle_id"]
