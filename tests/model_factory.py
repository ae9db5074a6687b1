"""Small models and bundles for the export and runtime tests.

* :func:`trained_model_dir` trains a small Keras model on a synthetic review
  corpus and writes a trained-model folder exactly as ``docs/formats.md``
  describes (``model.keras``, ``vocab.txt``, ``model.json``, ``metrics.json``,
  ``test_data.npz``, ``config.toml``): a registered architecture (``cnn``,
  ``seed-cnn``, ``cnn-lstm`` with small options) or a hand-made toy model
  (``toy-dynamic``: Conv1D and unmasked global max pooling, any length;
  ``toy-fixed``: Conv1D, pooling and an LSTM over exactly ``max_len``).
* :func:`exported_bundle` exports one of them (cached per process, so the two
  test files share the work when run together).
* :func:`make_onnx_bundle` writes a bundle by hand with ``onnx.helper`` and no
  TensorFlow: a bag-of-embeddings model whose scores are known in closed form
  (:func:`toy_scores`), for fast runtime tests.

These stand in for ``toolkit train`` outputs until the architectures land.
"""

from __future__ import annotations

import atexit
import json
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np

POSITIVE = ["great", "wonderful", "superb", "brilliant", "moving", "funny", "gripping", "delightful"]
NEGATIVE = ["awful", "boring", "dull", "terrible", "clumsy", "tedious", "bland", "painful"]
FILLER = ["movie", "film", "plot", "actor", "scene", "story", "director", "camera", "music", "script",
          "ending", "cast", "dialogue", "screen", "character", "minutes"]
LABELS = ["NEGATIVE", "POSITIVE"]

_ROOT: Path | None = None
_CACHE: dict[tuple, Path] = {}


def cache_root() -> Path:
    """A process-wide temporary folder, removed at exit."""
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="toolkit-test-models-"))
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def synthetic_corpus(n: int = 160, seed: int = 0) -> tuple[list[str], list[int]]:
    """Reviews of 4-30 words: sentiment words of the label among filler words."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = rng.choices(FILLER, k=rng.randint(2, 26))
        for _ in range(rng.randint(2, 4)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
        texts.append(("The " if i % 3 == 0 else "") + " ".join(words) + ("!" if i % 5 == 0 else "."))
        labels.append(label)
    return texts, labels


def _build(policy: str, vocab_size: int, max_len: int):
    import keras

    length = None if policy == "dynamic" else max_len
    inp = keras.Input(shape=(length,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, 16, name="embedding")(inp)
    if policy == "dynamic":  # cnn-like
        x = keras.layers.Conv1D(16, 3, activation="relu", name="conv")(x)
        x = keras.layers.GlobalMaxPooling1D(name="pool")(x)
    else:  # cnn-lstm-like
        x = keras.layers.Conv1D(16, 3, padding="same", activation="relu", name="conv")(x)
        x = keras.layers.MaxPooling1D(2, name="pool")(x)
        x = keras.layers.LSTM(8, name="lstm")(x)
    out = keras.layers.Dense(len(LABELS), activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name=f"toy_{policy}")


#: Small options for the real architectures (``architecture=`` of :func:`write_trained_model`).
REAL_OPTIONS = {
    "cnn": {"filters": 16, "kernel_sizes": [1, 3], "dropout": 0.0},
    "seed-cnn": {"filters": 16, "dropout": 0.0},
    "cnn-lstm": {"chunk_len": 8, "filters": 16, "lstm_units": 8, "dropout": 0.0},
}


def write_trained_model(out: Path, policy: str = "dynamic", max_len: int = 32, min_len: int = 3,
                        epochs: int = 8, seed: int = 0, architecture: str | None = None) -> Path:
    """Train a small model and write a trained-model folder at ``out``.

    ``architecture=None``: the hand-made toy model of ``policy``; else a
    registered architecture built with :data:`REAL_OPTIONS` (its own length
    policy and ``min_len`` are recorded).
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from toolkit import __version__
    from toolkit.core import registry
    from toolkit.core.batching import pad_fixed
    from toolkit.training.vocab_builder import build_vocab

    keras.utils.set_random_seed(seed)
    texts, labels = synthetic_corpus(seed=seed)
    tok = registry.create("tokenizer", "nltk")
    reg = registry.lookup("tokenizer", "nltk")
    tokens = [tok(t) for t in texts]
    n_train = int(len(texts) * 0.8)
    vocab = build_vocab(tokens[:n_train], min_count=2)
    ids = [vocab.encode(t)[:max_len] for t in tokens]
    x = pad_fixed(ids, max_len)
    y = np.asarray(labels, dtype=np.int32)
    if architecture is None:
        model = _build(policy, len(vocab), max_len)
        arch_info = {"name": "toy-cnn" if policy == "dynamic" else "toy-cnn-lstm", "config": {"filters": 16},
                     "plugin": "tests.model_factory", "distribution": "toolkit-tests", "version": "0"}
    else:
        arch_obj = registry.create("architecture", architecture, **REAL_OPTIONS.get(architecture, {}))
        arch_reg = registry.lookup("architecture", architecture)
        extra = {}
        if getattr(arch_obj, "needs_token_weights", False):
            from toolkit.training.linear import nb_token_weights

            extra["token_weights"] = nb_token_weights(ids[:n_train], y[:n_train], len(vocab), len(LABELS))
        model = arch_obj.build(len(vocab), 16, None, True, max_len, LABELS, **extra)
        policy, min_len = arch_obj.length_policy, int(getattr(arch_obj, "min_len", 1))
        arch_info = {"name": architecture, "config": arch_obj.config, "plugin": arch_reg.plugin,
                     "distribution": arch_reg.distribution, "version": arch_reg.version}
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:n_train], y[:n_train], epochs=epochs, batch_size=32, verbose=0)
    x_test, y_test = x[n_train:], y[n_train:]
    pred = np.argmax(model.predict(x_test, verbose=0), axis=1)

    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    vocab.to_file(out / "vocab.txt")
    arch = arch_info["name"]
    model_json = {
        "format": "toolkit-model", "format_version": 1,
        "labels": LABELS,
        "tokenizer": {"name": "nltk", "config": tok.config, "plugin": reg.plugin, "distribution": reg.distribution,
                      "version": reg.version},
        "vocab": {"size": len(vocab), "min_count": 2, "max_size": None, "ngrams": 1},
        "length_policy": policy, "max_len": max_len, "min_len": min_len,
        "architecture": arch_info,
        "embedding": {"name": "learned", "config": {"dim": 16}, "plugin": "tests.model_factory",
                      "distribution": "toolkit-tests", "version": "0", "report": {}},
        "data": {"corpus": "synthetic reviews (tests/model_factory.py)", "documents": len(texts),
                 "train": n_train, "test": len(texts) - n_train},
        "command": f"tests/model_factory.py write_trained_model(policy={policy!r}, architecture={architecture!r})",
        "toolkit_version": __version__,
    }
    (out / "model.json").write_text(json.dumps(model_json, indent=2), encoding="utf-8")
    cm = [[int(((y_test == t) & (pred == p)).sum()) for p in range(2)] for t in range(2)]
    metrics = {"accuracy": float((pred == y_test).mean()), "labels": LABELS, "n_test": int(len(y_test)),
               "confusion_matrix": cm, "train_seconds": 0.0, "best_epoch": epochs,
               "history": {k: [float(v) for v in vals] for k, vals in history.history.items()}}
    for i, lab in enumerate(LABELS):
        tp, fp, fn = cm[i][i], sum(cm[t][i] for t in range(2)) - cm[i][i], sum(cm[i]) - cm[i][i]
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        metrics[lab] = {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
                        "support": int(sum(cm[i]))}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    np.savez(out / "test_data.npz", token_ids=x_test.astype(np.int32),
             lengths=np.asarray([len(s) for s in ids[n_train:]], dtype=np.int32), labels=y_test)
    (out / "config.toml").write_text(
        f'[data]\ncorpus = "synthetic"\n\n[architecture]\nname = "{arch}"\n\n[training]\nmax_len = {max_len}\n',
        encoding="utf-8",
    )
    return out


def trained_model_dir(name: str = "cnn") -> Path:
    """A trained-model folder (cached per process); do not modify it.

    ``name``: a registered architecture (``cnn``, ``seed-cnn``, ``cnn-lstm``,
    small options from :data:`REAL_OPTIONS`) or ``toy-dynamic`` / ``toy-fixed``
    (the hand-made models of this file).
    """
    key = ("model", name)
    if key not in _CACHE:
        out = cache_root() / f"model-{name}"
        if name.startswith("toy-"):
            _CACHE[key] = write_trained_model(out, policy=name[4:])
        else:
            _CACHE[key] = write_trained_model(out, architecture=name, epochs=4)
    return _CACHE[key]


def exported_bundle(name: str = "cnn", quantize: str | None = None) -> Path:
    """The bundle of :func:`trained_model_dir` (cached per process); copy it before modifying it."""
    key = ("bundle", name, quantize)
    if key not in _CACHE:
        from toolkit.training.export import export_model

        out = cache_root() / f"bundle-{name}-{quantize or 'fp32'}"
        _CACHE[key] = export_model(trained_model_dir(name), out, quantize=quantize)
    return _CACHE[key]


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def keras_scores(model_dir: Path, id_rows: np.ndarray) -> np.ndarray:
    """Probabilities of the Keras model in ``model_dir`` on an int array."""
    import keras

    model = keras.saving.load_model(str(model_dir / "model.keras"), compile=False)
    return np.asarray(keras.ops.convert_to_numpy(model(id_rows, training=False)))


# ---------------------------------------------------------------------------
# a hand-made ONNX bundle (no TensorFlow)
# ---------------------------------------------------------------------------
TOY_VOCAB = ["<pad>", "<unk>"] + POSITIVE + NEGATIVE + FILLER
#: logit added per padded position: makes the padding width visible in the scores.
WIDTH_LOGIT = np.asarray([0.05, 0.0], dtype=np.float32)


def toy_embedding() -> np.ndarray:
    emb = np.zeros((len(TOY_VOCAB), 2), dtype=np.float32)
    for i, tok in enumerate(TOY_VOCAB):
        if tok in POSITIVE:
            emb[i] = [0.0, 1.0]
        elif tok in NEGATIVE:
            emb[i] = [1.0, 0.0]
        elif tok == "<unk>":
            emb[i] = [0.1, 0.0]
    return emb


def toy_scores(id_rows: np.ndarray) -> np.ndarray:
    """What the toy ONNX model returns for a padded int array: softmax(sum emb + width * WIDTH_LOGIT)."""
    logits = toy_embedding()[id_rows].sum(axis=1) + id_rows.shape[1] * WIDTH_LOGIT
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def toy_onnx_model(policy: str, max_len: int):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    length = "length" if policy == "dynamic" else max_len
    nodes = [
        helper.make_node("Gather", ["emb", "token_ids"], ["vectors"], axis=0),
        helper.make_node("ReduceSum", ["vectors", "axis1"], ["summed"], keepdims=0),
        helper.make_node("Shape", ["token_ids"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["width_i"], axis=0),
        helper.make_node("Cast", ["width_i"], ["width"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["width", "width_logit"], ["width_term"]),
        helper.make_node("Add", ["summed", "width_term"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "toy",
        [helper.make_tensor_value_info("token_ids", TensorProto.INT32, ["batch", length])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            numpy_helper.from_array(toy_embedding(), "emb"),
            numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.asarray(1, dtype=np.int64), "one"),
            numpy_helper.from_array(WIDTH_LOGIT, "width_logit"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def make_onnx_bundle(out: Path, policy: str = "dynamic", max_len: int = 8, min_len: int = 3,
                     tokenizer: dict | None = None, **extra) -> Path:
    """Write a complete bundle (real bundle.json with checksums) around the toy ONNX model."""
    import onnx

    from toolkit import __version__
    from toolkit.core.bundle import finalize_bundle

    out.mkdir(parents=True)
    onnx.save_model(toy_onnx_model(policy, max_len), str(out / "model.onnx"))
    (out / "vocab.txt").write_text("\n".join(TOY_VOCAB) + "\n", encoding="utf-8")
    (out / "README.md").write_text("# toy bundle\n", encoding="utf-8")
    meta = {
        "labels": LABELS,
        "tokenizer": tokenizer or {"name": "nltk", "config": {}, "plugin": "toolkit.serving.tokenizers.nltk_style",
                                   "distribution": "toolkit", "version": __version__},
        "vocab": {"size": len(TOY_VOCAB), "min_count": 1, "max_size": None, "ngrams": 1},
        "length_policy": policy, "max_len": max_len, "min_len": min_len,
        "toolkit_version": __version__,
        **extra,
    }
    finalize_bundle(out, meta)
    return out
