"""The ``toolkit`` command line (Typer).

Each command is a thin wrapper over a plain function. Errors the user can cause
become one line on stderr and a non-zero exit code. Heavy libraries
(TensorFlow, gensim, tf2onnx) are imported inside the commands that need them,
so ``toolkit --help`` is instant.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from toolkit.cli.common import cli_errors, parse_options
from toolkit.cli.quiet import import_tensorflow
from toolkit.core.errors import ToolkitError

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


@app.callback()
def _global_options(
    verbose: bool = typer.Option(False, "--verbose", help="Show TensorFlow's start-up and log lines "
                                 "(hidden by default; also TOOLKIT_VERBOSE=1)."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an unexpected error "
                               "(also TOOLKIT_DEBUG=1)."),
) -> None:
    """Options that apply to every command."""
    if debug:
        from toolkit.cli.common import DEBUG_ENV

        os.environ[DEBUG_ENV] = "1"
    if verbose:
        from toolkit.cli.quiet import ENV_VERBOSE

        os.environ[ENV_VERBOSE] = "1"


def _add_embeddings_app() -> None:
    from toolkit.cli.embeddings import app as embeddings_app  # light: gensim loads inside its commands

    app.add_typer(embeddings_app, name="embeddings")


DataOpt = typer.Option(None, "--data", help="Corpus: folder tree, .jsonl or .csv, or a named corpus: polarity, mr, "
                       "multi-domain[:DOMAIN,...] (default: the polarity corpus).")
EncodingOpt = typer.Option("utf-8", "--encoding", help="Text encoding of the corpus files.")
TextFieldOpt = typer.Option("text", "--text-field", help="Text column/field of a CSV or JSONL corpus.")
LabelFieldOpt = typer.Option("label", "--label-field", help="Label column/field of a CSV or JSONL corpus.")


# ---------------------------------------------------------------------------
# plugins
# ---------------------------------------------------------------------------
plugins_app = typer.Typer(help="List installed plugins (no subcommand), or create a new plugin package.")
app.add_typer(plugins_app, name="plugins")


@plugins_app.callback(invoke_without_command=True)
@cli_errors
def plugins_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List installed plugins: name, version and the components each provides."""
    if ctx.invoked_subcommand is not None:
        return
    from toolkit.core import registry

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


@plugins_app.command("new")
@cli_errors
def plugins_new_cmd(
    name: str = typer.Argument(..., help="Distribution name of the new plugin, e.g. toolkit-shout."),
    directory: Path = typer.Option(Path("."), "--dir", help="Folder to create the plugin folder in."),
) -> None:
    """Write a new plugin package (pyproject with the entry point, one hook, a test, a README)."""
    from toolkit.cli.scaffold import new_plugin

    plugin = new_plugin(name, directory)
    typer.echo(plugin.summary())


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
    from toolkit.cli.common import check_output_file
    from toolkit.training.config import check_field

    names = {"vocab.min_count": "--min-count", "vocab.max_size": "--max-size", "vocab.ngrams": "--ngrams",
             "data.encoding": "--encoding", "data.text_field": "--text-field", "data.label_field": "--label-field"}
    for dotted, value in (("vocab.min_count", min_count), ("vocab.max_size", max_size), ("vocab.ngrams", ngrams),
                          ("data.encoding", encoding), ("data.text_field", text_field),
                          ("data.label_field", label_field)):
        check_field(dotted, value, aliases=names)
    if split not in ("train", "all"):
        raise ToolkitError(f"--split must be train or all, got {split!r}")
    check_output_file(out, overwrite)
    from toolkit.training.prepare import vocab_summary

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
    name: str = typer.Argument(..., help="Corpus to fetch: polarity, mr or multi-domain."),
    dest: Optional[Path] = typer.Option(None, "--dest", help="Folder to unpack into (default: data/review_polarity, "
                                        "data/rt-polaritydata or data/multi_domain)."),
    url: Optional[str] = typer.Option(None, "--url", help="Archive URL (default: the public home)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing copy."),
) -> None:
    """Download a public corpus, unpack it and verify it (file counts and a content digest)."""
    from toolkit.training.fetch import FETCHABLE, fetch_corpus

    if name not in FETCHABLE:
        raise ToolkitError(f"unknown corpus {name!r}; available: {', '.join(FETCHABLE)}")
    path, counts = fetch_corpus(name, dest, url, overwrite=overwrite)
    if name == "polarity":
        typer.echo(f"polarity corpus ready at {path} ({counts['files']} files: {counts['pos']} pos, "
                   f"{counts['neg']} neg)")
        typer.echo(f"use it with --data {path} or TOOLKIT_POLARITY_DIR={path}")
        return
    from toolkit.training.datasets.named import CORPORA

    what = f"{counts['snippets']} snippets ({counts['encoding']})" if name == "mr" else f"{counts['reviews']} reviews"
    typer.echo(f"{name} corpus ready at {path} ({what})")
    typer.echo(f"use it with {CORPORA[name].env}={path} and --data {name}")


@data_app.command("info")
@cli_errors
def data_info_cmd(
    data: Optional[Path] = DataOpt,
    encoding: str = EncodingOpt,
    text_field: str = TextFieldOpt,
    label_field: str = LabelFieldOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of lines."),
) -> None:
    """Print the size, labels, document lengths, split, encoding and folder of a corpus."""
    from toolkit.training.config import check_field

    names = {"data.encoding": "--encoding", "data.text_field": "--text-field", "data.label_field": "--label-field"}
    for dotted, value in (("data.encoding", encoding), ("data.text_field", text_field),
                          ("data.label_field", label_field)):
        check_field(dotted, value, aliases=names)
    from toolkit.training.corpus import load_corpus
    from toolkit.training.corpus_info import corpus_info, render_info
    from toolkit.training.datasets.named import load_named

    if data is None:  # the polarity corpus in its default place, described as the named corpus
        corpus = load_named("polarity", label_field=label_field, encoding=encoding)
    else:
        corpus = load_corpus(data, text_field=text_field, label_field=label_field, encoding=encoding)
    info = corpus_info(corpus, encoding=encoding)
    typer.echo(json.dumps(info, indent=2, ensure_ascii=False) if as_json else render_info(info))


# ---------------------------------------------------------------------------
# export / predict
# ---------------------------------------------------------------------------
@app.command("export")
@cli_errors
def export_cmd(
    model_dir: Path = typer.Argument(..., help="A model folder written by `toolkit train`."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Bundle folder (default: exports/<model name>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: dynamic quantization, kept if accuracy holds."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (>= 17)."),
) -> None:
    """Export a trained model to an ONNX bundle (checked against Keras on the test split)."""
    from toolkit.core.atomic import private_tempdir
    from toolkit.training.export.pipeline import default_out

    target = out if out is not None else default_out(model_dir)
    with private_tempdir(target):  # TensorFlow's and onnxruntime's scratch files beside the bundle, swept
        import_tensorflow()
        from toolkit.training.export import export_model, export_summary

        path = export_model(model_dir, out, overwrite=overwrite, quantize=quantize, opset=opset,
                            command="toolkit " + " ".join(sys.argv[1:]))
    typer.echo(export_summary(path))


@app.command("predict")
@cli_errors
def predict_cmd(
    bundle: Path = typer.Argument(..., help="A bundle folder written by `toolkit export`."),
    texts: Optional[List[str]] = typer.Argument(None, help="Texts to score."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Text lines, JSONL or CSV to score."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL output for --file."),
    text_field: str = typer.Option("text", "--text-field", help="Text field of a JSONL/CSV input."),
    batch_size: int = typer.Option(64, "--batch-size", help="Documents per onnxruntime call."),
    threads: Optional[int] = typer.Option(None, "--threads", help="onnxruntime intra-op threads."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the --file input."),
    info: bool = typer.Option(False, "--info", help="Check the whole bundle and print what it is (bundle id, "
                              "labels, tokenizer, vocabulary, files) as JSON; scores nothing."),
) -> None:
    """Score texts with a bundle (onnxruntime; no TensorFlow): one JSON line per text."""
    from toolkit.cli.common import check_encoding_option, check_output_file  # (no toolkit.training import)

    if isinstance(batch_size, int) and batch_size < 1:
        raise ToolkitError(f"--batch-size must be an integer >= 1, got {batch_size}")
    if threads is not None and threads < 1:
        raise ToolkitError(f"--threads must be an integer >= 1 (or left out for onnxruntime's default), got {threads}")
    check_encoding_option(encoding)
    if info:
        if texts or file is not None:
            raise ToolkitError("--info prints what the bundle is and scores nothing; leave out texts and --file")
        from toolkit.serving.predict_io import bundle_report

        typer.echo(json.dumps(bundle_report(bundle, threads=threads), indent=2, ensure_ascii=False))
        return
    if file is not None:
        if out is None:
            raise ToolkitError("--file needs --out (the JSONL file to write)")
        if texts:
            raise ToolkitError("give texts to score or --file, not both")
        check_output_file(out, overwrite)
        from toolkit.serving.predict_io import predict_file

        summary = predict_file(bundle, file, out, text_field=text_field, batch_size=batch_size, threads=threads,
                               overwrite=overwrite, encoding=encoding)
        counts = ", ".join(f"{label} {n}" for label, n in summary["labels"].items())
        typer.echo(f"scored {summary['documents']} documents in {summary['seconds']:.2f}s ({counts}); "
                   f"written: {summary['out']}")
        return
    if not texts:
        raise ToolkitError("give texts to score, or --file")
    from toolkit.serving.runtime import Runtime

    runtime = Runtime.load(bundle, threads=threads)
    for record in runtime.predict(list(texts), batch_size=batch_size):
        typer.echo(json.dumps(record))


_add_embeddings_app()


def _add_command_modules() -> None:
    """Commands kept in their own modules (each light at import; engines load inside the commands)."""
    from toolkit.cli import clean, explain, score, search, serve, train

    for module in (train, search, score, serve, explain, clean):
        module.register(app)


_add_command_modules()


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, a scheduler's timeout) is handled like Ctrl-C: ``KeyboardInterrupt`` unwinds
    the command, so temporary work is removed and no output is left half-written."""
    from toolkit.cli import common

    common.interrupted_by = signum
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    import signal

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _terminate)
    app()


if __name__ == "__main__":
    main()
