"""Some folds of a cross-validation in their own process, one TensorFlow thread.

    python -m benchmarks.cv_worker CONFIG_NAME FOLDS WORKER WORKERS

Trains and evaluates the folds ``i`` with ``i % WORKERS == WORKER`` (of the
``FOLDS`` predefined polarity folds) and prints one JSON line per fold. The
benchmark runs two workers side by side: the default ``cnn`` is small enough
that one training process keeps only part of two cores busy, so two
single-threaded processes finish the ten folds sooner than one process with
two threads. Fold accuracies do not depend on the thread count beyond float
rounding.
"""

from __future__ import annotations

import gc
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("folds", type=int)
    parser.add_argument("worker", type=int)
    parser.add_argument("workers", type=int)
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from toolkit.training.corpus import k_folds
    from toolkit.training.loop import fit
    from toolkit.training.train import evaluate_fit

    from .accuracy import config_for, load_corpus

    for i, (train, test) in enumerate(k_folds(load_corpus(), args.folds)):
        if i % args.workers != args.worker:
            continue
        result = fit(config_for(args.name), train, progress=False)
        metrics = evaluate_fit(result, test)
        print(json.dumps({"fold": i, "accuracy": metrics["accuracy"], "train_seconds": result.train_seconds}),
              flush=True)
        del result
        gc.collect()


if __name__ == "__main__":
    main(sys.argv[1:])
