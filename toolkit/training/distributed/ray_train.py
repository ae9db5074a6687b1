"""Data-parallel training on Ray Train: ``toolkit train --engine ray --workers N [--address ADDR]``.

The driver counts the vocabulary and the naive-Bayes weights in one streaming
pass over the training files (Ray Data, :mod:`toolkit.training.streaming`), then
runs a :class:`ray.train.tensorflow.TensorflowTrainer` with ``N`` workers. Each
worker builds the same model (:func:`toolkit.training.loop.build_model`) inside
a ``tf.distribute.MultiWorkerMirroredStrategy`` scope and trains it with a custom
step: ``strategy.run`` on the worker's batch, gradients all-reduced by the
strategy, loss and accuracy summed with ``strategy.reduce``. (Keras 3's
``model.fit`` fails under this strategy: keras-team/keras#20585.) Each worker
reads its own share of the documents from the files (every N-th document),
never the whole corpus; every worker runs the same number of steps per epoch.

The global batch is ``N x training.batch_size``. As in ``fit`` without a
validation split, the epoch with the lowest training loss is kept. After each
epoch rank 0 writes a Ray Train checkpoint (current and best weights, optimizer
state, history); a worker that dies fails the run with its error, or, with
``max_failures`` > 0, Ray Train restarts the workers and they resume from the
last checkpoint (the data stream restarts at the top of the files). At the end
the driver loads the best weights, evaluates on the test split and writes the
same model folder as ``toolkit train`` (:func:`toolkit.training.model_folder.write_model_folder`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from toolkit.core.errors import TrainingError
from toolkit.training.config import Config
from toolkit.training.distributed import RaySession, failure_summary, import_ray

BEST_WEIGHTS = "best_weights.npz"
STATE_JSON = "state.json"


def _weights_digest(weights: Sequence[np.ndarray]) -> bytes:
    import hashlib

    h = hashlib.sha256()
    for w in weights:
        h.update(np.ascontiguousarray(w).tobytes())
    return h.digest()


def _vm_hwm_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _save_arrays(path: Path, arrays: Sequence[np.ndarray]) -> None:
    np.savez(path, **{f"a{i}": np.asarray(a) for i, a in enumerate(arrays)})


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"a{i}"] for i in range(len(data.files))]


def train_worker(cfg: dict[str, Any]) -> None:
    """The per-worker training function (runs in each Ray Train worker): TensorFlow's scratch files in a
    folder of this worker's own, removed at the end (:mod:`toolkit.training.distributed.scratch`)."""
    from toolkit.training.distributed.scratch import worker_scratch

    with worker_scratch():
        _train_worker(cfg)


def _train_worker(cfg: dict[str, Any]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import ray.train as rt
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # TF_CONFIG is set by Ray Train
    from toolkit.core import registry
    from toolkit.core.vocab import Vocab
    from toolkit.training.loop import _make_optimizer, build_model, embedding_matrix, set_seed
    from toolkit.training.streaming import batch_stream

    ctx = rt.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    config = Config.from_dict(cfg["config"])
    tr = config.training
    set_seed(tr.seed)
    vocab = Vocab(cfg["vocab"], ngrams=config.vocab.ngrams, unknown=config.vocab.unknown)
    labels, max_len, steps = cfg["labels"], cfg["max_len"], cfg["steps_per_epoch"]
    arch = registry.create("architecture", config.architecture.name, **config.architecture.options)
    emb = registry.create("embedding", config.embedding.name, **config.embedding.options)
    policy, min_len = arch.length_policy, int(getattr(arch, "min_len", 1))
    token_weights = np.asarray(cfg["token_weights"], dtype=np.float32) if cfg["token_weights"] is not None else None
    with strategy.scope():
        model = build_model(arch, emb, vocab, labels, max_len, embedding_matrix(config, emb, vocab, None),
                            token_weights)
        optimizer = _make_optimizer(tr.optimizer, tr.learning_rate, tr.lr_schedule, tr.epochs * steps)
        optimizer.build(model.trainable_variables)

    start, history, best = 0, {"loss": [], "accuracy": [], "epoch_seconds": []}, {"loss": None, "epoch": -1}
    resumes: list[int] = []
    best_weights = None
    checkpoint = rt.get_checkpoint()
    if checkpoint is not None:  # resume: weights, optimizer state, history
        with checkpoint.as_directory() as d:
            state = json.loads((Path(d) / STATE_JSON).read_text())
            model.set_weights(_load_arrays(Path(d) / "weights.npz"))
            best_weights = _load_arrays(Path(d) / BEST_WEIGHTS)
            for var, value in zip(optimizer.variables, _load_arrays(Path(d) / "optimizer.npz")):
                var.assign(value)
        start, history, best = state["epoch"] + 1, state["history"], state["best"]
        resumes = state.get("resumes", []) + [start]

    sources = [Path(p) for p in cfg["sources"]]

    def dataset_fn(input_context):
        def gen():
            return batch_stream(sources, config, vocab, labels, rank=input_context.input_pipeline_id,
                                world=input_context.num_input_pipelines, max_len=max_len, policy=policy,
                                min_len=min_len, seed=tr.seed + 1000 * start, test_share=cfg["test_share"])

        spec = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None,), tf.int32))
        return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(2)

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    global_batch = tr.batch_size * world

    def replica_step(x, y):
        import keras

        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(y, probs)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.cast(tf.argmax(probs, axis=1), tf.int32), y), tf.float32))
        return tf.reduce_sum(per_example), correct, tf.cast(tf.size(y), tf.float32)

    @tf.function
    def train_step(it):
        x, y = next(it)
        out = strategy.run(replica_step, args=(x, y))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in out]

    def gather(value):  # eager: under tf.function MWMS's all_gather finds no destinations
        return strategy.run(lambda v: tf.distribute.get_replica_context().all_gather(v, axis=0), args=(value,))

    # Tests only: {"rank": r, "epoch": e, "step": s} -> that worker dies there (in a run not yet restarted).
    fault = cfg.get("fault") if checkpoint is None else None
    for epoch in range(start, tr.epochs):
        t0 = time.perf_counter()
        loss_sum = correct = seen = 0.0
        for step in range(steps):
            if fault and rank == fault["rank"] and epoch == fault["epoch"] and step == fault["step"]:
                os._exit(17)
            l_sum, c, n = train_step(iterator)
            loss_sum, correct, seen = loss_sum + float(l_sum), correct + float(c), seen + float(n)
        seconds = time.perf_counter() - t0
        loss, acc = loss_sum / max(seen, 1.0), correct / max(seen, 1.0)
        history["loss"].append(loss)
        history["accuracy"].append(acc)
        history["epoch_seconds"].append(seconds)
        if best["loss"] is None or loss < best["loss"]:
            best = {"loss": loss, "epoch": epoch}
            best_weights = model.get_weights()
        ckpt, staging = None, tempfile.TemporaryDirectory(prefix="toolkit-ckpt-")
        if rank == 0:
            d = Path(staging.name)
            _save_arrays(d / "weights.npz", model.get_weights())
            _save_arrays(d / BEST_WEIGHTS, best_weights)
            _save_arrays(d / "optimizer.npz", [np.asarray(v.numpy()) for v in optimizer.variables])
            (d / STATE_JSON).write_text(json.dumps({"epoch": epoch, "history": history, "best": best,
                                                  "resumes": resumes}))
            ckpt = rt.Checkpoint.from_directory(str(d))
        metrics = {"epoch": epoch, "loss": loss, "accuracy": acc, "epoch_seconds": seconds, "documents": seen}
        if epoch == tr.epochs - 1:  # every worker's weights and peak memory, gathered across the workers
            digest = np.frombuffer(_weights_digest(model.get_weights()), dtype=np.int32)
            got = gather(tf.constant(digest[None]))
            hashes = strategy.experimental_local_results(got)[0].numpy()
            hwm = strategy.experimental_local_results(gather(tf.constant([[_vm_hwm_mib()]])))[0].numpy()
            metrics["weight_hashes"] = [row.astype(np.int32).tobytes().hex() for row in hashes]
            metrics["worker_peak_mib"] = [float(v) for v in hwm.ravel()]
        with staging:  # the staged files are removed once Ray Train has persisted them
            rt.report(metrics, checkpoint=ckpt)


def _max_len(config: Config, arch: Any, longest: int) -> int:
    from toolkit.training.loop import resolve_max_len

    chunk = int(arch.config.get("chunk_len", 1) or 1)
    return resolve_max_len(config, [range(longest)], int(getattr(arch, "min_len", 1)), chunk)


def _prepare_sources(config: Config, test_data: Any, tmp: Path):
    """(training files, test share to apply to them, test documents or None)."""
    from toolkit.training.streaming import iter_split, is_streamable, resolve_sources

    d = config.data
    if test_data is not None:
        test = list(iter_split(resolve_sources(test_data), d, "train", test_share=0.0))
        return resolve_sources(d.path), 0.0, test
    if is_streamable(d.path):
        return resolve_sources(d.path), None, None
    # A folder tree (the polarity corpus): small enough to split in memory as `toolkit train` does.
    from toolkit.training.experiment import load_training_corpus, split_corpus

    train, test = split_corpus(config, load_training_corpus(config))
    path = tmp / "train.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for doc in train:
            fh.write(json.dumps({d.text_field: doc.text, d.label_field: doc.label}) + "\n")
    return [path], 0.0, [(doc.text, doc.label) for doc in test]


def cluster_needs(sources: Sequence[Path], storage: Path, scratch: Path) -> list[Any]:
    """What every node of a cluster must see: the training files (read by the workers, and counted by Ray
    Data on any node) and the checkpoint folder (written by rank 0, read back by the driver)."""
    from toolkit.core.shared_storage import Need

    split_here = "; it is the training split of a folder corpus, written beside --out: put --out there too"
    needs = [Need("training file", str(Path(p).resolve()),
                  hint=split_here if Path(p).resolve().is_relative_to(scratch.resolve()) else "") for p in sources]
    needs.append(Need("checkpoint folder", str(storage.resolve()), write=True,
                      hint="pass --storage DIR on shared storage (default: beside --out)"))
    return needs


def _fit_with_timeout(trainer: Any, timeout: float | None):
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = trainer.fit()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="ray-train-fit", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TrainingError(f"data-parallel training did not finish within {timeout:.0f} s (--timeout); the Ray "
                            f"workers were stopped; the last checkpoint is kept for a rerun")
    if "error" in box:
        raise box["error"]
    return box["result"]


def train_distributed(config: Config, out_dir: str | os.PathLike, *, workers: int = 2, address: str | None = None,
                      overwrite: bool = False, progress: bool = True, max_failures: int = 0,
                      storage: str | os.PathLike | None = None, timeout: float | None = None,
                      test_data: Any = None, command: str | None = None,
                      on_epoch: Callable[[dict], None] | None = None, fault: dict | None = None) -> dict[str, Any]:
    """Train with ``workers`` data-parallel Ray Train workers; write the model folder; return the test metrics."""
    from toolkit.core.atomic import make_temp_dir, temp_path
    from toolkit.training.experiment import check_output_folder

    out_dir = Path(out_dir)
    check_output_folder(out_dir, overwrite)  # before Ray starts, not after training
    if config.training.validation_share > 0:
        raise TrainingError("--engine ray trains without a validation split (it keeps the epoch with the lowest "
                            "training loss); set training.validation_share = 0")
    if config.data.dev_path:
        raise TrainingError("--engine ray trains without a validation set (it keeps the epoch with the lowest "
                            "training loss); drop --dev-data (data.dev_path)")
    if test_data is None:
        test_data = config.data.test_path
    import_ray()
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from toolkit.core import registry
    from toolkit.core.shared_storage import check_ray_nodes
    from toolkit.training.distributed.ray_data import count_vocab_ray
    from toolkit.training.distributed.scratch import sweep_nodes

    t0 = time.perf_counter()
    arch = registry.create("architecture", config.architecture.name, **config.architecture.options)
    # Scratch files and Ray Train's checkpoints beside the output, named as all temporary work is
    # (.<name>.toolkit-tmp-<pid>-<host>-XXXX): removed at the end, swept by `toolkit clean` if killed.
    tmp = make_temp_dir(out_dir) if out_dir.parent.is_dir() else Path(tempfile.mkdtemp(prefix="toolkit-ray-"))
    storage_path = Path(storage) if storage else temp_path(out_dir)
    run_name = f"train-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        sources, test_share, test_docs = _prepare_sources(config, test_data, tmp)
        with RaySession(address, workers):
            if address is not None:  # a cluster: every node reads the sources and writes checkpoints itself
                storage_path.mkdir(parents=True, exist_ok=True)
                check_ray_nodes(cluster_needs(sources, storage_path, tmp))
            stats = count_vocab_ray(config, sources, test_share=test_share)
            if len(stats.vocab) <= 2:
                raise TrainingError(f"the vocabulary is empty after cleaning (min_count={config.vocab.min_count}); "
                                    f"lower vocab.min_count or check the corpus and tokenizer")
            max_len = _max_len(config, arch, stats.longest)
            steps = max(1, math.ceil(stats.documents / (workers * config.training.batch_size)))
            count_seconds = time.perf_counter() - t0
            if progress:
                print(f"vocabulary: {len(stats.vocab)} entries from {stats.documents} training documents "
                      f"({stats.passes} pass(es), {count_seconds:.1f}s); {workers} workers x {steps} steps per epoch",
                      flush=True)
            cfg = {"config": config.to_dict(), "vocab": stats.vocab.tokens, "labels": stats.labels,
                   "token_weights": stats.nb_weights().tolist() if getattr(arch, "needs_token_weights", False)
                   else None, "max_len": max_len, "steps_per_epoch": steps,
                   "sources": [str(p.resolve()) for p in sources], "test_share": test_share, "fault": fault}
            from ray.train.tensorflow import TensorflowTrainer

            trainer = TensorflowTrainer(
                train_worker, train_loop_config=cfg,
                scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": 1}),
                run_config=RunConfig(name=run_name, storage_path=str(storage_path.resolve()),
                                     failure_config=FailureConfig(max_failures=max_failures)),
            )
            try:
                result = _fit_with_timeout(trainer, timeout)
            except TrainingError:
                raise
            except Exception as exc:
                raise TrainingError(f"data-parallel training failed: {failure_summary(exc)}") from exc
            finally:
                sweep_nodes()  # the scratch folders of workers Ray killed (a failure, a timeout)
            if getattr(result, "error", None) is not None:
                raise TrainingError(f"data-parallel training failed: {failure_summary(result.error)}")
            if result.checkpoint is None:
                raise TrainingError("data-parallel training ended without a checkpoint (no epoch finished)")
            with result.checkpoint.as_directory() as d:
                state = json.loads((Path(d) / STATE_JSON).read_text())
                best_weights = _load_arrays(Path(d) / BEST_WEIGHTS)
            final = result.metrics or {}
        train_seconds = time.perf_counter() - t0
        metrics = _finish(config, out_dir, stats, arch, max_len, best_weights, state, final, sources, test_share,
                          test_docs, workers=workers, train_seconds=train_seconds, overwrite=overwrite,
                          command=command)
        return metrics
    finally:  # checkpoints serve restarts within the run; nothing is left behind, whatever the outcome
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(storage_path / run_name, ignore_errors=True)
        if storage_path.is_dir() and not any(storage_path.iterdir()):
            storage_path.rmdir()


def _finish(config, out_dir, stats, arch, max_len, best_weights, state, final, sources, test_share, test_docs, *,
            workers, train_seconds, overwrite, command) -> dict[str, Any]:
    """Evaluate the best weights on the test split and write the model folder."""
    from toolkit.core import registry
    from toolkit.training.loop import FitResult, Prepared, build_model, predict_ids
    from toolkit.training.metrics import classification_metrics
    from toolkit.training.model_folder import write_model_folder
    from toolkit.training.streaming import iter_split
    from toolkit.training.experiment import model_meta, plot_history

    emb = registry.create("embedding", config.embedding.name, **config.embedding.options)
    tw = stats.nb_weights() if getattr(arch, "needs_token_weights", False) else None
    model = build_model(arch, emb, stats.vocab, stats.labels, max_len, None, tw)
    model.set_weights(best_weights)
    if test_docs is None:
        test_docs = list(iter_split(sources, config.data, "test"))
    if not test_docs:
        raise TrainingError("the test split is empty; raise data.test_share or pass test files")
    tok = registry.create("tokenizer", config.tokenizer.name, **config.tokenizer.options)
    index = {label: i for i, label in enumerate(stats.labels)}
    unknown = sorted({label for _, label in test_docs} - set(index))
    if unknown:
        raise TrainingError(f"test labels {unknown} were not seen in training (labels: {stats.labels})")
    ids = stats.vocab.encode_many(tok(text) for text, _ in test_docs)
    y_true = np.array([index[label] for _, label in test_docs], dtype=np.int32)
    probs = predict_ids(model, ids, max_len, arch.length_policy, int(getattr(arch, "min_len", 1)))
    metrics = classification_metrics(y_true, probs.argmax(axis=1), stats.labels)
    history = {k: [float(x) for x in v] for k, v in state["history"].items() if k != "epoch_seconds"}
    metrics.update({
        "train_seconds": round(train_seconds, 2), "best_epoch": state["best"]["epoch"] + 1,
        "epochs_run": len(history["loss"]), "n_train": stats.documents, "history": history,
        "split": "test files" if test_share == 0.0 and test_docs is not None else
                 f"hash of the text, {config.data.test_share:.0%}",
        "engine": "ray", "workers": workers, "epoch_seconds": state["history"].get("epoch_seconds", []),
        "vocab_passes": stats.passes, "resumed_at_epochs": [e + 1 for e in state.get("resumes", [])],
        "weight_hashes": final.get("weight_hashes"),
        "worker_peak_mib": final.get("worker_peak_mib"),
        "calibration": {"method": "none", "note": "not fitted on the data-parallel path"},
    })
    prep = Prepared(tok, stats.vocab, stats.labels, [], np.zeros(0, dtype=np.int32), max_len)
    result = FitResult(model, arch, emb, prep, history, state["best"]["epoch"], train_seconds, max_len)
    meta = model_meta(config, result)
    meta["training_engine"] = {"engine": "ray", "workers": workers}
    if command:
        meta["command"] = command
    write_model_folder(out_dir, model=model, vocab=stats.vocab, config_toml=config.to_toml(), meta=meta,
                       metrics=metrics, test_ids=ids, test_labels=y_true, max_len=max_len, overwrite=overwrite,
                       extras=lambda tmp: plot_history(history, tmp / "training_curve.png",
                                                       title=f"{config.architecture.name} on {workers} Ray workers: "
                                                             f"test accuracy {metrics['accuracy']:.3f}"))
    return metrics
