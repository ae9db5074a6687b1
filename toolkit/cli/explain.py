"""``toolkit explain BUNDLE TEXT``: the words and word pairs that moved the score (occlusion through the model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from toolkit.cli.common import cli_errors


def register(app: typer.Typer) -> None:
    """Add ``explain`` to the main app."""
    app.command("explain")(explain_cmd)


@cli_errors
def explain_cmd(
    bundle: Path = typer.Argument(..., help="A bundle folder written by `toolkit export` (`default`: the shipped model)."),
    text: str = typer.Argument(..., help="The text to explain."),
    top: int = typer.Option(10, "--top", "-k", help="How many terms to show."),
    label: Optional[str] = typer.Option(None, "--label", help="Label to explain (default: the last of two labels)."),
    ngrams: int = typer.Option(2, "--ngrams", help="Longest run of neighbouring words removed together (1: words "
                               "only, about half the cost)."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Also write the explanation as an HTML page here."),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
    threads: Optional[int] = typer.Option(None, "--threads", help="onnxruntime intra-op threads."),
) -> None:
    """Which words and word pairs moved the score, with signed weights (change in log-odds when removed)."""
    from toolkit.core.errors import ToolkitError
    from toolkit.serving.occlusion import explain_texts, render_html
    from toolkit.serving.runtime import Runtime

    if top < 0:
        raise ToolkitError(f"--top must be >= 0, got {top}")
    if str(bundle) == "default":
        from toolkit.serving.component_bundle import default_model_path

        bundle = default_model_path()
    runtime = Runtime.load(bundle, threads=threads)
    explanation = explain_texts(runtime, [text], label=label, top=top, ngrams=ngrams)[0]
    if html_out is not None:
        from toolkit.core.atomic import write_text_atomic

        write_text_atomic(html_out, render_html(explanation, title=f"toolkit explain: {Path(bundle).name}"))
    if as_json:
        typer.echo(json.dumps({k: v for k, v in explanation.to_dict().items() if k != "words"}, indent=2))
    else:
        typer.echo(f"P({explanation.label}) = {explanation.probability:.4f}")
        for term in explanation.terms:
            typer.echo(f"  {term.weight:+8.3f}  {term.text}  [{term.start}:{term.end}] -> {term.label}")
    if html_out is not None:
        typer.echo(f"written: {html_out}")
