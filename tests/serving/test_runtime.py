"""The bundle reader, atomic folders and the TensorFlow-free runtime.

Most tests use a bundle written by hand around a tiny ONNX graph
(``model_factory.make_onnx_bundle``) whose scores are known in closed form,
so this file needs neither TensorFlow nor training. Exported Keras models are
tested in ``test_export.py``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import model_factory as mf
from toolkit.core import registry
from toolkit.core.atomic import atomic_dir
from toolkit.core.bundle import FORMAT_VERSION, finalize_bundle, read_bundle, sha256_file
from toolkit.core.errors import BundleError, InputError, OutputExistsError
from toolkit.core.batching import pad_fixed, plan_batches, score_batches
from toolkit.serving.predict_io import predict_file
from toolkit.serving.runtime import Runtime



@pytest.fixture
def dyn_bundle(tmp_path: Path) -> Path:
    return mf.make_onnx_bundle(tmp_path / "dyn", policy="dynamic", max_len=8, min_len=3)


@pytest.fixture
def fixed_bundle(tmp_path: Path) -> Path:
    return mf.make_onnx_bundle(tmp_path / "fixed", policy="fixed", max_len=8, min_len=3)


def rewrite_meta(bundle: Path, **changes) -> None:
    meta = json.loads((bundle / "bundle.json").read_text())
    meta.update(changes)
    (bundle / "bundle.json").write_text(json.dumps(meta))


# ---------------------------------------------------------------------------
# atomic_dir
# ---------------------------------------------------------------------------
def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_atomic_dir_renames_into_place_when_done(tmp_path):
    target = tmp_path / "sub" / "out"
    with atomic_dir(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        (tmp / "a.txt").write_text("x")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "x"
    assert leftovers(target.parent) == []


def test_atomic_dir_gets_the_permissions_of_a_new_folder(tmp_path):
    import os
    import stat

    plain = tmp_path / "plain"
    plain.mkdir()  # what the umask gives a new folder (mkdtemp would give 0700)
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("x")
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_dir_leaves_nothing_on_error_or_interrupt(tmp_path, exc):
    target = tmp_path / "out"
    with pytest.raises(type(exc)):
        with atomic_dir(target) as tmp:
            (tmp / "half.onnx").write_bytes(b"12")
            raise exc
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_atomic_dir_overwrite_rules(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "bundle.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        with atomic_dir(target):
            pass
    # A failed overwrite keeps the old folder whole.
    with pytest.raises(RuntimeError):
        with atomic_dir(target, overwrite=True, expect=("bundle.json",)) as tmp:
            (tmp / "new").write_text("n")
            raise RuntimeError("boom")
    assert (target / "bundle.json").exists() and not (target / "new").exists()
    with atomic_dir(target, overwrite=True, expect=("bundle.json",)) as tmp:
        (tmp / "new").write_text("n")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert leftovers(tmp_path) == []


def test_atomic_dir_never_replaces_a_foreign_folder_or_a_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    with pytest.raises(OutputExistsError, match="refusing to replace"):
        with atomic_dir(home, overwrite=True, expect=("bundle.json",)):
            pass
    assert (home / "thesis.tex").exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        with atomic_dir(a_file, overwrite=True):
            pass
    assert a_file.read_text() == "x"
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------
# read_bundle
# ---------------------------------------------------------------------------
def test_read_bundle_returns_what_serving_needs(dyn_bundle):
    info = read_bundle(dyn_bundle)
    assert info.labels == ["NEGATIVE", "POSITIVE"]
    assert info.tokenizer["name"] == "nltk"
    assert (info.length_policy, info.max_len, info.min_len, info.ngrams) == ("dynamic", 8, 3, 1)
    assert info.meta["format"] == "toolkit-bundle" and info.format_version == FORMAT_VERSION
    assert set(info.files) == {"model.onnx", "vocab.txt", "README.md"}
    for name, digest in info.files.items():
        assert sha256_file(dyn_bundle / name) == digest
        assert info.meta["file_sizes"][name] == (dyn_bundle / name).stat().st_size


def test_missing_folder_and_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match=r"nowhere does not exist"):
        read_bundle(tmp_path / "nowhere")
    model_dir = tmp_path / "trained"
    model_dir.mkdir()
    (model_dir / "model.json").write_text("{}")
    with pytest.raises(BundleError, match=r"bundle.json is missing.*toolkit export"):
        Runtime.load(model_dir)


def test_modified_model_is_refused(dyn_bundle):
    with open(dyn_bundle / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match=r"(checksum|size) mismatch for model\.onnx"):
        Runtime.load(dyn_bundle)
    # verify=False skips the checksums (onnxruntime still reads the file).
    assert read_bundle(dyn_bundle, verify=False).labels == ["NEGATIVE", "POSITIVE"]


def test_modified_vocab_is_refused(dyn_bundle):
    (dyn_bundle / "vocab.txt").write_text((dyn_bundle / "vocab.txt").read_text() + "extra\n")
    with pytest.raises(BundleError, match=r"(checksum|size) mismatch for vocab\.txt"):
        read_bundle(dyn_bundle)


def test_missing_listed_file_is_refused(dyn_bundle):
    (dyn_bundle / "vocab.txt").unlink()
    with pytest.raises(BundleError, match=r"incomplete: vocab\.txt is listed"):
        read_bundle(dyn_bundle)


def test_newer_format_version_is_refused(dyn_bundle):
    rewrite_meta(dyn_bundle, format_version=FORMAT_VERSION + 1, toolkit_version="9.0.0")
    with pytest.raises(BundleError, match=r"made by a newer toolkit \(9\.0\.0.*upgrade"):
        Runtime.load(dyn_bundle)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": "something-else"}, "'format'"),
        ({"labels": ["ONLY"]}, "'labels'"),
        ({"length_policy": "elastic"}, "'length_policy'"),
        ({"max_len": 0}, "'max_len'"),
        ({"min_len": 99}, "'min_len'"),
        ({"vocab": {"ngrams": 1, "unknown": "ignore"}}, "'vocab.unknown'"),
        ({"files": {"vocab.txt": "00"}}, "does not list model.onnx"),
        ({"files": {"model.onnx": "0", "vocab.txt": "0", "../x": "0"}}, "not a plain file name"),
    ],
)
def test_damaged_bundle_json_names_the_field(dyn_bundle, changes, message):
    rewrite_meta(dyn_bundle, **changes)
    with pytest.raises(BundleError, match=message):
        read_bundle(dyn_bundle)


def test_unknown_word_policy_travels_with_the_bundle(dyn_bundle):
    meta = json.loads((dyn_bundle / "bundle.json").read_text())
    text = ["great zzzunseen film qqq"]
    mapped = Runtime.load(dyn_bundle)
    assert mapped.vocab.unknown == "map" and 1 in mapped.encode(text)[0]
    with pytest.raises(BundleError, match="does not match its bundle_id"):  # an edited bundle.json is refused
        rewrite_meta(dyn_bundle, vocab={**meta["vocab"], "unknown": "drop"})
        Runtime.load(dyn_bundle)
    from toolkit.core.bundle import finalize_bundle

    finalize_bundle(dyn_bundle, {**meta, "vocab": {**meta["vocab"], "unknown": "drop"}})  # as export writes it
    dropped = Runtime.load(dyn_bundle)
    assert dropped.vocab.unknown == "drop"
    assert dropped.encode(text)[0] == [dropped.vocab.id_of("great"), dropped.vocab.id_of("film")]


def test_invalid_json_names_the_file(dyn_bundle):
    (dyn_bundle / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"bundle\.json is not valid JSON"):
        read_bundle(dyn_bundle)


def test_tokenizer_not_installed_names_the_plugin_distribution(tmp_path):
    tokenizer = {"name": "fancy", "config": {}, "plugin": "fancy_tok.plugin",
                 "distribution": "toolkit-fancy-tokenizer", "version": "1.2.0"}
    bundle = mf.make_onnx_bundle(tmp_path / "b", tokenizer=tokenizer)
    with pytest.raises(BundleError) as err:
        Runtime.load(bundle)
    message = str(err.value)
    assert "tokenizer 'fancy'" in message and "fancy_tok.plugin" in message
    assert "pip install toolkit-fancy-tokenizer==1.2.0" in message


def test_tokenizer_config_the_installed_plugin_rejects(tmp_path):
    tokenizer = {"name": "nltk", "config": {"lowercase": True, "removed_option": 1}, "distribution": "toolkit",
                 "version": "0.0.1"}
    bundle = mf.make_onnx_bundle(tmp_path / "b", tokenizer=tokenizer)
    with pytest.raises(BundleError, match=r"tokenizer 'nltk' rejected the config recorded in bundle.json.*0\.0\.1"):
        Runtime.load(bundle)


def test_labels_must_match_the_model_outputs(tmp_path):
    bundle = mf.make_onnx_bundle(tmp_path / "b")
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["labels"] = ["A", "B", "C"]
    del meta["files"], meta["file_sizes"]
    (bundle / "bundle.json").unlink()
    finalize_bundle(bundle, meta)
    with pytest.raises(BundleError, match="2 outputs per document but bundle.json lists 3 labels"):
        Runtime.load(bundle)


def test_fixed_length_must_match_max_len(tmp_path):
    bundle = mf.make_onnx_bundle(tmp_path / "b", policy="fixed", max_len=8)
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["max_len"] = 12
    (bundle / "bundle.json").unlink()
    finalize_bundle(bundle, meta)
    with pytest.raises(BundleError, match="input length is 8 but bundle.json says max_len 12"):
        Runtime.load(bundle)


# ---------------------------------------------------------------------------
# batching
# ---------------------------------------------------------------------------
def test_plan_batches_fixed_keeps_order_and_pads_to_max_len():
    plan = plan_batches([5, 1, 9, 3, 0], batch_size=2, policy="fixed", max_len=8, min_len=3)
    assert [idx.tolist() for idx, _ in plan] == [[0, 1], [2, 3], [4]]
    assert [width for _, width in plan] == [8, 8, 8]


def test_plan_batches_dynamic_sorts_and_caps():
    plan = plan_batches([5, 1, 9, 3, 2], batch_size=2, policy="dynamic", max_len=8, min_len=3)
    assert [idx.tolist() for idx, _ in plan] == [[1, 4], [3, 0], [2]]
    assert [width for _, width in plan] == [3, 5, 8]  # at least min_len, at most max_len


def test_plan_batches_dynamic_cuts_buckets_where_padding_would_grow():
    from toolkit.core.batching import MAX_PADDING, MIN_BUCKET_CELLS

    lengths = [1000] * 10 + [100] * 10 + [1100] * 3
    plan = plan_batches(lengths, batch_size=64, policy="dynamic", max_len=4000, min_len=3)
    # 10 x 100, then the long ones: one more 1000-id review would pad the short ones 9x
    assert [sorted(idx.tolist()) for idx, _ in plan] == [list(range(10, 20)), list(range(10)) + [20, 21, 22]]
    assert [width for _, width in plan] == [100, 1100]
    for idx, width in plan:  # every bucket: padding within the limit, or small
        real = sum(lengths[i] for i in idx)
        assert len(idx) * width <= max(MIN_BUCKET_CELLS, (1 + MAX_PADDING) * real)
    # short texts: the batch size is the only cut
    short = plan_batches([5, 40, 3, 12] * 40, batch_size=64, policy="dynamic", max_len=4000, min_len=3)
    assert [len(idx) for idx, _ in short] == [64, 64, 32]


def test_score_batches_restores_input_order_and_scores_empty_docs_alone():
    seen: list[tuple[int, int]] = []

    def predict(batch):
        seen.append(batch.shape)
        # score = number of real ids, so the order of the output rows is visible
        real = (batch != 0).sum(axis=1).astype(np.float32)
        return np.stack([real, -real], axis=1)

    ids = [[3] * 5, [], [4], [5] * 12, [6] * 3, []]
    out = score_batches(ids, predict, policy="dynamic", max_len=8, min_len=2, batch_size=2)
    assert out[:, 0].tolist() == [5, 0, 1, 8, 3, 0]
    assert seen == [(1, 2), (2, 3), (2, 8)]  # the empty row once (min_len wide), then sorted buckets


# ---------------------------------------------------------------------------
# the runtime
# ---------------------------------------------------------------------------
TEXTS = [
    "A great, superb and moving film.",
    "Boring. Dull, tedious; awful acting and a clumsy script!",
    "The plot is gripping but the ending is bland",
    "movie",
    "great " * 40,
]


def expected_scores(rt: Runtime, texts, batch_size: int) -> np.ndarray:
    """Closed-form scores of the toy model under the runtime's batching."""
    ids = rt.encode(texts)
    return score_batches(ids, mf.toy_scores, policy=rt.length_policy, max_len=rt.max_len, min_len=rt.min_len,
                         batch_size=batch_size)


def test_runtime_loads_and_exposes_the_bundle(dyn_bundle):
    rt = Runtime.load(dyn_bundle, threads=1)
    assert rt.labels == ["NEGATIVE", "POSITIVE"]
    assert rt.tokenizer.config == registry.create("tokenizer", "nltk").config
    assert len(rt.vocab) == len(mf.TOY_VOCAB)
    assert (rt.length_policy, rt.max_len, rt.min_len) == ("dynamic", 8, 3)
    assert rt.info.path == dyn_bundle
    assert rt.session.get_session_options().intra_op_num_threads == 1


@pytest.mark.parametrize("policy", ["dynamic", "fixed"])
@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_scores_follow_the_length_policy(tmp_path, policy, batch_size):
    rt = Runtime.load(mf.make_onnx_bundle(tmp_path / "b", policy=policy, max_len=8, min_len=3))
    got = rt.score(TEXTS, batch_size=batch_size)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(got, expected_scores(rt, TEXTS, batch_size), atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    if policy == "fixed":  # every row padded to max_len, whatever the batch
        ids = pad_fixed(rt.encode(TEXTS), 8)
        np.testing.assert_allclose(got, mf.toy_scores(ids), atol=1e-6)


def test_predict_labels_and_probabilities(dyn_bundle):
    rt = Runtime.load(dyn_bundle)
    out = rt.predict(TEXTS[:2])
    assert [o["label"] for o in out] == ["POSITIVE", "NEGATIVE"]
    assert set(out[0]["probabilities"]) == {"NEGATIVE", "POSITIVE"}
    assert abs(sum(out[0]["probabilities"].values()) - 1) < 1e-6
    assert rt.predict(TEXTS[0]) == rt.predict([TEXTS[0]])  # a single str is one text
    assert rt.score([]).shape == (0, 2)
    with pytest.raises(TypeError, match="single str"):
        rt.score("a text, not a list")


@pytest.mark.parametrize("policy, width", [("dynamic", 3), ("fixed", 8)])
def test_empty_and_whitespace_text_get_the_all_padding_score(tmp_path, policy, width):
    rt = Runtime.load(mf.make_onnx_bundle(tmp_path / "b", policy=policy, max_len=8, min_len=3))
    defined = mf.toy_scores(np.zeros((1, width), dtype=np.int32))[0]
    np.testing.assert_allclose(rt.empty_score, defined, atol=1e-6)
    for batch in ([""], ["   \n\t "], ["", TEXTS[0], "  ", TEXTS[3]], ["", ""]):
        scores = rt.score(batch, batch_size=2)
        for text, row in zip(batch, scores):
            if not text.strip():
                np.testing.assert_allclose(row, defined, atol=1e-6)


def test_one_megabyte_text_is_truncated_to_max_len(dyn_bundle):
    rt = Runtime.load(dyn_bundle)
    text = ("great " + "x" * 20 + " ") * (1_000_000 // 27)
    assert len(text) >= 999_000
    assert len(rt.encode([text])[0]) == rt.max_len
    score = rt.score([text])[0]
    first_eight = np.asarray([[rt.vocab.id_of("great"), 1] * 4], dtype=np.int32)  # "xxx..." is out of vocabulary
    np.testing.assert_allclose(score, mf.toy_scores(first_eight)[0], atol=1e-6)


def test_score_docs_hands_docs_to_the_tokenizer(tmp_path):
    import spacy

    tokenizer = {"name": "spacy", "config": registry.create("tokenizer", "spacy").config}
    rt = Runtime.load(mf.make_onnx_bundle(tmp_path / "b", tokenizer=tokenizer))
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(t) for t in TEXTS[:3] + [""]]
    np.testing.assert_allclose(rt.score(docs), rt.score(TEXTS[:3] + [""]), atol=1e-6)


def test_bad_threads_value(dyn_bundle):
    with pytest.raises(Exception, match="threads must be an integer"):
        Runtime.load(dyn_bundle, threads=0)


# ---------------------------------------------------------------------------
# predict_file
# ---------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_predict_file_text_lines(tmp_path, dyn_bundle):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS[:3] + ["", TEXTS[3]]) + "\n")
    summary = predict_file(dyn_bundle, src, tmp_path / "out.jsonl", progress=False)
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert summary["documents"] == len(rows) == 5  # the blank line is scored too: line i -> record i
    assert [r["index"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0]["label"] == "POSITIVE" and rows[1]["label"] == "NEGATIVE"
    assert set(rows[0]["probabilities"]) == {"NEGATIVE", "POSITIVE"}


def test_predict_file_jsonl_and_csv(tmp_path, dyn_bundle):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"id": f"r{i}", "review": t}) for i, t in enumerate(TEXTS)) + "\n\n")
    predict_file(dyn_bundle, src, tmp_path / "a.jsonl", text_field="review", progress=True)
    rows = read_jsonl(tmp_path / "a.jsonl")
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(TEXTS))]

    csv_src = tmp_path / "in.csv"
    with open(csv_src, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerows([[i, t] for i, t in enumerate(TEXTS)] + [["big", "great " * 60_000]])
    predict_file(dyn_bundle, csv_src, tmp_path / "b.jsonl", progress=False)
    rows_csv = read_jsonl(tmp_path / "b.jsonl")
    assert [r["label"] for r in rows_csv[:-1]] == [r["label"] for r in rows]
    assert rows_csv[-1]["id"] == "big"


def test_predict_file_errors(tmp_path, dyn_bundle):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(InputError, match=r"line 1: no field 'text' \(fields present: 'body'\); choose it with --text-field"):
        predict_file(dyn_bundle, src, tmp_path / "o.jsonl")
    src.write_text("{oops\n")
    with pytest.raises(InputError, match="line 1: not valid JSON"):
        predict_file(dyn_bundle, src, tmp_path / "o.jsonl")
    bad_csv = tmp_path / "in.csv"
    bad_csv.write_text("id,body\n1,x\n")
    with pytest.raises(InputError, match="no column 'text'"):
        predict_file(dyn_bundle, bad_csv, tmp_path / "o.jsonl")
    xml = tmp_path / "in.xml"
    xml.write_text("<reviews/>")
    with pytest.raises(InputError, match="unknown format '.xml'"):
        predict_file(dyn_bundle, xml, tmp_path / "o.jsonl")
    out = tmp_path / "exists.jsonl"
    out.write_text("keep")
    with pytest.raises(OutputExistsError):
        predict_file(dyn_bundle, bad_csv, out)
    assert out.read_text() == "keep"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------
# vocab.npz: the bigram index written by export (older bundles build it on first use)
# ---------------------------------------------------------------------------
def _with_vocab_index(bundle: Path, vocab_txt: Path | None = None) -> Path:
    from toolkit.core.vocab import Vocab

    Vocab.from_file(vocab_txt or bundle / "vocab.txt").save_bigram_index(bundle / "vocab.npz",
                                                                         sha256_file(vocab_txt or bundle / "vocab.txt"))
    meta = json.loads((bundle / "bundle.json").read_text())
    finalize_bundle(bundle, meta)
    return bundle


def test_vocab_index_is_read_at_load_and_scores_as_without(tmp_path):
    old = mf.make_onnx_bundle(tmp_path / "old", vocab={"size": len(mf.TOY_VOCAB), "ngrams": 2})
    new = _with_vocab_index(mf.make_onnx_bundle(tmp_path / "new", vocab={"size": len(mf.TOY_VOCAB), "ngrams": 2}))
    assert "vocab.npz" in read_bundle(new).files and "vocab.npz" not in read_bundle(old).files
    rt_old, rt_new = Runtime.load(old), Runtime.load(new)
    assert rt_old.vocab._pairs is None, "an older bundle builds its index on first use"
    assert rt_new.vocab._pairs is not None, "a bundle with vocab.npz reads it at load"
    texts = [" ".join(mf.TOY_VOCAB[2:]), "good bad " * 5, "", "unknown words only"]
    np.testing.assert_array_equal(rt_new.score(texts), rt_old.score(texts))


def test_vocab_index_of_another_vocabulary_is_refused(tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("\n".join(mf.TOY_VOCAB + ["extra"]) + "\n", encoding="utf-8")
    bundle = _with_vocab_index(mf.make_onnx_bundle(tmp_path / "b"), vocab_txt=other)
    with pytest.raises(BundleError, match=r"bundle .*b: bigram index .*vocab.npz is for a vocabulary of "
                                          rf"{len(mf.TOY_VOCAB) + 1} tokens, vocab.txt has {len(mf.TOY_VOCAB)}"):
        Runtime.load(bundle)
