"""One training run in its own process (clean memory figures, no state shared between runs).

    python -m benchmarks.one_run CONFIG_NAME SEED OUT_DIR [--set field=value ...]

Prints one JSON line: the test metrics, train time and the peak memory of the process.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str]) -> None:
    import argparse

    from toolkit.training.config import parse_set_options
    from toolkit.training.experiment import train_model

    from .accuracy import config_for
    from .common import peak_rss_mib

    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("seed", type=int)
    parser.add_argument("out")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args(argv)
    config = config_for(args.name).with_overrides({"training.seed": args.seed, **parse_set_options(args.set)})
    metrics = train_model(config, args.out, overwrite=True, progress=False)
    meta = json.loads(open(os.path.join(args.out, "model.json")).read())
    print(json.dumps({
        "name": args.name, "seed": args.seed, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
        "train_seconds": metrics["train_seconds"], "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["epochs_run"], "vocab_size": meta["vocab"]["size"], "max_len": meta["max_len"],
        "peak_rss_mib": peak_rss_mib(), "out": args.out,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
