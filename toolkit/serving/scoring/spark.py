"""Spark: a column function built on ``pyspark.ml.functions.predict_batch_udf``, and the ``spark`` engine.

    >>> from toolkit.serving.scoring.spark import sentiment_udf
    >>> score = sentiment_udf("exports/cnn")            # or None: the shipped default model
    >>> df = df.withColumn("sentiment", score("text"))
    >>> df.select("id", "sentiment.label", "sentiment.probabilities")

The struct has ``label`` (string) and ``probabilities`` (array<float>, in the
bundle's label order, see ``labels_of``). ``label`` is the most probable label;
for a multi-label bundle compare each probability with its threshold instead
(the ``spark`` engine's label column does: :func:`score_frame`). The model is
loaded once per Python worker (``make_predict_fn``, cached by Spark); batches arrive as numpy arrays
of texts. The bundle reaches the executors as bytes inside the function
(``ship="bytes"``: no shared storage needed) or by path (``ship="path"``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from toolkit.core.errors import InputError, ScoringError, ToolkitError
from toolkit.serving.scoring.core import bundle_thresholds, engine_failure
from toolkit.core.atomic import remove_path, temp_path
from toolkit.serving.scoring.io import Job, count_rows

DEFAULT_MASTER = "local[2]"


def _make_predict_fn(source: Any, batch_size: int) -> Callable[[], Callable[[Any], dict]]:
    def make_predict_fn() -> Callable[[Any], dict]:
        import numpy as np

        from toolkit.serving.scoring.core import load_runtime

        runtime = load_runtime(source, threads=int(os.environ.get("TOOLKIT_SCORE_THREADS", "1")))
        labels = np.asarray(runtime.labels, dtype=object)

        def predict(texts: Any) -> dict:
            bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
            if bad is not None:
                value = texts[bad]
                kind = "null" if value is None else f"{type(value).__name__} {value!r:.40}"
                raise InputError(f"a text value is {kind}, not text (batch position {bad})")
            probs = runtime.score(list(texts), batch_size=batch_size)
            return {"label": labels[np.argmax(probs, axis=1)].astype(str), "probabilities": probs.astype(np.float32)}

        return predict

    return make_predict_fn


def sentiment_udf(bundle: str | os.PathLike | None = None, *, batch_size: int = 4096, ship: str = "bytes",
                  onnx_batch_size: int = 64) -> Any:
    """A Spark column function: ``text column -> struct<label: string, probabilities: array<float>>``.

    ``batch_size``: rows per numpy batch handed to the model; ``ship``: ``"bytes"``
    (the bundle is packed into the function) or ``"path"`` (every executor must see it).
    """
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

    from toolkit.serving.scoring.core import pack_bundle, resolve_bundle

    path = resolve_bundle(bundle)
    if ship not in ("bytes", "path"):
        raise InputError(f"unknown ship mode {ship!r}; use 'bytes' or 'path'")
    source: Any = pack_bundle(path) if ship == "bytes" else str(path.resolve())
    return_type = StructType([StructField("label", StringType()),
                              StructField("probabilities", ArrayType(FloatType()))])
    return predict_batch_udf(_make_predict_fn(source, onnx_batch_size), return_type=return_type,
                             batch_size=batch_size)


def labels_of(bundle: str | os.PathLike | None = None) -> list[str]:
    """The order of ``probabilities`` in :func:`sentiment_udf`'s struct."""
    from toolkit.serving.scoring.core import bundle_labels, resolve_bundle

    return bundle_labels(resolve_bundle(bundle))


def local_session(master: str = DEFAULT_MASTER, app_name: str = "toolkit score") -> Any:
    """A Spark session; a ``local`` master binds to 127.0.0.1 only, workers run this Python."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(app_name).config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local"):
        builder = (builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
                   .config("spark.sql.shuffle.partitions", "4"))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_frame(spark: Any, job: Job, text_field: str, columns: Sequence[str]) -> Any:
    """The input file as a DataFrame, columns in the file's order (Spark's JSON reader sorts them)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    path = str(job.source.resolve())
    if job.kind == "parquet":
        df = spark.read.parquet(path)
    elif job.kind == "jsonl":
        df = spark.read.option("mode", "FAILFAST").json(path)
    else:
        df = (spark.read.option("header", True).option("inferSchema", True).option("multiLine", True)
              .option("escape", '"').option("mode", "FAILFAST").csv(path))
        if text_field in df.columns:
            df = df.withColumn(text_field, F.col(text_field).cast("string"))
    if text_field not in df.columns:
        raise InputError(f"input file {job.source}: no column {text_field!r} (columns: {', '.join(df.columns)}); "
                         f"use --text-field")
    if not isinstance(df.schema[text_field].dataType, StringType):
        raise InputError(f"input file {job.source}: column {text_field!r} holds "
                         f"{df.schema[text_field].dataType.simpleString()}, not text")
    ordered = [c for c in columns if c in df.columns] + [c for c in df.columns if c not in columns]
    return df.select(*[F.col(f"`{c}`") for c in ordered])


def score_frame(df: Any, udf: Any, text_field: str, labels: Sequence[str], label_column: str = "label",
                thresholds: Sequence[float] | None = None) -> Any:
    """``df`` with the label and ``p_<LABEL>`` columns appended; ``thresholds`` (a multi-label bundle's):
    the label column is an array of the labels whose probability reaches their threshold, in label order."""
    from pyspark.sql import functions as F

    scored = df.withColumn("__toolkit_sentiment", udf(F.col(f"`{text_field}`")))
    prob = F.col("__toolkit_sentiment.probabilities")
    probs = [prob[i].alias(f"p_{label}") for i, label in enumerate(labels)]
    if thresholds is None:
        label = F.col("__toolkit_sentiment.label")
    else:  # compared in float32, as the runtime compares (the probabilities are float32)
        chosen = [F.when(prob[i] >= F.lit(float(t)).cast("float"), F.lit(name))
                  for i, (name, t) in enumerate(zip(labels, thresholds))]
        label = F.filter(F.array(*chosen), lambda item: item.isNotNull())
    return scored.select(*[F.col(f"`{c}`") for c in df.columns], label.alias(label_column), *probs)


def score_spark(jobs: Sequence[Job], bundle: Path, advance: Callable[[int], None], done: Callable[[Job, int], None],
                *, text_field: str, label_column: str, fmt: str, batch_rows: int, master: str, ship: str,
                columns: dict[Path, list[str]], out_dir: Path | None = None) -> None:
    """Score every job; each output is the folder Spark writes (``part-*`` files, in the input's order).
    On a cluster (a master that is not ``local``), the executors must see the inputs and ``out_dir``
    (and the bundle with ``ship="path"``): checked first."""
    from pyspark.sql import SparkSession

    from toolkit.core.shared_storage import check_spark_executors
    from toolkit.serving.scoring.core import cluster_needs

    active = SparkSession.getActiveSession()
    spark = active or local_session(master)
    try:
        if not spark.sparkContext.master.startswith("local"):
            check_spark_executors(spark, cluster_needs(jobs, bundle, ship, out_dir))
        udf = sentiment_udf(bundle, batch_size=batch_rows, ship=ship)  # one function: loaded once per worker
        labels = labels_of(bundle)
        thresholds = bundle_thresholds(bundle)  # a multi-label bundle's: the label column lists labels
        for job in jobs:
            rows = _score_one(spark, udf, job, text_field, label_column, fmt, labels, columns.get(job.source, []),
                              thresholds)
            advance(rows)
            done(job, rows)
    finally:
        if active is None:
            spark.stop()


def _score_one(spark: Any, udf: Any, job: Job, text_field: str, label_column: str, fmt: str,
               labels: Sequence[str], columns: Sequence[str], thresholds: Sequence[float] | None = None) -> int:
    tmp = temp_path(job.out)
    try:
        out = score_frame(read_frame(spark, job, text_field, columns), udf, text_field, labels, label_column,
                          thresholds)
        writer = out.write.mode("overwrite")
        if fmt == "parquet":
            writer.parquet(str(tmp))
        else:
            writer.option("ignoreNullFields", False).json(str(tmp))
        for crc in tmp.glob(".*.crc"):
            crc.unlink()
        rows = count_rows(tmp, fmt)
        if not rows:
            raise ScoringError(f"spark wrote no rows for input file {job.source}; no output was written for it")
        job.out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, job.out)
        return rows
    except ToolkitError as exc:
        if isinstance(exc, InputError) and str(job.source) not in exc.message:
            raise InputError(f"input file {job.source}: {exc.message}") from exc
        raise
    except Exception as exc:
        raise engine_failure(job, "spark", exc) from exc
    finally:
        remove_path(tmp)


__all__ = ["labels_of", "local_session", "score_frame", "sentiment_udf"]
