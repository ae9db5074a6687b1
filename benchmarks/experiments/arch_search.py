"""Architecture search on the polarity corpus, standard split (train cv0-8, test cv9).

Runs the real training path (``toolkit.training.loop.fit`` + ``evaluate_fit``: 10%
stratified validation, best epoch by validation accuracy, early stopping) for
one architecture configuration and one or more seeds, and appends one JSON line
per run to ``benchmarks/experiments/results.jsonl``. Tokenized texts are cached
under ``/tmp/toolkit_exp`` so repeated runs skip tokenization.

Examples::

    python -m benchmarks.experiments.arch_search --arch seed-cnn --preset
    python -m benchmarks.experiments.arch_search --arch cnn --seeds 0 1 2
    python -m benchmarks.experiments.arch_search --arch cnn \
        --opt kernel_sizes='[1,3]' --set vocab.ngrams=1 --tag unigrams

``--preset`` applies the architecture's ``recommended`` settings first; the
``--set`` overrides (dotted config fields) come after it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.jsonl"
CACHE = Path(os.environ.get("TOOLKIT_EXP_CACHE", "/tmp/toolkit_exp"))


def _install_token_cache() -> None:
    """Memoise ``tokenize_texts`` on disk, keyed by tokenizer config and texts."""
    from toolkit.training import evaluation as eval_mod
    from toolkit.training import loop as loop_mod
    from toolkit.training import experiment as train_mod

    original = train_mod.tokenize_texts

    def cached(texts, tokenizer, progress=False, description="tokenizing"):
        key = json.dumps([type(tokenizer).__name__, getattr(tokenizer, "config", None)], sort_keys=True)
        h = hashlib.sha1(key.encode())
        for t in texts:
            h.update(t.encode("utf-8", "replace"))
        path = CACHE / f"tokens-{h.hexdigest()[:16]}.pkl"
        if path.exists():
            return pickle.loads(path.read_bytes())
        out = original(texts, tokenizer, progress=False)
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(out))
        return out

    train_mod.tokenize_texts = cached
    eval_mod.tokenize_texts = cached
    loop_mod.tokenize_texts = cached


class _StandInLearned:
    """Used only while toolkit.training.embeddings.learned is not there yet: random init, learned."""

    def __init__(self, dim: int = 100, trainable: bool = True):
        self.dim, self.trainable = dim, trainable

    @property
    def config(self):
        return {"dim": self.dim, "trainable": self.trainable}

    def matrix(self, vocab, corpus):
        return None


class _StandInPlugin:
    from toolkit.core.hookspecs import hookimpl

    @hookimpl
    def register_embeddings(self, register):
        register("learned", _StandInLearned)


def _ensure_learned_embedding() -> None:
    from toolkit.core import registry

    if "learned" not in registry.get_components("embedding"):
        registry.register_plugin(_StandInPlugin(), "experiments-stand-in")
        print("note: toolkit.training.embeddings.learned is missing; using a stand-in (random init, trainable)")


def _parse_pairs(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs or []:
        key, raw = pair.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--opt", nargs="*", default=[], help="architecture option=JSON value")
    ap.add_argument("--set", nargs="*", default=[], dest="sets", help="config field=JSON value (dotted)")
    ap.add_argument("--preset", action="store_true", help="apply the architecture's recommended settings")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--folds", nargs="*", type=int, default=None,
                    help="cross-validation folds to run (0-9, train on the other nine) instead of the standard split")
    ap.add_argument("--tag", default="")
    ap.add_argument("--onnx", action="store_true", help="also convert each model to ONNX and compare")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--trace", action="store_true",
                    help="also record test accuracy after every epoch (analysis only; selection stays on validation)")
    args = ap.parse_args(argv)

    from toolkit.core import registry
    from toolkit.training.config import Config, preset_overrides
    from toolkit.training.corpus import k_folds, load_polarity, train_test_split
    from toolkit.training.loop import fit
    from toolkit.training.evaluation import evaluate_fit

    _install_token_cache()
    _ensure_learned_embedding()
    corpus = load_polarity()
    if args.folds is None:
        splits = [(None, *train_test_split(corpus))]
    else:
        every = k_folds(corpus, 10)
        splits = [(i, *every[i]) for i in args.folds]
    arch_opts = _parse_pairs(args.opt)
    arch = registry.create("architecture", args.arch, **arch_opts)
    overrides = {"architecture.name": args.arch, "architecture.options": arch.config}
    if args.preset and getattr(arch, "recommended", None):
        overrides.update(preset_overrides(arch.recommended))
    overrides.update(_parse_pairs(args.sets))
    accs = []
    for (fold, train, test), seed in ((s, seed) for s in splits for seed in args.seeds):
        config = Config().with_overrides({**overrides, "training.seed": seed})
        t0 = time.perf_counter()
        on_epoch, trace = (_tracer(config, test) if args.trace else (None, None))
        result = fit(config, train, progress=False, on_epoch=on_epoch)
        metrics = evaluate_fit(result, test).metrics
        row = {
            "tag": args.tag, "arch": args.arch, "options": arch.config, "seed": seed,
            **({} if fold is None else {"fold": fold}),
            "accuracy": round(metrics["accuracy"], 4),
            "best_epoch": result.best_epoch + 1, "epochs_run": len(result.history.get("loss", [])),
            "val_accuracy": [round(v, 4) for v in result.history.get("val_accuracy", [])],
            "train_seconds": round(result.train_seconds, 1), "wall_seconds": round(time.perf_counter() - t0, 1),
            "vocab_size": len(result.prepared.vocab), "max_len": result.max_len,
            "params": int(result.model.count_params()),
            "config": {k: v for k, v in config.to_dict().items() if k in ("tokenizer", "vocab", "embedding",
                                                                           "training")},
        }
        if trace is not None:
            row["test_accuracy_by_epoch"] = trace
        if args.onnx:
            row["onnx_max_abs_diff"] = _onnx_check(result, test)
        accs.append(row["accuracy"])
        print(json.dumps({k: row[k] for k in row if k != "config"}), flush=True)
        if not args.no_record:
            with RESULTS.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
    if len(accs) > 1:
        import statistics

        over = f"seeds {args.seeds}" + ("" if args.folds is None else f", folds {args.folds}")
        print(f"{args.arch} {args.tag}: mean {statistics.mean(accs):.4f} +- {statistics.stdev(accs):.4f} "
              f"over {over}", flush=True)
    return 0


def _tracer(config, test):
    """An ``on_epoch`` callback recording test accuracy per epoch (captures the model and vocabulary)."""
    import numpy as np

    from toolkit.core import registry
    from toolkit.training import experiment as train_mod

    from toolkit.training import loop as loop_mod

    seen: dict = {}
    trace: list[float] = []
    build_vocab = loop_mod.build_vocab

    def capture_vocab(*a, **k):
        seen["vocab"] = build_vocab(*a, **k)
        return seen["vocab"]

    loop_mod.build_vocab = capture_vocab  # restored below after the first call
    arch_cls = type(registry.create("architecture", config.architecture.name, **config.architecture.options))
    build_model = arch_cls.build

    def capture_model(self, *a, **k):
        seen["model"] = build_model(self, *a, **k)
        seen["arch"] = self
        seen["max_len"] = k.get("max_len")
        arch_cls.build = build_model
        loop_mod.build_vocab = build_vocab
        return seen["model"]

    arch_cls.build = capture_model

    def on_epoch(epoch, logs):
        if "ids" not in seen:
            tok = registry.create("tokenizer", config.tokenizer.name, **config.tokenizer.options)
            seen["ids"] = seen["vocab"].encode_many(train_mod.tokenize_texts(test.texts, tok))
            seen["y"] = np.asarray(test.label_ids)
        arch = seen["arch"]
        probs = train_mod.predict_ids(seen["model"], seen["ids"], seen["max_len"], arch.length_policy,
                                      int(arch.min_len))
        trace.append(round(float((probs.argmax(1) == seen["y"]).mean()), 4))

    return on_epoch, trace


def _onnx_check(result, test) -> float:
    """Convert the trained model with tf2onnx and compare probabilities on the test split."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    from toolkit.training.prepare import tokenize_texts
    from toolkit.core.batching import pad

    prep = result.prepared
    ids = prep.vocab.encode_many(tokenize_texts(test.texts, prep.tokenizer))
    x = pad(ids, result.max_len, "fixed")
    fixed = result.architecture.length_policy == "fixed"
    spec = [tf.TensorSpec([None, result.max_len if fixed else None], tf.int32, name="token_ids")]
    proto, _ = tf2onnx.convert.from_keras(result.model, input_signature=spec, opset=17)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    diffs = []
    for i in range(0, len(x), 50):
        a = np.asarray(result.model(x[i:i + 50], training=False))
        b = sess.run(["probabilities"], {"token_ids": x[i:i + 50]})[0]
        diffs.append(float(np.abs(a - b).max()))
    return max(diffs)


if __name__ == "__main__":
    sys.exit(main())
