"""Property-based tests (Hypothesis) for everything that takes arbitrary text or files.

``make test`` runs each property on 50 examples (profile ``ci``, tests/conftest.py);
``make fuzz`` on 10,000 (profile ``fuzz``).

* tokenizers: no crash on any text, cleaning is idempotent, white-space separable, and a
  spaCy ``Doc`` gets the same ids as its text;
* vocabulary: ids always in range, file round trip, known tokens map back to themselves;
* runtime: probabilities finite, summing to 1, independent of the batch size (fixed policy);
* config: any TOML text, and any table of values, either loads or gives a one-line ConfigError;
* bundles: any byte changed or any truncation of any file is refused with BundleError (or,
  for bundle.json, is a change JSON cannot see), and never crashes the reader.
"""

from __future__ import annotations

import json
import shutil
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import model_factory as mf  # noqa: E402
from toolkit.core.errors import BundleError, ConfigError, ToolkitError  # noqa: E402
from toolkit.serving.tokenizers.nltk_style import NltkStyleTokenizer  # noqa: E402
from toolkit.core.vocab import Vocab  # noqa: E402
from toolkit.training.vocab_builder import build_vocab
from toolkit.training.config import Config, parse_set_options  # noqa: E402

# Text with everything a review file can hold: any unicode, controls, surrogate-free.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
REVIEWISH = st.lists(st.sampled_from(mf.TOY_VOCAB[2:] + ["Film!", "(great)", "don't", "the", "a", "x", "\t", "--",
                                                           "NOT", "é", "ÆON", "12", "...", "\u00a0", "\u2028"]),
                     max_size=40).map(" ".join)
ANY_TEXT = st.one_of(TEXT, REVIEWISH)
TOKENIZER_CONFIGS = [{}, {"lowercase": False}, {"stopwords": False}, {"min_length": 1}, {"stem": True}]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("props")


@pytest.fixture(scope="module")
def dyn_bundle(work) -> Path:
    return mf.make_onnx_bundle(work / "dyn", policy="dynamic")


@pytest.fixture(scope="module")
def fixed_bundle(work) -> Path:
    return mf.make_onnx_bundle(work / "fixed", policy="fixed", max_len=16)


@pytest.fixture(scope="module")
def runtimes(dyn_bundle, fixed_bundle):
    from toolkit.serving.runtime import Runtime

    return {"dynamic": Runtime.load(dyn_bundle), "fixed": Runtime.load(fixed_bundle)}


@pytest.fixture(scope="module")
def nlp():
    import spacy

    return spacy.blank("en")


# ---------------------------------------------------------------------------
# tokenizers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("config", TOKENIZER_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
@given(text=ANY_TEXT)
def test_tokenizer_never_crashes_and_gives_clean_tokens(config, text):
    tokens = NltkStyleTokenizer(**config)(text)
    assert isinstance(tokens, list) and all(isinstance(t, str) and t for t in tokens)
    assert all(not any(ch.isspace() for ch in t) for t in tokens)  # savable in vocab.txt, one per line


@pytest.mark.parametrize("config", [c for c in TOKENIZER_CONFIGS if not c.get("stem")], ids=str)
@given(text=ANY_TEXT)
def test_tokenizer_cleaning_is_idempotent(config, text):
    tok = NltkStyleTokenizer(**config)
    tokens = tok(text)
    assert tok(" ".join(tokens)) == tokens


@given(a=ANY_TEXT, b=ANY_TEXT)
def test_tokenizer_is_whitespace_separable(a, b):
    tok = NltkStyleTokenizer()
    assert tok(a + " " + b) == tok(a) + tok(b)


@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=6))
def test_doc_and_string_get_the_same_ids(runtimes, nlp, texts):
    rt = runtimes["dynamic"]
    docs = [nlp.make_doc(text) for text in texts]
    from_docs = [list(map(int, ids)) for ids in rt.encode(docs)]
    from_text = [list(map(int, ids)) for ids in rt.encode(texts)]
    assert from_docs == from_text


# ---------------------------------------------------------------------------
# vocabulary
# ---------------------------------------------------------------------------
WORD = st.text(string.ascii_letters + "éßø", min_size=1, max_size=8)


@given(docs=st.lists(st.lists(WORD, max_size=20), max_size=12), probe=st.lists(WORD, max_size=30),
       ngrams=st.integers(1, 3), min_count=st.integers(1, 3), unknown=st.sampled_from(["map", "drop"]),
       max_size=st.one_of(st.none(), st.integers(1, 30)))
def test_vocab_ids_in_range_and_file_round_trip(work, docs, probe, ngrams, min_count, unknown, max_size):
    vocab = build_vocab(docs, min_count=min_count, max_size=max_size, ngrams=ngrams, unknown=unknown)
    for tokens in docs + [probe]:
        ids = vocab.encode(tokens)
        assert all(0 < i < len(vocab) for i in ids)  # never the padding id, never past the table
        if unknown == "drop":
            assert 1 not in ids
    assert vocab.encode_many(docs + [probe]) == [vocab.encode(t) for t in docs + [probe]]
    for i, token in enumerate(vocab.tokens):
        assert vocab.id_of(token) == i
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        path = Path(tmp) / "vocab.txt"
        vocab.to_file(path)
        again = Vocab.from_file(path, ngrams=ngrams, unknown=unknown)
    assert again.tokens == vocab.tokens and again.encode(probe) == vocab.encode(probe)


# ---------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["dynamic", "fixed"])
@given(texts=st.lists(ANY_TEXT, max_size=20))
def test_probabilities_are_finite_and_sum_to_one(runtimes, policy, texts):
    rt = runtimes[policy]
    probs = rt.score(texts)
    assert probs.shape == (len(texts), len(rt.labels)) and probs.dtype == np.float32
    assert np.isfinite(probs).all() and (probs >= 0).all()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    records = rt.to_records(probs)
    assert [r["label"] for r in records] == rt.label_of(probs)


@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=20), batch_size=st.integers(1, 25))
def test_scores_do_not_depend_on_the_batch_size(runtimes, texts, batch_size):
    rt = runtimes["fixed"]  # every row padded to max_len: a row's score is its own
    alone = np.concatenate([rt.score([t], batch_size=1) for t in texts])
    assert np.abs(rt.score(texts, batch_size=batch_size) - alone).max() <= 1e-6


@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=20), batch_size=st.integers(1, 25))
def test_dynamic_scores_do_not_depend_on_neighbours_of_equal_width(runtimes, texts, batch_size):
    """Dynamic policy: a row's score depends only on its ids and its batch's width (documented)."""
    from toolkit.core.batching import pad

    rt = runtimes["dynamic"]
    ids = rt.encode(texts)
    probs = rt.score(texts, batch_size=batch_size)
    for row, doc_ids in zip(probs, ids):
        if doc_ids:  # empty documents get the fixed empty score
            widths = [pad([doc_ids], w, "fixed").shape[1] for w in range(max(len(doc_ids), rt.min_len), rt.max_len + 1)]
            candidates = [rt._run(pad([doc_ids], w, "fixed"))[0] for w in widths]
            assert min(np.abs(row - c).max() for c in candidates) <= 1e-6
        else:
            assert np.abs(row - rt.empty_score).max() <= 1e-6


# ---------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------
def _one_line(exc: BaseException) -> None:
    assert isinstance(exc, ConfigError), type(exc)
    assert "\n" not in str(exc) and str(exc).startswith("[E040]")


@given(text=st.text(max_size=400))
def test_any_toml_text_loads_or_gives_one_line(work, text):
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        path = Path(tmp) / "c.toml"
        path.write_text(text, encoding="utf-8")
        try:
            config = Config.from_file(path)
        except ConfigError as exc:
            _one_line(exc)
        else:
            assert isinstance(config, Config)


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                   st.text(max_size=12))
FIELDS = {section: [f.name for f in __import__("dataclasses").fields(type(getattr(Config(), section)))]
          for section in ("data", "tokenizer", "vocab", "embedding", "architecture", "training")}
SECTION_TABLE = st.sampled_from(sorted(FIELDS)).flatmap(
    lambda section: st.tuples(st.just(section), st.dictionaries(st.sampled_from(FIELDS[section] + ["bogus"]),
                                                                 st.one_of(SCALAR, st.dictionaries(st.text(max_size=5), SCALAR, max_size=3)),
                                                                 max_size=4)))


@given(tables=st.lists(SECTION_TABLE, max_size=4))
def test_any_table_of_settings_loads_valid_or_gives_one_line(tables):
    data = {section: table for section, table in tables}
    try:
        config = Config.from_dict(data, source="test")
    except ConfigError as exc:
        _one_line(exc)
    else:
        assert config.validate() is config
        assert Config.from_dict(config.to_dict()) == config  # what loads, round-trips


@given(pairs=st.lists(st.text(max_size=40), max_size=4))
def test_any_set_option_loads_or_gives_one_line(pairs):
    try:
        config = Config().with_overrides(parse_set_options(pairs), source="command line")
    except ConfigError as exc:
        _one_line(exc)
    else:
        config.validate()


# ---------------------------------------------------------------------------
# bundles
# ---------------------------------------------------------------------------
BUNDLE_FILES = ["bundle.json", "model.onnx", "vocab.txt", "README.md"]


def _mutate(data: bytes, kind: str, position: int, value: int) -> bytes:
    if kind == "truncate":
        return data[: position % len(data)]
    i = position % len(data)
    new = value if value != data[i] else (value + 1) % 256
    return data[:i] + bytes([new]) + data[i + 1:]


@given(name=st.sampled_from(BUNDLE_FILES), kind=st.sampled_from(["replace", "truncate"]),
       position=st.integers(0, 10**9), value=st.integers(0, 255))
def test_damaged_bundles_are_refused_never_crash(work, dyn_bundle, name, kind, position, value):
    from toolkit.serving.runtime import Runtime

    original = (dyn_bundle / name).read_bytes()
    damaged = _mutate(original, kind, position, value)
    assume(damaged != original)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        copy = Path(tmp) / "b"
        shutil.copytree(dyn_bundle, copy)
        (copy / name).write_bytes(damaged)
        try:
            rt = Runtime.load(copy)
        except BundleError as exc:
            assert "\n" not in str(exc)
            return
        # Loaded: only a change JSON cannot see (white space, an escape written differently) may pass.
        assert name == "bundle.json", f"{kind} of {name} at {position} was not refused"
        assert json.loads(damaged) == json.loads(original)
        assert rt.info.bundle_id == json.loads(original)["bundle_id"]


@given(field=st.sampled_from(["labels", "length_policy", "max_len", "min_len", "vocab", "tokenizer", "files",
                              "name", "metrics", "format_version"]),
       value=st.one_of(SCALAR, st.lists(SCALAR, max_size=3), st.dictionaries(st.text(max_size=5), SCALAR, max_size=3)))
def test_any_edited_field_of_bundle_json_is_refused(work, dyn_bundle, field, value):
    from toolkit.core.bundle import read_bundle

    meta = json.loads((dyn_bundle / "bundle.json").read_text())
    assume(meta.get(field) != value)
    meta[field] = value
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        copy = Path(tmp) / "b"
        shutil.copytree(dyn_bundle, copy)
        (copy / "bundle.json").write_text(json.dumps(meta))
        with pytest.raises(ToolkitError) as err:
            read_bundle(copy)
    assert isinstance(err.value, BundleError) and "\n" not in str(err.value)
