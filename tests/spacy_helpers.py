"""Small bundles for the spaCy component tests, and a subprocess runner.

:func:`lexicon_bundle` writes a real bundle (``model.onnx``, ``vocab.txt``,
``bundle.json`` with checksums, ``README.md``) in milliseconds, without
TensorFlow: the ONNX graph is built by hand with the ``onnx`` package. The model
is a bag of words: ``softmax(sum(embedding[ids]) @ W + b)`` with a fixed
embedding where positive words push ``POSITIVE`` and negative words push
``NEGATIVE``; padding (id 0) embeds to zero, so scores do not depend on padding
and an empty document scores ``softmax(b)``. It is a real ONNX model with a
dynamic batch axis, served by the same runtime as an exported Keras model.

The slow end-to-end test builds a bundle the real way (``train_model`` then
``export_model``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from boundary import report_code

POSITIVE_WORDS = ("good", "great", "loved", "love", "beautifully", "brilliant", "best", "wonderful", "tense")
NEGATIVE_WORDS = ("bad", "awful", "boring", "worst", "hated", "dull", "mess", "waste")
NEUTRAL_WORDS = ("film", "movie", "plot", "actor", "minute", "every", "acted", "story")
LABELS = ["NEGATIVE", "POSITIVE"]

NLTK_CONFIG = {"lowercase": True, "stem": False, "stopwords": True, "min_length": 2}
SPACY_CONFIG = {
    "lang": "en", "lowercase": True, "drop_punct": True, "drop_stop": False,
    "drop_numbers": False, "drop_spaces": True,
}


def _onnx_model(vocab_size: int, weights: np.ndarray, bias: np.ndarray, max_len: int, policy: str):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_labels = weights.shape[1]
    emb = np.zeros((vocab_size, n_labels), dtype=np.float32)
    emb[:] = weights
    length = max_len if policy == "fixed" else "length"
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gather", ["embedding", "token_ids"], ["embedded"], axis=0),
            helper.make_node("ReduceSum", ["embedded", "axes"], ["summed"], keepdims=0),
            helper.make_node("Add", ["summed", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        name="lexicon",
        inputs=[helper.make_tensor_value_info("token_ids", TensorProto.INT32, ["batch", length])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_labels])],
        initializer=[
            numpy_helper.from_array(emb, "embedding"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
            numpy_helper.from_array(bias.astype(np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="toolkit-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def lexicon_bundle(
    out: str | os.PathLike,
    *,
    tokenizer: str = "nltk",
    policy: str = "dynamic",
    max_len: int = 64,
    min_len: int = 4,
    bias: tuple[float, float] = (0.2, -0.2),
) -> Path:
    """Write a hand-made bag-of-words bundle to ``out`` and return its path."""
    from toolkit.core.bundle import finalize_bundle

    out = Path(out)
    out.mkdir(parents=True, exist_ok=False)
    tokens = ["<pad>", "<unk>", *POSITIVE_WORDS, *NEGATIVE_WORDS, *NEUTRAL_WORDS]
    (out / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    weights = np.zeros((len(tokens), 2), dtype=np.float32)
    for i, tok in enumerate(tokens):
        if tok in POSITIVE_WORDS:
            weights[i] = (-1.5, 1.5)
        elif tok in NEGATIVE_WORDS:
            weights[i] = (1.5, -1.5)
    weights[1] = (0.01, -0.01)  # unknown words: almost nothing
    model = _onnx_model(len(tokens), weights, np.asarray(bias), max_len, policy)
    (out / "model.onnx").write_bytes(model.SerializeToString())
    (out / "README.md").write_text("# lexicon test bundle\n\nHand-made bag of words for the tests.\n", encoding="utf-8")
    config = NLTK_CONFIG if tokenizer == "nltk" else SPACY_CONFIG
    finalize_bundle(
        out,
        {
            "name": "lexicon",
            "labels": list(LABELS),
            "tokenizer": {"name": tokenizer, "config": dict(config), "distribution": "toolkit"},
            "vocab": {"size": len(tokens), "min_count": 1, "max_size": None, "ngrams": 1},
            "length_policy": policy,
            "max_len": max_len,
            "min_len": min_len,
            "architecture": {"name": "lexicon", "config": {}},
            "embedding": {"name": "fixed", "config": {}},
            "metrics": {},
            "toolkit_version": "0.1.0",
        },
    )
    return out


def run_python(code: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last line.

    The interpreter gets its own process group, so on a timeout it is killed
    together with any worker processes it started (``nlp.pipe(n_process=2)``).
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError(f"subprocess did not finish in {timeout} s (hung?):\n{stdout}\n{stderr[-4000:]}")
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{stdout}\n{stderr[-4000:]}")
    last = stdout.strip().splitlines()[-1]
    return json.loads(last)


#: In a fresh interpreter: ``spacy.load`` each pipeline folder given (all arguments but the last), score the
#: texts of the last argument (a JSON list); prints ``{"cats": [...], **boundary report}``.
SNIPPET_LOAD = report_code() + """
import json, sys
import spacy
texts = json.loads(sys.argv[-1])
cats = []
for path in sys.argv[1:-1]:
    nlp = spacy.load(path)
    cats.extend(doc.cats for doc in nlp.pipe(texts))
print(json.dumps({"cats": cats, **_boundary_report()}))
"""
