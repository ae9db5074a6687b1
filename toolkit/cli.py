"""The ``toolkit`` command line (Typer).

Each command is a thin wrapper over a plain function. Errors the user can cause
become one line on stderr and a non-zero exit code. Heavy libraries
(TensorFlow, gensim, tf2onnx) are imported inside the commands that need them,
so ``toolkit --help`` is instant.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from .errors import ToolkitError

app = typer.Typer(
    name="toolkit",
    help="Train review-sentiment models in Keras and serve them as ONNX from spaCy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
vocab_app = typer.Typer(help="Build and inspect vocabularies.", no_args_is_help=True)
data_app = typer.Typer(help="Get and inspect corpora.", no_args_is_help=True)
app.add_typer(vocab_app, name="vocab")
app.add_typer(data_app, name="data")


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn toolkit errors into one line on stderr and exit code 1; Ctrl-C into 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ToolkitError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted; nothing was left half-written", code=130)
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}")

    return wrapper


def parse_options(pairs: Optional[List[str]], what: str) -> dict[str, Any]:
    """``key=value`` pairs -> dict; values parsed as JSON when they can be (``true``, ``3``)."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ToolkitError(f"{what} option {pair!r} must look like key=value")
        key, raw = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


DataOpt = typer.Option(None, "--data", help="Corpus: folder tree, .jsonl or .csv (default: the polarity corpus).")
EncodingOpt = typer.Option("utf-8", "--encoding", help="Text encoding of the corpus files.")
TextFieldOpt = typer.Option("text", "--text-field", help="Text column/field of a CSV or JSONL corpus.")
LabelFieldOpt = typer.Option("label", "--label-field", help="Label column/field of a CSV or JSONL corpus.")


# ---------------------------------------------------------------------------
# plugins
# ---------------------------------------------------------------------------
@app.command("plugins")
@cli_errors
def plugins_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List installed plugins: name, version and the components each provides."""
    from . import registry

    rows = registry.plugin_info()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("plugin", "distribution", "version", "tokenizers", "embeddings", "architectures")
    for row in rows:
        table.add_row(
            row["plugin"], row["distribution"], row["version"],
            ", ".join(row["tokenizers"]), ", ".join(row["embeddings"]), ", ".join(row["architectures"]),
        )
    Console(width=160).print(table)
    for row in rows:
        if row["error"]:
            typer.echo(f"failed: {row['plugin']}: {row['error']}", err=True)


# ---------------------------------------------------------------------------
# vocab
# ---------------------------------------------------------------------------
@vocab_app.command("build")
@cli_errors
def vocab_build_cmd(
    out: Path = typer.Option(Path("vocab.txt"), "--out", "-o", help="Where to write vocab.txt."),
    data: Optional[Path] = DataOpt,
    tokenizer: str = typer.Option("nltk", "--tokenizer", "-t", help="Tokenizer name (see `toolkit plugins`)."),
    tokenizer_option: Optional[List[str]] = typer.Option(None, "--tokenizer-option", "-T", help="key=value, repeatable."),
    min_count: int = typer.Option(2, "--min-count", help="Keep tokens seen at least this often."),
    max_size: Optional[int] = typer.Option(None, "--max-size", help="Keep at most this many tokens."),
    ngrams: int = typer.Option(1, "--ngrams", help="Add word n-grams up to this n (2 = bigrams)."),
    split: str = typer.Option("train", "--split", help="Build from the 'train' split or 'all' documents."),
    encoding: str = EncodingOpt,
    text_field: str = TextFieldOpt,
    label_field: str = LabelFieldOpt,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Build a vocabulary from a corpus and print its size and coverage."""
    from .prepare import vocab_summary

    summary = vocab_summary(
        data=data, tokenizer=tokenizer, tokenizer_options=parse_options(tokenizer_option, "tokenizer"),
        min_count=min_count, max_size=max_size, ngrams=ngrams, split=split, encoding=encoding,
        text_field=text_field, label_field=label_field, out=out, overwrite=overwrite,
    )
    typer.echo(summary.render())


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
@data_app.command("fetch")
@cli_errors
def data_fetch_cmd(
    name: str = typer.Argument(..., help="Corpus to fetch: polarity."),
    dest: Path = typer.Option(Path("data/review_polarity"), "--dest", help="Folder to unpack into."),
    url: Optional[str] = typer.Option(None, "--url", help="Archive URL (default: the public home)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing copy."),
) -> None:
    """Download a public corpus, unpack it and verify it."""
    if name != "polarity":
        raise ToolkitError(f"unknown corpus {name!r}; available: polarity")
    from .fetch import POLARITY_URL, fetch_polarity, verify_polarity

    path = fetch_polarity(dest, url or POLARITY_URL, overwrite=overwrite)
    counts = verify_polarity(path)
    typer.echo(f"polarity corpus ready at {path} ({counts['files']} files: {counts['pos']} pos, {counts['neg']} neg)")
    typer.echo(f"use it with --data {path} or TOOLKIT_POLARITY_DIR={path}")


@data_app.command("info")
@cli_errors
def data_info_cmd(
    data: Optional[Path] = DataOpt,
    encoding: str = EncodingOpt,
    text_field: str = TextFieldOpt,
    label_field: str = LabelFieldOpt,
) -> None:
    """Print the size, labels and split of a corpus."""
    from .corpus import load_corpus, train_test_split

    corpus = load_corpus(data, text_field=text_field, label_field=label_field, encoding=encoding)
    train, test = train_test_split(corpus)
    typer.echo(f"corpus: {corpus.name}")
    typer.echo(f"documents: {len(corpus)}; labels: {corpus.label_counts()}")
    kind = "predefined folds (test = fold 9)" if corpus.has_folds else "seeded stratified split (10% test)"
    typer.echo(f"split: {kind}: {len(train)} train, {len(test)} test")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
