"""Corpora: polarity folds, label-per-folder, CSV/JSONL, splits, and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.training.corpus import (Corpus, Document, k_folds, load_corpus, load_csv, load_folders, load_jsonl,
                            load_polarity, require_labels, stratified_folds, stratified_holdout,
                            train_test_split)
from toolkit.core.errors import CorpusEncodingError, CorpusError


def test_polarity_standard_split_and_folds(polarity_path):
    corpus = load_polarity(polarity_path)
    assert len(corpus) == 2000
    assert corpus.labels == ["NEGATIVE", "POSITIVE"]
    assert corpus.label_counts() == {"NEGATIVE": 1000, "POSITIVE": 1000}
    train, test = train_test_split(corpus)
    assert len(train) == 1800 and len(test) == 200
    assert all(d.source.split("/")[1].startswith("cv9") for d in test)
    assert not any(d.source.split("/")[1].startswith("cv9") for d in train)
    folds = k_folds(corpus, 10)
    assert [len(t) for _, t in folds] == [200] * 10
    assert {d.source for _, t in folds for d in t} == {d.source for d in corpus}


def test_polarity_root_or_txt_sentoken_both_accepted(polarity_path):
    assert len(load_polarity(polarity_path.parent)) == 2000


def _tree(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return tmp_path


def test_label_per_folder_tree_gets_stratified_seeded_split(tmp_path):
    files = {f"happy/{i}.txt": f"great day {i}" for i in range(20)}
    files.update({f"sad/{i}.txt": f"awful day {i}" for i in range(10)})
    corpus = load_folders(_tree(tmp_path, files))
    assert corpus.labels == ["happy", "sad"] and not corpus.has_folds
    train, test = train_test_split(corpus, test_share=0.2, seed=1)
    assert sorted(d.label for d in test) == ["happy"] * 4 + ["sad"] * 2
    again, _ = train_test_split(corpus, test_share=0.2, seed=1)
    assert [d.source for d in again] == [d.source for d in train]
    other, _ = train_test_split(corpus, test_share=0.2, seed=2)
    assert [d.source for d in other] != [d.source for d in train]
    folds = k_folds(corpus, 5, seed=0)
    assert sorted(len(t) for _, t in folds) == [6] * 5


def test_one_stratified_splitter_behind_test_split_folds_and_validation():
    labels = [0] * 7 + [1] * 5 + [2]
    folds = stratified_folds(labels, 3, seed=4)
    for label in (0, 1):
        per_fold = [sum(1 for f, y in zip(folds, labels) if f == k and y == label) for k in range(3)]
        assert max(per_fold) - min(per_fold) <= 1
    assert (stratified_folds(labels, 3, seed=4) == folds).all()
    assert any((stratified_folds(labels, 3, seed=s) != folds).any() for s in range(5, 10))
    kept, held = stratified_holdout(labels, 0.3, seed=4)
    assert sorted(kept.tolist() + held.tolist()) == list(range(len(labels))) and list(held) == sorted(held)
    assert [labels[i] for i in held].count(0) == 2 and [labels[i] for i in held].count(1) == 2
    assert 12 not in held  # a label with one document keeps it
    pairs = [0, 0, 1, 1]
    assert len(stratified_holdout(pairs, 0.9, seed=0)[1]) == 2  # one of each label stays
    assert len(stratified_holdout(pairs, 0.9, seed=0, keep_one_per_label=False)[1]) == 4
    docs = [Document(f"text {i}", "ab"[y] if y < 2 else "c", f"d{i}") for i, y in enumerate(labels)]
    corpus = Corpus(docs)
    _, test = train_test_split(corpus, test_share=0.3, seed=4)
    assert [d.source for d in test] == [docs[i].source for i in held]
    assert [d.source for d in k_folds(corpus, 3, seed=4)[1][1]] == [docs[i].source for i in range(13) if folds[i] == 1]


def test_jsonl_and_csv(tmp_path):
    jl = tmp_path / "r.jsonl"
    jl.write_text(json.dumps({"review": "fine", "stars": "pos"}) + "\n\n" + json.dumps({"review": "", "stars": "neg"}) + "\n")
    corpus = load_jsonl(jl, text_field="review", label_field="stars")
    assert [(d.text, d.label) for d in corpus] == [("fine", "pos"), ("", "neg")]  # empty document allowed
    csv = tmp_path / "r.csv"
    csv.write_text('text,label\n"good, really",pos\nbad,neg\n')
    assert [(d.text, d.label, d.source) for d in load_corpus(csv)] == [
        ("good, really", "pos", "r.csv:2"), ("bad", "neg", "r.csv:3")]


def test_csv_without_named_column_names_the_columns(tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text("body,label\nx,pos\n")
    with pytest.raises(CorpusError, match=r"r\.csv.*no column 'text'.*'body', 'label'"):
        load_csv(csv)


def test_jsonl_bad_line_is_named(tmp_path):
    jl = tmp_path / "r.jsonl"
    jl.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(CorpusError, match=r"r\.jsonl, line 2: no field 'label'"):
        load_jsonl(jl)
    jl.write_text('{"text": "a", "label": "x"}\nnot json\n')
    with pytest.raises(CorpusError, match="line 2: not valid JSON"):
        load_jsonl(jl)


def test_non_utf8_file_is_named_and_encoding_option_offered(tmp_path):
    root = _tree(tmp_path / "c", {"pos/a.txt": "nice", "neg/b.txt": "caf\xe9 awful".encode("latin-1")})
    with pytest.raises(CorpusEncodingError) as err:
        load_folders(root)
    assert "b.txt" in str(err.value) and "--encoding" in str(err.value)
    corpus = load_folders(root, encoding="latin-1")
    assert "café awful" in corpus.texts


def test_missing_and_empty_corpus_folders(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no label sub-folders"):
        load_corpus(tmp_path / "empty")
    (tmp_path / "empty" / "pos").mkdir()
    with pytest.raises(CorpusError, match="no .txt files"):
        load_corpus(tmp_path / "empty")


def test_single_label_corpus_is_refused():
    corpus = Corpus([Document("a", "pos"), Document("b", "pos")], name="one.jsonl")
    with pytest.raises(CorpusError, match="one.jsonl has 1 label"):
        require_labels(corpus)


@pytest.mark.parametrize("args, expected", [
    (["vocab", "build", "--data", "{tmp}/nowhere"], "does not exist"),
    (["vocab", "build", "--data", "{tmp}/bad", "--out", "{tmp}/v.txt"], "--encoding"),
    (["vocab", "build", "--data", "{tmp}/r.csv", "--text-field", "body"], "no column 'body'"),
    (["vocab", "build", "--data", "{tmp}/r.csv", "--tokenizer", "whitespace"], "unknown tokenizer 'whitespace'"),
    (["data", "fetch", "imdb"], "unknown corpus 'imdb'"),
])
def test_cli_bad_input_gives_one_line_and_nonzero_exit(tmp_path, args, expected):
    _tree(tmp_path / "bad", {"pos/a.txt": b"\xff\xfe nice", "neg/b.txt": "awful"})
    (tmp_path / "r.csv").write_text("text,label\ngood film,pos\nbad film,neg\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1


def test_cli_vocab_build_on_csv_with_empty_document(tmp_path):
    (tmp_path / "r.csv").write_text("text,label\ngood film,pos\n,neg\ngood plot,pos\nthe the,neg\n")
    out = tmp_path / "v.txt"
    result = CliRunner().invoke(app, ["vocab", "build", "--data", str(tmp_path / "r.csv"), "--split", "all",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "vocabulary: 3 entries" in result.output  # <pad>, <unk>, good
    assert "documents with no tokens after cleaning: 2" in result.output
    again = CliRunner().invoke(app, ["vocab", "build", "--data", str(tmp_path / "r.csv"), "--out", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_cli_data_info(polarity_path):
    result = CliRunner().invoke(app, ["data", "info", "--data", str(polarity_path)])
    assert result.exit_code == 0, result.output
    assert "1800 train, 200 test" in result.output
