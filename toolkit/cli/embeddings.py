"""``toolkit embeddings``: train, inspect and plot word vectors (a Typer sub-app).

The main CLI mounts it with ``app.add_typer(embeddings_app, name="embeddings")``.
gensim and matplotlib are imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from toolkit.cli.common import cli_errors
from toolkit.core.atomic import refuse_existing
from toolkit.core.errors import EmbeddingError, ToolkitError

app = typer.Typer(
    help="Train word2vec vectors on a corpus, and inspect or plot vector files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


FileArg = typer.Argument(..., help="A vector file: GloVe text, word2vec text or word2vec binary (detected).")


@app.command("train")
@cli_errors
def train_cmd(
    data: Optional[Path] = typer.Option(None, "--data", help="Corpus: folder tree, .jsonl or .csv (default: the polarity corpus)."),
    tokenizer: str = typer.Option("nltk", "--tokenizer", "-t", help="Tokenizer name (see `toolkit plugins`)."),
    out: Path = typer.Option(Path("vectors.txt"), "--out", "-o", help="Where to write the vectors (word2vec format)."),
    binary: bool = typer.Option(False, "--binary", help="Write word2vec binary instead of text."),
    dim: int = typer.Option(100, "--dim", help="Vector dimension."),
    window: int = typer.Option(5, "--window", help="Context window (words each side)."),
    min_count: int = typer.Option(1, "--min-count", help="Ignore words seen fewer times than this."),
    epochs: int = typer.Option(30, "--epochs", help="Passes over the corpus."),
    sg: int = typer.Option(0, "--sg", help="0 = CBOW, 1 = skip-gram."),
    workers: int = typer.Option(1, "--workers", help="Worker threads (1 = reproducible)."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    split: str = typer.Option("train", "--split", help="Train on the 'train' split or on 'all' documents."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the corpus files."),
    text_field: str = typer.Option("text", "--text-field", help="Text column/field of a CSV or JSONL corpus."),
    label_field: str = typer.Option("label", "--label-field", help="Label column/field of a CSV or JSONL corpus."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train word2vec vectors on a corpus (its training split) and save them."""
    from toolkit.core import registry
    from toolkit.training.corpus import load_corpus, train_test_split
    from toolkit.training.prepare import tokenize_texts
    from toolkit.training.embeddings.word2vec import Word2VecEmbedding
    from toolkit.training.embeddings.vectors import write_vectors

    if split not in ("train", "all"):
        raise ToolkitError(f"--split must be 'train' or 'all', got {split!r}")
    refuse_existing(out, overwrite)
    provider = Word2VecEmbedding(dim=dim, window=window, min_count=min_count, workers=workers, sg=sg,
                                 epochs=epochs, seed=seed, progress=progress)
    tok = registry.create("tokenizer", tokenizer)
    corpus = load_corpus(data, text_field=text_field, label_field=label_field, encoding=encoding)
    docs = train_test_split(corpus)[0] if split == "train" else corpus
    tokens = tokenize_texts(docs.texts, tok, progress=progress)
    words, vectors = provider.train(tokens)
    write_vectors(out, words, vectors, binary=binary)
    stats = provider.train_stats
    typer.echo(
        f"trained word2vec ({'skip-gram' if sg else 'CBOW'}, dim {dim}, window {window}, {epochs} epochs) on "
        f"{stats['documents']} documents ({stats['tokens']} tokens) of {corpus.name} in {stats['seconds']:.1f}s"
    )
    typer.echo(f"wrote {len(words)} vectors to {out} ({'binary' if binary else 'text'})")


@app.command("info")
@cli_errors
def info_cmd(
    file: Path = FileArg,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the format, number of vectors and dimension of a vector file (and check it)."""
    from toolkit.training.embeddings.vectors import vector_file_info

    info = vector_file_info(file)
    if as_json:
        typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    typer.echo(f"file: {info['path']}")
    typer.echo(f"format: {info['format']}")
    typer.echo(f"vectors: {info['vectors']}")
    typer.echo(f"dimension: {info['dim']}")
    typer.echo(f"mean norm: {info['mean_norm']:.4g}")
    typer.echo(f"first words: {' '.join(info['first_words'])}")


@app.command("similar")
@cli_errors
def similar_cmd(
    file: Path = FileArg,
    word: str = typer.Argument(..., help="The word whose neighbours to list."),
    n: int = typer.Option(10, "--n", "-n", help="How many neighbours."),
) -> None:
    """List the nearest neighbours of WORD by cosine similarity."""
    from toolkit.training.embeddings.neighbours import nearest
    from toolkit.training.embeddings.vectors import read_vectors

    if n < 1:
        raise ToolkitError(f"--n must be at least 1, got {n}")
    words, vectors = read_vectors(file)
    if word not in words:
        lowered = word.lower()
        hint = f"; did you mean {lowered!r}?" if lowered != word and lowered in words else ""
        raise EmbeddingError(f"the word {word!r} is not in {file} ({len(words)} words){hint}")
    for other, sim in nearest(words, vectors, word, n):
        typer.echo(f"{sim:.3f}  {other}")


@app.command("plot")
@cli_errors
def plot_cmd(
    file: Path = FileArg,
    out: Path = typer.Option(Path("embeddings.png"), "--out", "-o", help="PNG to write."),
    n: int = typer.Option(100, "--n", "-n", help="How many words (the first in the file: the most frequent)."),
    title: Optional[str] = typer.Option(None, "--title", help="Plot title."),
) -> None:
    """Plot the N most frequent words on the first two principal components (PNG)."""
    from toolkit.training.embeddings.vectors import read_vectors
    from toolkit.training.plots import plot_vectors

    if n < 2:
        raise ToolkitError(f"--n must be at least 2, got {n}")
    words, vectors = read_vectors(file, limit=n)
    plot_vectors(words, vectors, out, n=n, title=title or f"{Path(file).name}: {min(n, len(words))} most frequent words (PCA)")
    typer.echo(f"wrote {out} ({min(n, len(words))} words)")
