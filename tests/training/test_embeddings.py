"""Embedding providers (learned, word2vec, glove), vector files and the
``toolkit embeddings`` sub-commands."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from toolkit.core import registry
from toolkit.training.embeddings.matrix import KERAS_INIT_STD, build_matrix, describe_report
from toolkit.training.embeddings.neighbours import nearest, pca_2d
from toolkit.training.embeddings.vectors import GLOVE, WORD2VEC, WORD2VEC_BINARY, detect_format, read_vectors, write_vectors
from toolkit.training.plots import plot_vectors
from toolkit.cli.embeddings import app
from toolkit.core.errors import EmbeddingError
from toolkit.core.vocab import Vocab
from toolkit.training.vocab_builder import build_vocab
from boundary import assert_not_loaded, report_code
from spacy_helpers import run_python

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def gensim_glove_file() -> Path:
    """gensim's own GloVe-format test file, found in the installed package."""
    import gensim

    path = Path(gensim.__file__).parent / "test" / "test_data" / "test_glove.txt"
    if not path.is_file():  # pragma: no cover - the gensim wheel ships it
        pytest.fail(f"gensim's test file is missing from the installed package: {path}")
    return path


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


TINY_DOCS = [
    "the film was good and the acting was great".split(),
    "a bad film with awful acting and a bad plot".split(),
    "great plot good music and a great film".split(),
    "the music was awful and the plot was bad".split(),
] * 5


# --------------------------------------------------------------------------
# Registry and contract
# --------------------------------------------------------------------------
def test_three_providers_registered_and_configs_rebuild(tmp_path):
    assert {"learned", "word2vec", "glove"} <= set(registry.get_components("embedding"))
    glove = gensim_glove_file()
    for name, options in [("learned", {"dim": 32}), ("word2vec", {"dim": 16, "epochs": 2, "progress": False}),
                          ("glove", {"path": str(glove)})]:
        emb = registry.create("embedding", name, **options)
        assert isinstance(emb.dim, int) and isinstance(emb.trainable, bool)
        json.dumps(emb.config)
        again = registry.create("embedding", name, **emb.config)
        assert again.config == emb.config


def test_learned_gives_no_matrix():
    emb = registry.create("embedding", "learned", dim=64)
    vocab = build_vocab(TINY_DOCS, min_count=1)
    assert emb.matrix(vocab, TINY_DOCS) is None
    assert emb.dim == 64 and emb.trainable is True
    assert emb.report["random_rows"] == len(vocab)
    with pytest.raises(EmbeddingError, match="'dim'"):
        registry.create("embedding", "learned", dim=0)


def test_importing_providers_stays_light():
    code = report_code() + (
        "import json; from toolkit.core import registry; "
        "[reg.factory for reg in registry.get_components('embedding').values()]; "  # imports every provider
        "import toolkit.cli.embeddings; "
        "print(json.dumps(_boundary_report()))"
    )
    assert_not_loaded(run_python(code), ("gensim", "matplotlib", "tensorflow", "keras"))


# --------------------------------------------------------------------------
# Reading GloVe / word2vec files
# --------------------------------------------------------------------------
def test_reads_gensims_glove_test_file():
    path = gensim_glove_file()
    assert detect_format(path) == GLOVE
    words, vectors = read_vectors(path)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(words) == len(lines) and vectors.shape == (len(lines), 50)
    assert vectors.dtype == np.float32
    first = lines[0].split(" ")
    assert words[0] == first[0] == "the"
    np.testing.assert_array_equal(vectors[0], np.array(first[1:], dtype=np.float32))
    assert "ö" in words  # non-ASCII words read as UTF-8


def test_glove_provider_matrix_rows_match_the_file():
    path = gensim_glove_file()
    words, vectors = read_vectors(path)
    vocab = Vocab(words[:5] + ["zzznotaword", "qqqnotaword"])
    corpus = [[words[0], words[0], words[1], "zzznotaword", "outofvocab"]]
    emb = registry.create("embedding", "glove", path=str(path), rescale=False)
    assert emb.dim == 50
    matrix = emb.matrix(vocab, corpus)
    assert matrix.shape == (len(vocab), 50) and matrix.dtype == np.float32
    assert not matrix[0].any(), "padding row must be zeros"
    for token in words[:5]:
        np.testing.assert_array_equal(matrix[vocab.index[token]], vectors[words.index(token)])
    for token in ("<unk>", "zzznotaword", "qqqnotaword"):
        assert np.abs(matrix[vocab.index[token]]).sum() > 0, "missing rows are random, not zero"
    report = emb.report
    assert report["found"] == 5 and report["random_rows"] == 3
    assert report["type_coverage"] == pytest.approx(5 / 7)
    assert report["token_coverage"] == pytest.approx(3 / 5)
    assert report["missing_examples"] == ["zzznotaword", "qqqnotaword"]
    assert report["source"] == str(path) and report["format"] == GLOVE
    assert "71.4% of vocabulary types" in describe_report(report)
    # The same seed gives the same random rows; another seed other ones.
    np.testing.assert_array_equal(matrix, emb.matrix(vocab, corpus))
    other = registry.create("embedding", "glove", path=str(path), rescale=False, seed=2).matrix(vocab, corpus)
    assert not np.array_equal(other[1], matrix[1])


def test_rescaled_matrix_is_centred_and_keras_sized():
    path = gensim_glove_file()
    words, vectors = read_vectors(path)
    vocab = Vocab(words[:40])
    emb = registry.create("embedding", "glove", path=str(path))  # rescale=True by default
    matrix = emb.matrix(vocab, None)
    rows = matrix[2:]
    assert rows.std() == pytest.approx(KERAS_INIT_STD, rel=1e-3)
    assert np.abs(rows.mean(axis=0)).max() < 1e-6
    # An affine map of the file's vectors: differences are scaled by one factor.
    f = emb.report["scale_factor"]
    a, b = vocab.index[words[3]], vocab.index[words[7]]
    np.testing.assert_allclose(matrix[a] - matrix[b], f * (vectors[3] - vectors[7]), rtol=1e-4, atol=1e-6)
    assert emb.report["token_coverage"] is None


def test_build_matrix_with_no_known_token_is_an_error():
    vocab = Vocab(["alpha", "beta"])
    with pytest.raises(EmbeddingError, match="none of the 2 vocabulary tokens"):
        build_matrix(vocab, ["gamma"], np.ones((1, 3), np.float32), seed=1, source="v.txt")


def test_detects_all_three_formats_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    words = ["film", "movie", "günstig", "a"]
    vectors = rng.normal(size=(4, 7)).astype(np.float32) * np.float32(3.7)
    for binary, fmt in [(False, WORD2VEC), (True, WORD2VEC_BINARY)]:
        path = tmp_path / f"v{int(binary)}.vec"
        write_vectors(path, words, vectors, binary=binary)
        assert detect_format(path) == fmt
        got_words, got = read_vectors(path)
        assert got_words == words
        np.testing.assert_array_equal(got, vectors)  # bit for bit
        assert read_vectors(path, binary=binary)[0] == words
        assert not list(tmp_path.glob(".*")), "no temporary file left behind"
    # gensim reads our files, and we read gensim's.
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v1.vec"), binary=True)
    np.testing.assert_array_equal(kv["günstig"], vectors[2])
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    kv.save_word2vec_format(str(tmp_path / "g.txt"), binary=False)
    assert read_vectors(tmp_path / "g.bin")[0] == words
    np.testing.assert_allclose(read_vectors(tmp_path / "g.txt")[1], vectors, rtol=1e-5)


def test_read_keep_and_limit(tmp_path):
    path = tmp_path / "v.txt"
    write_vectors(path, ["a", "b", "c"], np.arange(6, dtype=np.float32).reshape(3, 2))
    assert read_vectors(path, keep={"c", "zz"})[0] == ["c"]
    assert read_vectors(path, limit=2)[0] == ["a", "b"]


# --------------------------------------------------------------------------
# Bad input: clear errors naming the file and line
# --------------------------------------------------------------------------
def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_rows_of_different_lengths(tmp_path):
    path = _write(tmp_path, "ragged.txt", "good 0.1 0.2 0.3\nbad 0.4 0.5 0.6\nfilm 0.7 0.8\n")
    with pytest.raises(EmbeddingError) as err:
        read_vectors(path)
    msg = str(err.value)
    assert str(path) in msg and "line 3" in msg and "2 values, expected 3" in msg and "'film'" in msg
    # word2vec text: the header sets the dimension
    path = _write(tmp_path, "ragged.vec", "2 3\ngood 0.1 0.2 0.3\nbad 0.4 0.5 0.6 0.7\n")
    with pytest.raises(EmbeddingError, match=r"line 3: .*4 values, expected 3 \(as on the header\)"):
        read_vectors(path)


def test_non_numeric_value(tmp_path):
    path = _write(tmp_path, "nan.txt", "good 0.1 0.2\nbad 0.4 zero\n")
    with pytest.raises(EmbeddingError) as err:
        read_vectors(path)
    msg = str(err.value)
    assert str(path) in msg and "line 2" in msg and "'zero'" in msg and "not a number" in msg
    path = _write(tmp_path, "inf.txt", "good 0.1 inf\n")
    with pytest.raises(EmbeddingError, match="line 1: value 'inf'.*not a finite number"):
        read_vectors(path)


@pytest.mark.parametrize("content", ["", "\n  \n", "3 50\n"])
def test_empty_file(tmp_path, content):
    path = _write(tmp_path, "empty.txt", content)
    with pytest.raises(EmbeddingError, match="is empty") as err:
        read_vectors(path)
    assert str(path) in str(err.value)
    with pytest.raises(EmbeddingError, match="is empty"):
        registry.create("embedding", "glove", path=str(path))


def test_binary_file_passed_as_text(tmp_path):
    path = tmp_path / "vectors.bin"
    write_vectors(path, ["good", "bad"], np.array([[0.5, -1.25, 3.0], [1.0, 2.0, -0.1]], np.float32), binary=True)
    with pytest.raises(EmbeddingError, match=r"is a binary file, not a text vector file.*binary=True") as err:
        read_vectors(path, binary=False)
    assert str(path) in str(err.value)
    with pytest.raises(EmbeddingError, match="binary=True"):
        registry.create("embedding", "glove", path=str(path), binary=False)
    # A binary file without a word2vec header (here: a PNG) is not a vector file.
    png = _write(tmp_path, "picture.png", PNG_SIGNATURE + bytes(range(256)) * 4)
    with pytest.raises(EmbeddingError, match="looks like a binary file.*not a GloVe or word2vec"):
        read_vectors(png)
    # And a text file read as binary.
    text = _write(tmp_path, "v.txt", "2 2\na 1 2\nb 3 4\n")
    with pytest.raises(EmbeddingError, match="is a text file, not word2vec binary"):
        read_vectors(text, binary=True)


def test_truncated_binary_and_wrong_header_count(tmp_path):
    path = tmp_path / "v.bin"
    write_vectors(path, ["good", "bad"], np.ones((2, 8), np.float32) * 0.3, binary=True)
    _write(tmp_path, "cut.bin", path.read_bytes()[:-10])
    with pytest.raises(EmbeddingError, match=r"ends inside vector 2 \('bad'\)"):
        read_vectors(tmp_path / "cut.bin")
    wrong = _write(tmp_path, "count.vec", "3 2\na 1 2\nb 3 4\n")
    with pytest.raises(EmbeddingError, match="announces 3 vectors but the file holds 2"):
        read_vectors(wrong)


def test_dimension_mismatch_with_dim(tmp_path):
    path = gensim_glove_file()
    with pytest.raises(EmbeddingError) as err:
        registry.create("embedding", "glove", path=str(path), dim=300)
    msg = str(err.value)
    assert str(path) in msg and "dimension 50" in msg and "dim=300" in msg
    with pytest.raises(EmbeddingError, match="dimension 50.*dim=100"):
        registry.create("embedding", "word2vec", path=str(path), dim=100)
    assert registry.create("embedding", "glove", path=str(path), dim=50).dim == 50


def test_missing_file_and_missing_path(tmp_path):
    with pytest.raises(EmbeddingError, match="does not exist"):
        registry.create("embedding", "glove", path=str(tmp_path / "nope.txt"))
    with pytest.raises(EmbeddingError, match="'path'.*required"):
        registry.create("embedding", "glove")


# --------------------------------------------------------------------------
# word2vec on a tiny corpus: shape, rows, reproducibility, save/load
# --------------------------------------------------------------------------
def test_word2vec_matrix_save_and_reload(tmp_path):
    vocab = build_vocab(TINY_DOCS, min_count=2)
    saved = tmp_path / "w2v.txt"
    emb = registry.create("embedding", "word2vec", dim=12, epochs=3, rescale=False, progress=False, save=str(saved))
    matrix = emb.matrix(vocab, TINY_DOCS)
    assert matrix.shape == (len(vocab), 12) and matrix.dtype == np.float32
    assert not matrix[0].any()
    assert emb.report["type_coverage"] == 1.0 and emb.report["random_rows"] == 1  # only <unk>
    assert emb.report["token_coverage"] == 1.0 and emb.report["saved"] == str(saved)
    words, vectors = read_vectors(saved)
    assert words == emb.words
    for token in ("film", "awful", "music"):
        np.testing.assert_array_equal(matrix[vocab.index[token]], vectors[words.index(token)])
    # Same options, same vectors (workers=1, seed).
    again = registry.create("embedding", "word2vec", **emb.config, progress=False).matrix(vocab, TINY_DOCS)
    np.testing.assert_array_equal(again, matrix)
    # Load instead of training: the same matrix, text and binary.
    emb.save(tmp_path / "w2v.bin", binary=True)
    for path in (saved, tmp_path / "w2v.bin"):
        loaded = registry.create("embedding", "word2vec", path=str(path), rescale=False)
        assert loaded.dim == 12 and "path" in loaded.config
        np.testing.assert_array_equal(loaded.matrix(vocab, TINY_DOCS), matrix)


def test_word2vec_progress_stays_off_stdout(capsys):
    from toolkit.training.embeddings.word2vec import train_word2vec

    words, vectors, stats = train_word2vec(TINY_DOCS, dim=4, epochs=2, progress=True)
    assert vectors.shape == (len(words), 4) and stats["units"] == len(TINY_DOCS)
    assert capsys.readouterr().out == ""


def test_word2vec_option_errors():
    with pytest.raises(EmbeddingError, match="'sg' must be 0"):
        registry.create("embedding", "word2vec", sg=2)
    with pytest.raises(EmbeddingError, match="'epochs'"):
        registry.create("embedding", "word2vec", epochs=0)
    with pytest.raises(EmbeddingError, match="needs the tokenized training documents"):
        registry.create("embedding", "word2vec", progress=False).matrix(Vocab(["a"]), None)


def test_nearest_and_pca():
    words = ["a", "b", "c", "d"]
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], np.float32)
    got = nearest(words, vectors, "a", 2)
    assert [w for w, _ in got] == ["b", "c"] and got[0][1] == pytest.approx(0.9939, abs=1e-3)
    with pytest.raises(EmbeddingError, match="'zz' is not among"):
        nearest(words, vectors, "zz")
    coords = pca_2d(np.random.default_rng(0).normal(size=(10, 5)))
    assert coords.shape == (10, 2) and abs(coords.mean()) < 1e-9


# --------------------------------------------------------------------------
# The polarity training split: word2vec vectors mean something
# --------------------------------------------------------------------------
# Pairs of words that mean related things in film reviews (each occurs 60+
# times in the training split).
RELATED_PAIRS = [
    ("good", "great"), ("bad", "awful"), ("bad", "terrible"), ("film", "movie"), ("funny", "hilarious"),
    ("boring", "dull"), ("actor", "actress"), ("husband", "wife"), ("script", "screenplay"),
    ("director", "filmmaker"), ("man", "woman"), ("scary", "frightening"), ("brother", "sister"),
    ("worst", "bad"), ("best", "excellent"),
]


@pytest.fixture(scope="module")
def polarity_w2v(polarity_path, tmp_path_factory):
    """word2vec trained on the polarity training split (modest settings, to stay fast)."""
    from toolkit.training.corpus import load_polarity, train_test_split
    from toolkit.training.prepare import tokenize_texts

    train, _test = train_test_split(load_polarity(polarity_path))
    docs = tokenize_texts(train.texts, registry.create("tokenizer", "nltk"))
    vocab = build_vocab(docs, min_count=2)
    # 3 epochs at a high learning rate stand in for the default 30 epochs (which take a minute).
    emb = registry.create("embedding", "word2vec", dim=50, epochs=3, alpha=0.1, progress=False)
    matrix = emb.matrix(vocab, docs)
    out = tmp_path_factory.mktemp("w2v") / "polarity.vec"
    emb.save(out)
    return {"vocab": vocab, "docs": docs, "emb": emb, "matrix": matrix, "file": out}


def test_word2vec_on_polarity_related_pairs_beat_random_pairs(polarity_w2v):
    vocab, matrix, emb = polarity_w2v["vocab"], polarity_w2v["matrix"], polarity_w2v["emb"]
    assert matrix.shape == (len(vocab), 50)
    report = emb.report
    assert report["type_coverage"] == 1.0 and report["random_rows"] == 1
    assert report["token_coverage"] > 0.95 and report["training"]["documents"] == 1800
    # Cosine similarity between the rows the model starts from.
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True).clip(1e-12)
    frequent = [i for i, tok in enumerate(vocab.tokens) if i >= 2 and vocab.counts[tok] >= 5]
    rng = np.random.default_rng(0)
    a, b = rng.choice(frequent, 4000), rng.choice(frequent, 4000)
    random_sims = np.sum(unit[a] * unit[b], axis=1)
    median = float(np.median(random_sims))
    sims = {pair: float(unit[vocab.index[pair[0]]] @ unit[vocab.index[pair[1]]]) for pair in RELATED_PAIRS}
    losers = {pair: round(s, 3) for pair, s in sims.items() if s <= median}
    assert not losers, f"related pairs not above the random median {median:.3f}: {losers}"
    # And clearly above: on average the pairs beat 75% of random pairs.
    percentiles = [float(np.mean(random_sims < s)) for s in sims.values()]
    assert np.mean(percentiles) > 0.75, percentiles
    # The matrix rows are the trained vectors, centred and scaled.
    words, vectors = read_vectors(polarity_w2v["file"])
    f = report["scale_factor"]
    i, j = vocab.index["good"], vocab.index["bad"]
    np.testing.assert_allclose(matrix[i] - matrix[j], f * (vectors[words.index("good")] - vectors[words.index("bad")]),
                               rtol=1e-4, atol=1e-6)


def test_plot_writes_a_readable_png(polarity_w2v, tmp_path):
    words, vectors = read_vectors(polarity_w2v["file"], limit=60)
    out = plot_vectors(words, vectors, tmp_path / "pca.png", n=60)
    width, height = png_size(out)
    assert width >= 1000 and height >= 700
    assert out.stat().st_size > 20_000


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------
runner = CliRunner()


def test_cli_info_similar_plot(polarity_w2v, tmp_path):
    file = str(polarity_w2v["file"])
    result = runner.invoke(app, ["info", file])
    assert result.exit_code == 0, result.output
    assert "format: word2vec" in result.output and "dimension: 50" in result.output
    result = runner.invoke(app, ["similar", file, "awful", "--n", "5"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 5 and all(float(line.split()[0]) <= 1.0 for line in lines)
    png = tmp_path / "plot.png"
    result = runner.invoke(app, ["plot", file, "--out", str(png), "--n", "40"])
    assert result.exit_code == 0, result.output
    assert png_size(png)[0] >= 1000


def test_cli_train_on_a_small_corpus(tmp_path):
    corpus = tmp_path / "reviews.jsonl"
    rows = [{"text": " ".join(doc), "label": "pos" if i % 2 == 0 else "neg"} for i, doc in enumerate(TINY_DOCS)]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "vec.bin"
    args = ["train", "--data", str(corpus), "--out", str(out), "--binary", "--dim", "8", "--epochs", "2",
            "--min-count", "1", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and detect_format(out) == WORD2VEC_BINARY
    words, vectors = read_vectors(out)
    assert vectors.shape[1] == 8 and "film" in words and "the" not in words  # stop words removed
    # Output exists: refused without --overwrite, one line on stderr.
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_errors_are_one_line(tmp_path):
    bad = _write(tmp_path, "bad.txt", "good 0.1 0.2\nbad 0.3\n")
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith("Error: [E030]") and "line 2" in result.output
    good = tmp_path / "good.txt"
    write_vectors(good, ["film", "movie"], np.eye(2, dtype=np.float32))
    result = runner.invoke(app, ["similar", str(good), "Film"])
    assert result.exit_code == 1 and "'Film' is not in" in result.output and "did you mean 'film'" in result.output
    result = runner.invoke(app, [])  # no command: the help, listing the four commands
    assert all(cmd in result.output for cmd in ("train", "info", "similar", "plot"))
