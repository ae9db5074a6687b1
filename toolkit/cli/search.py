"""``toolkit search SPACE.toml``: a grid or random hyperparameter search on Ray Tune
(thin command over :func:`toolkit.training.distributed.tune.run_search`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from toolkit.cli.common import cli_errors


def register(app: typer.Typer) -> None:
    """Add ``search`` to the main app."""
    app.command("search")(search_cmd)


@cli_errors
def search_cmd(
    space: Path = typer.Argument(..., help="Search space (TOML): a 'search' table and a 'space' table of config "
                                 "fields -> values (see docs/training-at-scale.md)."),
    out: Path = typer.Option(Path("runs/search"), "--out", "-o", help="Folder for results.csv/.json and "
                             "best_config.toml."),
    config_file: Optional[Path] = typer.Option(None, "--config", "-c", help="Base training config (TOML or JSON)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Corpus (default: the polarity corpus)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Any base config field: section.field=value."),
    engine: str = typer.Option("ray", "--engine", help="ray (trials in parallel on Ray Tune) or local (one after "
                               "another, no Ray)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster HOST:PORT (default: start a local "
                                          "Ray)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="Trials at once (default: one per CPU)."),
    resume: bool = typer.Option(False, "--resume", help="Skip the trials already in OUT/results.json."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace earlier results in OUT."),
) -> None:
    """Search config fields (grid or random) with k-fold or validation-split accuracy as the objective."""
    from toolkit.cli.train import build_config
    from toolkit.core.errors import ConfigError
    from toolkit.training.config import parse_set_options
    from toolkit.training.distributed.tune import run_search

    if engine not in ("ray", "local"):
        raise ConfigError(f"--engine must be 'ray' or 'local', got {engine!r}")
    overrides = parse_set_options(set_)
    if data is not None:
        overrides["data.path"] = str(data)
    config = build_config(config_file, overrides)
    result = run_search(space, out, config, resume=resume, overwrite=overwrite, engine=engine, address=address,
                        concurrency=concurrency, log=typer.echo)
    metric = next(k for k in result["best"] if k.startswith("mean_"))
    typer.echo(f"best setting: {result['best']['params']} ({metric} {result['best'][metric]:.4f})")
    typer.echo(f"written: {out / 'results.csv'}, {out / 'results.json'}, {out / 'best_config.toml'}")
