"""The built-in architectures: cnn, seed-cnn, cnn-lstm.

Tiny models on a synthetic corpus (ids of "good" tokens vs "bad" tokens among
neutral ones), so the whole file runs in well under a minute on two cores.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from toolkit.core import registry
from toolkit.core.errors import ConfigError, RegistryError
from boundary import assert_not_loaded, report_code
from spacy_helpers import run_python

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LABELS = ["NEGATIVE", "POSITIVE"]
VOCAB = 40
DIM = 8
MAX_LEN = 40

# Small versions of each architecture (fast to train), and the preset as shipped.
SMALL = {
    "cnn": {"filters": 8, "kernel_sizes": [1, 3]},
    "seed-cnn": {},
    "cnn-lstm": {"chunk_len": 10, "filters": 8, "kernel_size": 3, "lstm_units": 8},
}
ARCHS = list(SMALL)


def make_corpus(n: int = 320, seed: int = 0, length=(12, 36)):
    """Post-padded ids [n, MAX_LEN] and labels: label 1 docs hold 'good' ids 2-7, label 0 'bad' ids 8-13."""
    rng = np.random.default_rng(seed)
    good, bad, neutral = np.arange(2, 8), np.arange(8, 14), np.arange(14, VOCAB)
    x = np.zeros((n, MAX_LEN), dtype=np.int32)
    y = np.zeros(n, dtype=np.int32)
    for i in range(n):
        label = i % 2
        length_i = int(rng.integers(*length))
        doc = rng.choice(neutral, length_i)
        k = int(rng.integers(3, 6))
        doc[rng.choice(length_i, k, replace=False)] = rng.choice(good if label else bad, k)
        x[i, :length_i] = doc
        y[i] = label
    return x, y


def token_weights_for(arch, labels=LABELS) -> dict:
    """``{"token_weights": ...}`` from the synthetic corpus when the architecture needs them, else ``{}``."""
    if not getattr(arch, "needs_token_weights", False):
        return {}
    from toolkit.training.linear import nb_token_weights

    x, y = make_corpus()
    return {"token_weights": nb_token_weights([row[row > 0] for row in x], y, VOCAB, len(labels))}


def build(name: str, weights=None, trainable: bool = True, labels=LABELS, max_len=MAX_LEN, **options):
    arch = registry.create("architecture", name, **{**SMALL[name], **options})
    return arch, arch.build(VOCAB, DIM, weights=weights, trainable=trainable, max_len=max_len, labels=labels,
                            **token_weights_for(arch, labels))


def predict(model, x) -> np.ndarray:
    return np.asarray(model(np.asarray(x, dtype=np.int32), training=False))


def compile_model(model, lr: float = 0.01):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def trained():
    """One small model per architecture, trained 2 epochs on the synthetic corpus (shared by tests)."""
    import keras

    keras.utils.set_random_seed(0)
    x, y = make_corpus()
    xt, yt = make_corpus(n=200, seed=1)
    out = {}
    for name in ARCHS:
        arch, model = build(name)
        compile_model(model)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        probs = predict(model, xt)
        out[name] = (arch, model, float((probs.argmax(1) == yt).mean()))
    return out


# ---------------------------------------------------------------------------
# Registry and options (no TensorFlow needed)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ARCHS)
def test_registered_with_contract(name):
    arch = registry.create("architecture", name)
    assert arch.length_policy in ("fixed", "dynamic")
    assert isinstance(arch.min_len, int) and arch.min_len >= 1
    json.dumps(arch.config)  # JSON-serialisable
    rec = arch.recommended
    assert set(rec) >= {"tokenizer", "vocab", "embedding", "training"}
    json.dumps(rec)


@pytest.mark.parametrize("name", ARCHS)
def test_config_round_trip(name):
    reg = registry.lookup("architecture", name)
    arch = reg.factory(**SMALL[name])
    again = reg.factory(**json.loads(json.dumps(arch.config)))
    assert again.config == arch.config
    assert again.length_policy == arch.length_policy and again.min_len == arch.min_len


def test_policies_and_min_len():
    cnn = registry.create("architecture", "cnn", kernel_sizes=[2, 5])
    assert cnn.length_policy == "dynamic" and cnn.min_len == 5
    seed = registry.create("architecture", "seed-cnn")
    assert seed.length_policy == "fixed" and seed.min_len == 9  # kernel 8, then a pool of 2
    lstm = registry.create("architecture", "cnn-lstm", chunk_len=25)
    assert lstm.length_policy == "fixed" and lstm.min_len == 25
    assert registry.create("architecture", "cnn", length_policy="fixed").length_policy == "fixed"


def test_modules_import_without_tensorflow():
    code = report_code() + (
        "import json; from toolkit.core import registry; "
        "[reg.factory for reg in registry.get_components('architecture').values()]; "  # imports every module
        "registry.create('architecture', 'cnn'); registry.create('architecture', 'cnn-lstm'); "
        "print(json.dumps(_boundary_report()))")
    assert_not_loaded(run_python(code, env={"TOOLKIT_LOAD_PLUGINS": ""}), ("tensorflow", "keras", "tf2onnx"))


@pytest.mark.parametrize(
    "name, options, option",
    [
        ("cnn", {"pooling": "median"}, "pooling"),
        ("cnn", {"kernel_sizes": [3, 0]}, "kernel_sizes"),
        ("cnn", {"kernel_sizes": "3"}, "kernel_sizes"),
        ("cnn", {"filters": -1}, "filters"),
        ("cnn", {"dropout": 1.5}, "dropout"),
        ("cnn", {"activation": "sigmoidish"}, "activation"),
        ("cnn", {"pooling": "local-max", "bag": False, "length_policy": "dynamic"}, "length_policy"),
        ("cnn", {"pooling": "local-max", "bag": True}, "bag"),
        ("cnn", {"kernel_sizes": [], "bag": False}, "kernel_sizes"),
        ("cnn", {"bag": False, "conv_trains_embedding": False}, "conv_trains_embedding"),
        ("cnn", {"logits": "sigmoid"}, "logits"),
        ("cnn", {"bag_weights": "tfidf"}, "bag_weights"),
        ("cnn", {"bag": False, "bag_weights": "nb"}, "bag_weights"),
        ("seed-cnn", {"dense": [10, "x"]}, "dense"),
        ("cnn-lstm", {"chunk_len": 0}, "chunk_len"),
        ("cnn-lstm", {"chunk_len": 4, "kernel_size": 5}, "kernel_size"),
        ("cnn-lstm", {"mask": "yes"}, "mask"),
        ("cnn-lstm", {"pooling": "local-max"}, "pooling"),
    ],
)
def test_bad_options_name_the_option(name, options, option):
    with pytest.raises(ConfigError, match=repr(option)):
        registry.create("architecture", name, **options)


def test_unknown_option_is_refused():
    with pytest.raises(RegistryError, match="kernel_size"):
        registry.create("architecture", "cnn", kernel_size=3)


# ---------------------------------------------------------------------------
# Built models
# ---------------------------------------------------------------------------
def test_build_argument_errors():
    cnn = registry.create("architecture", "cnn", kernel_sizes=[3, 8], bag_weights="none")
    with pytest.raises(ConfigError, match="kernel_sizes"):
        cnn.build(VOCAB, DIM, max_len=5, labels=LABELS)  # a kernel wider than max_len
    lstm = registry.create("architecture", "cnn-lstm", chunk_len=10)
    with pytest.raises(ConfigError, match="chunk_len"):
        lstm.build(VOCAB, DIM, max_len=45, labels=LABELS)
    with pytest.raises(ConfigError, match="max_len"):
        registry.create("architecture", "seed-cnn").build(VOCAB, DIM, max_len=None, labels=LABELS)
    with pytest.raises(ConfigError, match="shape"):
        cnn.build(VOCAB, DIM, weights=np.zeros((VOCAB, DIM + 1), np.float32), max_len=40, labels=LABELS)
    with pytest.raises(ConfigError, match="labels"):
        cnn.build(VOCAB, DIM, max_len=40, labels=["ONLY"])
    weighted = registry.create("architecture", "cnn")
    with pytest.raises(ConfigError, match="bag_weights needs token_weights"):
        weighted.build(VOCAB, DIM, labels=LABELS)
    with pytest.raises(ConfigError, match="token_weights must be 40 finite weights"):
        weighted.build(VOCAB, DIM, labels=LABELS, token_weights=np.ones(VOCAB - 1))
    with pytest.raises(ConfigError, match="token_weights must be"):
        weighted.build(VOCAB, DIM, labels=LABELS, token_weights=np.full(VOCAB, np.nan))


@pytest.mark.parametrize("name", ARCHS)
def test_input_output_contract(name):
    arch, model = build(name, labels=["A", "B", "C"])
    (inp,) = model.inputs
    assert inp.name == "token_ids" and inp.dtype == "int32"
    expected_len = None if arch.length_policy == "dynamic" else MAX_LEN
    assert tuple(inp.shape) == (None, expected_len)
    assert model.layers[-1].name == "probabilities"
    assert list(model.output_names) == ["probabilities"]
    x, _ = make_corpus(n=5)
    probs = predict(model, x)
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_seed_cnn_is_the_classic_stack():
    arch = registry.create("architecture", "seed-cnn")
    model = arch.build(1000, 100, max_len=500, labels=LABELS)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:7] == ["InputLayer", "Embedding", "Conv1D", "MaxPooling1D", "Flatten", "Dense", "Dense"]
    assert kinds[-1] == "Activation"  # softmax over [0, z]: no weights after the last Dense
    emb, conv, pool, _, dense, out = model.layers[1:7]
    assert emb.output_dim == 100
    assert (conv.filters, conv.kernel_size, conv.get_config()["activation"]) == (32, (8,), "relu")
    assert pool.pool_size == (2,)
    assert (dense.units, dense.get_config()["activation"]) == (10, "relu")
    assert (out.units, out.get_config()["activation"]) == (1, "linear")  # one logit: Dense(1, sigmoid)
    assert model.count_params() == 1000 * 100 + (8 * 100 * 32 + 32) + (246 * 32 * 10 + 10) + (10 + 1)


def test_reference_logits_are_the_sigmoid_head():
    """logits="reference" with two labels: p = [1 - sigmoid(z), sigmoid(z)] for the last Dense's z;
    with three labels the first label's logit is 0. The default stays Dense(n_labels, softmax)."""
    import keras

    arch = registry.create("architecture", "cnn", logits="reference")
    model = arch.build(VOCAB, DIM, labels=LABELS, **token_weights_for(arch))
    x, _ = make_corpus(n=6)
    z = keras.Model(model.inputs, model.get_layer("logits").output).predict(x, verbose=0)
    probs = predict(model, x)
    assert z.shape == (6, 1)
    np.testing.assert_allclose(probs[:, 1], 1 / (1 + np.exp(-z[:, 0])), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    three = arch.build(VOCAB, DIM, labels=["A", "B", "C"], **token_weights_for(arch, ["A", "B", "C"]))
    assert three.get_layer("logits").units == 2 and predict(three, x).shape == (6, 3)
    plain = registry.create("architecture", "cnn")
    default = plain.build(VOCAB, DIM, labels=LABELS, **token_weights_for(plain))
    assert default.layers[-1].units == 2 and plain.logits == "per-label"
    assert registry.create("architecture", "cnn-lstm", logits="reference").config["logits"] == "reference"


@pytest.mark.parametrize("name", ARCHS)
def test_rebuilt_from_config_is_the_same_architecture(name):
    arch, model = build(name)
    again = registry.lookup("architecture", name).factory(**arch.config)
    model2 = again.build(VOCAB, DIM, max_len=MAX_LEN, labels=LABELS, **token_weights_for(again))
    assert [type(x).__name__ for x in model.layers] == [type(x).__name__ for x in model2.layers]
    assert model.count_params() == model2.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHS)
def test_learns_a_tiny_corpus(trained, name):
    _, _, accuracy = trained[name]
    assert accuracy > 0.9, f"{name}: {accuracy:.3f} on held-out synthetic documents"


@pytest.mark.parametrize("name", ARCHS)
def test_initial_weights_frozen_or_fine_tuned(name):
    import keras

    keras.utils.set_random_seed(1)
    w = np.random.default_rng(0).normal(size=(VOCAB, DIM)).astype(np.float32)
    x, y = make_corpus(n=32)
    for trainable in (False, True):
        _, model = build(name, weights=w, trainable=trainable)
        emb = [v for v in model.weights if v.path.split("/")[0] == "embedding"]
        assert len(emb) == 1
        np.testing.assert_array_equal(np.asarray(emb[0]), w)
        assert any(v is emb[0] for v in model.trainable_weights) == trainable
        if not trainable:  # frozen: fitting leaves the matrix as it was
            compile_model(model).fit(x, y, epochs=1, batch_size=16, verbose=0)
            np.testing.assert_array_equal(np.asarray(emb[0]), w)


def test_nb_bag_weights_scale_the_mean_embedding():
    """bag_weights="nb": the bag branch is the masked mean of token_weights[id] * E[id] (checked in
    numpy on a bag-only model); the weights stay fixed in training and are the NB log-count ratios."""
    from toolkit.training.linear import nb_token_weights

    # Ids 2 and 3 only in label-1 documents, 4 in both, 5 in none; alpha = 1.
    w = nb_token_weights([[2, 4], [3, 4, 4], [4]], [1, 1, 0], vocab_size=6, n_labels=2)
    p, q = np.array([1, 1, 2, 2, 3, 1.]), np.array([1, 1, 1, 1, 2, 1.])  # counts + alpha, ids 0-5
    want = np.abs(np.log(p / p.sum()) - np.log(q / q.sum()))
    want[0] = 0.0
    np.testing.assert_allclose(w, want, rtol=1e-6)
    assert w[2] > w[4] and w[3] > w[4]

    arch = registry.create("architecture", "cnn", kernel_sizes=[], bag=True, bag_binary=False)
    assert arch.bag_weights == "nb" and arch.needs_token_weights
    tw = np.random.default_rng(0).uniform(0, 2, VOCAB).astype(np.float32)
    model = arch.build(VOCAB, DIM, labels=LABELS, token_weights=tw)
    x, y = make_corpus(n=16)
    compile_model(model).fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(model.get_layer("token_weights").get_weights()[0][:, 0], tw)
    emb = model.get_layer("embedding").get_weights()[0]
    kernel, bias = model.get_layer("probabilities").get_weights()
    feats = np.stack([(tw[row[row > 0], None] * emb[row[row > 0]]).mean(axis=0) for row in x])
    logits = feats @ kernel + bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(predict(model, x), expected / expected.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    unweighted = registry.create("architecture", "cnn", kernel_sizes=[], bag=True, bag_weights="none")
    assert not unweighted.needs_token_weights
    assert "token_weights" not in [layer.name for layer in unweighted.build(VOCAB, DIM, labels=LABELS).layers]


def test_binary_bag_counts_each_id_once():
    """bag_binary=True: the bag is the mean over the document's distinct ids (each weighed
    once, however often it occurs), so it ignores repetition and order as well as padding."""
    tw = np.random.default_rng(1).uniform(0, 2, VOCAB).astype(np.float32)
    arch = registry.create("architecture", "cnn", kernel_sizes=[], bag=True)  # binary by default with the bag
    assert arch.config["bag_binary"] is True
    model = arch.build(VOCAB, DIM, labels=LABELS, token_weights=tw)
    x, y = make_corpus(n=16)
    compile_model(model).fit(x, y, epochs=1, batch_size=8, verbose=0)
    x[0, :6] = [5, 9, 5, 5, 9, 30]  # repeats within a document
    emb = model.get_layer("embedding").get_weights()[0]
    kernel, bias = model.get_layer("probabilities").get_weights()
    distinct = [np.unique(row[row > 0]) for row in x]
    feats = np.stack([(tw[u, None] * emb[u]).mean(axis=0) for u in distinct])
    logits = feats @ kernel + bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    got = predict(model, x)
    np.testing.assert_allclose(got, expected / expected.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    # Reversed, repeated, wider padding: the same distinct ids give the same scores.
    shuffled = np.zeros((len(x), 2 * MAX_LEN), np.int32)
    for i, row in enumerate(x):
        tokens = row[row > 0][::-1]
        shuffled[i, :2 * len(tokens)] = np.concatenate([tokens, tokens])
    np.testing.assert_allclose(predict(model, shuffled), got, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="bag_binary"):
        registry.create("architecture", "cnn", bag=False, bag_binary=True)


def test_cnn_lstm_chunk_weights_scale_the_chunk_cnn_input():
    """chunk_weights="nb": the chunk CNN reads token_weights[id] * E[id] (checked in numpy on a
    width-1, average-pooled chunk CNN); the weights are frozen and passed by the trainer."""
    arch = registry.create("architecture", "cnn-lstm", chunk_len=10, filters=4, kernel_size=1, pooling="avg",
                                        lstm_units=4, chunk_weights="nb")
    assert arch.needs_token_weights
    assert not registry.create("architecture", "cnn-lstm", chunk_weights="none").needs_token_weights
    with pytest.raises(ConfigError, match="chunk_weights needs token_weights"):
        arch.build(VOCAB, DIM, max_len=MAX_LEN, labels=LABELS)
    tw = np.random.default_rng(2).uniform(0, 2, VOCAB).astype(np.float32)
    model = arch.build(VOCAB, DIM, max_len=MAX_LEN, labels=LABELS, token_weights=tw)
    x, y = make_corpus(n=16)
    compile_model(model).fit(x, y, epochs=1, batch_size=8, verbose=0)
    chunk_cnn = model.get_layer("chunk_features").layer
    np.testing.assert_array_equal(chunk_cnn.get_layer("token_weights").get_weights()[0][:, 0], tw)
    emb = chunk_cnn.get_layer("embedding").get_weights()[0]
    kernel, bias = chunk_cnn.get_layer("conv").get_weights()
    chunk = x[0, :10]
    tokens = chunk[chunk > 0]
    want = np.maximum((tw[tokens, None] * emb[tokens]) @ kernel[0] + bias, 0).mean(axis=0)
    got = np.asarray(chunk_cnn(chunk[None], training=False))[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_dynamic_cnn_accepts_any_length_and_ignores_padding(trained):
    _, model, _ = trained["cnn"]
    x, _ = make_corpus(n=4, length=(5, 12))
    short = x[:, :12]
    base = predict(model, short)
    for width in (20, 57):  # the same documents, padded wider
        wide = np.zeros((4, width), np.int32)
        wide[:, :12] = short
        np.testing.assert_allclose(predict(model, wide), base, atol=1e-6)
    single = predict(model, x[:1, :3])  # as short as min_len
    assert single.shape == (1, 2)


@pytest.mark.parametrize("activation", ["relu", "tanh"])  # products for ReLU outputs, selections otherwise
@pytest.mark.parametrize("pooling", ["max", "avg", "max+avg", "hierarchical"])
def test_masked_poolings_ignore_padding_and_batch(pooling, activation):
    import keras

    keras.utils.set_random_seed(2)
    _, model = build("cnn", pooling=pooling, pool_size=4, kernel_sizes=[2, 3], max_len=None, activation=activation)
    x, _ = make_corpus(n=5, length=(2, 23))
    x = x[:, :23]
    base = predict(model, x)
    for width in (30, 41):
        wide = np.zeros((5, width), np.int32)
        wide[:, :23] = x
        np.testing.assert_allclose(predict(model, wide), base, atol=1e-6)
    np.testing.assert_allclose(predict(model, x[1:2]), base[1:2], atol=1e-6)


def test_cnn_lstm_ignores_padding_chunks(trained):
    _, model, _ = trained["cnn-lstm"]
    x, _ = make_corpus(n=6, length=(12, 20))
    probs = predict(model, x)
    # Each document alone, and in a batch: the same scores (padding chunks are masked).
    alone = np.concatenate([predict(model, x[i:i + 1]) for i in range(2)])
    np.testing.assert_allclose(alone, probs[:2], atol=1e-6)


def test_cnn_lstm_with_bag_branch_learns_and_masks():
    import keras

    keras.utils.set_random_seed(3)
    _, model = build("cnn-lstm", bag=True)
    assert "features" in [layer.name for layer in model.layers]
    x, y = make_corpus()
    compile_model(model).fit(x, y, epochs=2, batch_size=16, verbose=0)
    xt, yt = make_corpus(n=200, seed=1)
    assert (predict(model, xt).argmax(1) == yt).mean() > 0.9
    # The bag mean ignores padding: a document holding one id, or that id three
    # times, has the same mean embedding. With the chunk CNN off the output
    # (zeroed LSTM kernel, bias and recurrent weights) the scores must match.
    lstm = model.get_layer("lstm")
    lstm.set_weights([np.zeros_like(w) for w in lstm.get_weights()])
    once, thrice = np.zeros((1, MAX_LEN), np.int32), np.zeros((1, MAX_LEN), np.int32)
    once[0, 0] = 5
    thrice[0, :3] = 5
    np.testing.assert_allclose(predict(model, once), predict(model, thrice), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHS)
def test_keras_file_round_trip(trained, tmp_path, name):
    import keras

    _, model, _ = trained[name]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)  # no custom objects needed
    x, _ = make_corpus(n=4)
    np.testing.assert_allclose(predict(loaded, x),
                               predict(model, x), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHS)
def test_converts_to_onnx(trained, name):
    pytest.importorskip("tf2onnx")
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    arch, model, _ = trained[name]
    length = None if arch.length_policy == "dynamic" else MAX_LEN
    spec = [tf.TensorSpec([None, length], tf.int32, name="token_ids")]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["probabilities"]
    x, _ = make_corpus(n=7, seed=3)
    widths = [MAX_LEN] if length else [MAX_LEN, 23]
    for width in widths:
        expected = predict(model, x[:, :width])
        got = sess.run(["probabilities"], {"token_ids": x[:, :width]})[0]
        assert np.abs(got - expected).max() <= 1e-4
