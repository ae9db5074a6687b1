"""The ``bilstm`` architecture: builds, predicts, trains a little, ignores padding."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.errors import ConfigError

LABELS = ["NEGATIVE", "POSITIVE"]


@pytest.fixture(scope="module")
def model():
    from toolkit_fasttext.bilstm import BiLSTM

    import keras

    keras.utils.set_random_seed(0)
    return BiLSTM(units=8, dropout=0.0).build(30, 6, None, True, 40, LABELS)


def test_registered_through_the_hook(registered):
    reg = registered.lookup("architecture", "bilstm")
    assert (reg.plugin, reg.distribution, reg.version) == ("fasttext", "toolkit-fasttext", "0.2.0")
    arch = registered.create("architecture", "bilstm", units=8)
    assert arch.length_policy == "dynamic" and arch.min_len == 1
    assert registered.create("architecture", "bilstm", **arch.config) == arch


def test_build_contract(model):
    assert [t.name for t in model.inputs] == ["token_ids"] and model.output_names == ["probabilities"]
    assert model.input.shape[1] is None and "int32" in str(model.input.dtype)
    assert model.output.shape[-1] == 2
    probs = np.asarray(model(np.array([[2, 3, 4, 0], [5, 6, 0, 0]], dtype=np.int32)))
    assert probs.shape == (2, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_padding_never_changes_a_score(model):
    """Each document alone, and post-padded to any width inside a batch: the same scores.
    This is what lets the runtime sort by length and pad each batch to its longest document."""
    rng = np.random.default_rng(0)
    docs = [rng.integers(1, 30, size=n).tolist() for n in (1, 3, 7, 12)]
    alone = np.concatenate([np.asarray(model(np.array([d], dtype=np.int32))) for d in docs])
    for width in (12, 17, 40):
        batch = np.zeros((len(docs), width), dtype=np.int32)
        for i, d in enumerate(docs):
            batch[i, :len(d)] = d
        np.testing.assert_allclose(np.asarray(model(batch)), alone, atol=1e-6)
    # an empty document (all padding) gets one defined score whatever its width
    empty = [np.asarray(model(np.zeros((1, w), dtype=np.int32))) for w in (1, 5, 40)]
    np.testing.assert_allclose(empty[0], empty[1], atol=1e-7)
    np.testing.assert_allclose(empty[0], empty[2], atol=1e-7)


def test_initial_weights_and_frozen_embedding():
    from toolkit_fasttext.bilstm import BiLSTM

    weights = np.random.default_rng(1).normal(size=(30, 6)).astype(np.float32)
    model = BiLSTM(units=4).build(30, 6, weights, False, None, LABELS)
    layer = model.get_layer("embedding")
    np.testing.assert_array_equal(layer.get_weights()[0], weights)
    assert layer.trainable is False


def test_learns_and_saves(tmp_path):
    """A few epochs on an obvious signal; model.keras loads back without custom objects."""
    import keras

    from toolkit_fasttext.bilstm import BiLSTM

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = np.zeros((64, 10), dtype=np.int32)
    y = np.arange(64) % 2
    for i in range(64):
        n = rng.integers(3, 10)
        x[i, :n] = rng.integers(4, 20, size=n)
        x[i, rng.integers(0, n)] = 2 + y[i]  # token 3 = positive, 2 = negative
    model = BiLSTM(units=8, dropout=0.0).build(20, 8, None, True, 10, LABELS)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=12, batch_size=64, verbose=0)  # one batch shape: one graph trace
    assert (np.asarray(model(x)).argmax(axis=1) == y).mean() > 0.9
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)


@pytest.mark.parametrize("options, match", [
    ({"units": 0}, "'units'"),
    ({"dropout": 1.5}, "'dropout'"),
    ({"merge_mode": "max"}, "'merge_mode'"),
])
def test_bad_options_name_the_option(options, match):
    from toolkit_fasttext.bilstm import BiLSTM

    with pytest.raises(ConfigError, match=match):
        BiLSTM(**options)


def test_bad_build_arguments():
    from toolkit_fasttext.bilstm import BiLSTM

    with pytest.raises(ConfigError, match="labels"):
        BiLSTM().build(30, 6, None, True, 10, ["ONLY"])
    with pytest.raises(ConfigError, match="shape"):
        BiLSTM().build(30, 6, np.zeros((3, 3)), True, 10, LABELS)


def test_importing_the_plugin_is_light():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                       os.environ.get("PYTHONPATH")])))
    code = ("import sys, toolkit_fasttext.plugin; "
            "print([m for m in ('tensorflow', 'keras', 'gensim') if m in sys.modules] + "
            "[m for m in sys.modules if m.startswith('toolkit.training')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"  # nor the training half: its modules are imported inside the methods


def test_the_plugin_uses_only_public_toolkit_modules():
    """No copied or imported private helper: every toolkit module the plugin names is public."""
    import re
    from pathlib import Path

    from toolkit.contracts import Architecture, EmbeddingProvider
    from toolkit_fasttext.bilstm import BiLSTM
    from toolkit_fasttext.embedding import FastTextEmbedding

    source = "\n".join(p.read_text() for p in (Path(__file__).resolve().parents[1] / "toolkit_fasttext").glob("*.py"))
    modules = set(re.findall(r"\b(toolkit(?:\.\w+)+)", source))
    assert modules and not [m for m in modules if any(part.startswith("_") for part in m.split("."))]
    assert "isinstance(" not in source  # option checks come from toolkit.options
    assert issubclass(BiLSTM, Architecture) and issubclass(FastTextEmbedding, EmbeddingProvider)


def test_version_matches_pyproject():
    import tomllib
    from pathlib import Path

    import toolkit_fasttext

    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert meta["project"]["version"] == toolkit_fasttext.__version__
    assert meta["project"]["entry-points"]["toolkit"] == {"fasttext": "toolkit_fasttext.plugin"}
