"""`toolkit score`: score review sets of any size (local processes, Ray or Spark).

A thin wrapper over :func:`toolkit.serving.scoring.score_files`; pyarrow, Ray and
PySpark load inside the command, so `toolkit --help` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from toolkit.cli.common import cli_errors


def score_cmd(
    bundle: str = typer.Argument(..., help="Bundle folder written by `toolkit export`, or 'default'."),
    inputs: List[str] = typer.Argument(..., help="JSONL, CSV or Parquet files, folders or glob patterns."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: one output per input, named after it."),
    fmt: str = typer.Option("parquet", "--format", help="Output format: parquet or jsonl."),
    text_field: str = typer.Option("text", "--text-field", help="Column/field holding the text."),
    label_column: str = typer.Option("label", "--label-column", help="Name of the predicted-label column."),
    engine: str = typer.Option("local", "--engine", "-e", help="local, ray or spark."),
    workers: int = typer.Option(1, "--workers", "-w", help="local: worker processes (1 = this process)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="local: onnxruntime threads per process."),
    batch_size: int = typer.Option(4096, "--batch-size", help="Documents per batch handed to a worker/actor."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="ray: actors (default: the CPUs)."),
    address: Optional[str] = typer.Option(None, "--address", help="ray: existing cluster (default: start one)."),
    num_cpus: Optional[int] = typer.Option(None, "--num-cpus", help="ray: CPUs of a local cluster it starts."),
    master: str = typer.Option("local[2]", "--master", help="spark: master URL."),
    ship: str = typer.Option("bytes", "--ship", help="ray/spark: send the bundle as 'bytes' or by 'path'."),
    resume: bool = typer.Option(False, "--resume", help="Skip inputs whose output exists."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a "
                                            "terminal)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Score JSONL/CSV/Parquet files into Parquet or JSONL: input columns + label + p_<LABEL>."""
    from toolkit.serving.scoring import score_files

    summary = score_files(
        bundle, inputs, out, engine=engine, text_field=text_field, fmt=fmt, label_column=label_column,
        batch_rows=batch_size, workers=workers, threads=threads, concurrency=concurrency, address=address,
        num_cpus=num_cpus, master=master, ship=ship, resume=resume, overwrite=overwrite, progress=progress,
    )
    typer.echo(json.dumps(summary.to_dict()) if as_json else summary.render())


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to the main app."""
    app.command("score")(cli_errors(score_cmd))
