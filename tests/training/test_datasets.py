"""The named corpora: MR and the multi-domain reviews (shared copies and the authors' originals), the
polarity corpus by name, name resolution, and `toolkit data info`."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from published import mr_cp1252, multi_domain_original
from toolkit.cli import app
from toolkit.core.errors import CorpusEncodingError, CorpusError
from toolkit.training.corpus import k_folds, load_corpus, repo_root, train_test_split
from toolkit.training.datasets import mr, multi_domain, polarity
from toolkit.training.datasets.digest import content_digest
from toolkit.training.datasets.source import corpus_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mr_corpus(mr_path):
    return mr.read_mr(mr_path)


@pytest.fixture(scope="module")
def reviews(multi_domain_path):
    return multi_domain.read_multi_domain(multi_domain_path)


# ------------------------------------------------------------------ MR


def test_mr_shared_copy(mr_corpus):
    assert len(mr_corpus) == 10_662
    assert mr_corpus.labels == ["NEGATIVE", "POSITIVE"]
    assert mr_corpus.label_counts() == {"NEGATIVE": 5331, "POSITIVE": 5331}
    assert mr_corpus.encoding == "utf-8"
    assert mr_corpus.documents[0].source == "rt-polarity.neg:1"
    assert all(d.text == d.text.strip() and d.text for d in mr_corpus)
    assert content_digest(mr.digest_rows(mr_corpus)) == mr.CONTENT_SHA256


def test_mr_folds_are_seeded_stratified_tenths(mr_corpus, mr_path):
    per_fold = Counter((d.fold, d.label) for d in mr_corpus)
    assert {f for f, _ in per_fold} == set(range(10))
    assert all(533 <= n <= 534 for n in per_fold.values())  # 5,331 per label in ten folds
    again = mr.read_mr(mr_path)
    assert [d.fold for d in again] == [d.fold for d in mr_corpus]
    train, test = train_test_split(mr_corpus)  # fold 9 = test, as toolkit train splits
    assert (len(train), len(test)) == (9596, 1066) and {d.fold for d in test} == {9}
    assert [len(t) for _, t in k_folds(mr_corpus, 10)] == [1067, 1067] + [1066] * 8


def test_mr_windows_1252_original_reads_the_same(mr_path, mr_corpus, tmp_path):
    original = mr_cp1252(mr_path, tmp_path / "rt-polaritydata")
    data = (original / "rt-polarity.pos").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the original really is not UTF-8: the fallback is exercised
    assert data.decode("cp1252") == (mr_path / "rt-polarity.pos").read_text(encoding="utf-8")  # lossless
    corpus = mr.read_mr(tmp_path)  # the folder holding rt-polaritydata/ is accepted too
    assert corpus.encoding == "cp1252"
    assert [(d.text, d.label, d.fold) for d in corpus] == [(d.text, d.label, d.fold) for d in mr_corpus]
    assert content_digest(mr.digest_rows(corpus)) == mr.CONTENT_SHA256


def test_mr_mixed_and_undecodable_files(tmp_path):
    (tmp_path / "rt-polarity.pos").write_bytes("a caf\xe9 film .\n".encode("cp1252"))
    (tmp_path / "rt-polarity.neg").write_text("dull .\n\nflat .\n", encoding="utf-8")
    corpus = mr.read_mr(tmp_path)
    assert corpus.encoding == "rt-polarity.neg: utf-8, rt-polarity.pos: cp1252"
    assert [d.text for d in corpus] == ["dull .", "flat .", "a café film ."]  # blank line skipped
    assert [d.source for d in corpus] == ["rt-polarity.neg:1", "rt-polarity.neg:3", "rt-polarity.pos:1"]
    (tmp_path / "rt-polarity.pos").write_bytes(b"bad \x81\xff bytes\n")  # neither UTF-8 nor cp1252
    with pytest.raises(CorpusEncodingError, match=r"rt-polarity\.pos is neither UTF-8 nor Windows-1252"):
        mr.read_mr(tmp_path)


def test_mr_missing_file_or_folder(tmp_path):
    (tmp_path / "rt-polarity.pos").write_text("fine .\n")
    with pytest.raises(CorpusError, match=r"rt-polarity\.neg does not exist.*toolkit data fetch mr"):
        mr.read_mr(tmp_path)
    with pytest.raises(CorpusError, match=r"MR corpus not found at .*nowhere.*TOOLKIT_MR_DIR"):
        mr.read_mr(tmp_path / "nowhere")


# ------------------------------------------------------------------ multi-domain


def test_multi_domain_shared_copy(reviews):
    assert len(reviews) == 8000
    assert reviews.labels == ["NEGATIVE", "POSITIVE"] and not reviews.ordered
    assert Counter(d.fields["domain"] for d in reviews) == {d: 2000 for d in multi_domain.DOMAINS}
    assert Counter((d.fields["domain"], d.label) for d in reviews) == {
        (d, p): 1000 for d in multi_domain.DOMAINS for p in ("NEGATIVE", "POSITIVE")}
    ratings = Counter((d.label, d.fields["rating"]) for d in reviews)
    assert set(ratings) == {("NEGATIVE", 1.0), ("NEGATIVE", 2.0), ("POSITIVE", 4.0), ("POSITIVE", 5.0)}
    assert len({d.fields["id"] for d in reviews}) == 8000
    first = reviews.documents[0]
    assert first.source == "books/negative.review#1"
    assert first.text == first.fields["title"] + "\n\n" + first.text.split("\n\n", 1)[1]
    assert reviews.encoding == "utf-8"
    # entities decoded, the shared copy's double escaping included (&amp;#8217; in the file)
    assert any("Barty\u2019s" in d.fields["title"] for d in reviews)
    assert not any(re.search(r"&#\d+;|&amp;|&quot;", d.text) for d in reviews)
    assert content_digest(multi_domain.digest_rows(reviews)) == multi_domain.CONTENT_SHA256


def test_multi_domain_standard_split(reviews):
    train, test = train_test_split(reviews)
    assert (len(train), len(test)) == (6400, 1600)
    assert Counter(d.fields["domain"] for d in test) == {d: 400 for d in multi_domain.DOMAINS}
    # the last 200 reviews of each file
    assert {int(d.source.split("#")[1]) for d in test} == set(range(801, 1001))
    assert {d.fold for d in train} == {0}


def test_the_tolerant_reader_agrees_with_an_xml_parser_on_the_shared_copy(multi_domain_path):
    for domain in multi_domain.DOMAINS:
        path = multi_domain_path / domain / "positive.review"
        mine = multi_domain.parse_reviews(path.read_text(encoding="utf-8"))
        parsed = ET.parse(path).getroot()
        assert len(mine) == len(parsed) == 1000
        for ours, review in zip(mine[::37], list(parsed)[::37]):
            assert ours == {child.tag: multi_domain.unescape((child.text or "").strip()) for child in review}


def test_rating_view_is_four_ordered_classes(multi_domain_path):
    corpus = load_corpus("multi-domain:kitchen", label_field="rating")
    assert corpus.labels == ["1", "2", "4", "5"] and corpus.ordered
    assert sum(corpus.label_counts().values()) == 2000
    assert {d.fields["domain"] for d in corpus} == {"kitchen"}
    assert all(d.label == f"{d.fields['rating']:g}" for d in corpus)
    binary = load_corpus("multi-domain:kitchen")
    assert [d.fold for d in corpus] == [d.fold for d in binary]  # the same split in both views
    two = load_corpus("multi-domain:dvd,books,dvd")
    assert [d for d in Counter(d.fields["domain"] for d in two)] == ["dvd", "books"]


def test_pseudo_xml_original_reads_the_same(multi_domain_path, reviews, tmp_path):
    root = multi_domain_original(multi_domain_path, tmp_path, unlabeled=False)
    raw = (root / "kitchen_&_housewares" / "negative.review").read_bytes()
    assert not raw.startswith(b"<?xml") and b"<reviews>" not in raw
    assert b"Kitchen & Housewares" in raw  # a bare ampersand
    with pytest.raises(ET.ParseError):
        ET.fromstring(raw)
    with pytest.raises(UnicodeDecodeError):
        (root / "dvd" / "positive.review").read_bytes().decode("utf-8")  # Latin-1 bytes
    original = multi_domain.read_multi_domain(tmp_path)  # the folder holding sorted_data_acl/
    replaced = sum(d.text.count("\ufffd") + d.fields["id"].count("\ufffd") for d in reviews)
    assert original.encoding.startswith("utf-8 (") and "replaced by U+FFFD" in original.encoding
    assert replaced > 0
    assert [(d.text, d.label, d.fold, d.fields) for d in original] == [(d.text, d.label, d.fold, d.fields)
                                                                     for d in reviews]
    assert content_digest(multi_domain.digest_rows(original)) == multi_domain.CONTENT_SHA256


def _review(rating: str, text: str = "fine", uid: str = "x1") -> str:
    return (f"<review>\n<unique_id>\n{uid}\n</unique_id>\n<rating>\n{rating}\n</rating>\n<title>\nT & <b>\n"
            f"</title>\n<review_text>\n{text}\n</review_text>\n</review>\n")


def _tiny(root: Path, positive: str, negative: str) -> Path:
    for domain in multi_domain.DOMAINS:
        (root / domain).mkdir(parents=True, exist_ok=True)
        (root / domain / "positive.review").write_text(positive)
        (root / domain / "negative.review").write_text(negative)
    return root


def test_bad_rating_names_file_review_and_value(tmp_path):
    root = _tiny(tmp_path, _review("5.0") + _review("five", uid="B00X:nice"), _review("1.0"))
    with pytest.raises(CorpusError, match=r"books/positive\.review, review 2 \(B00X:nice\): rating 'five' is "
                                          r"not a number") as info:
        multi_domain.read_multi_domain(root)
    assert "\n" not in str(info.value)
    _tiny(tmp_path, _review("4.0"), _review("4.0"))
    with pytest.raises(CorpusError, match=r"negative\.review, review 1 \(x1\): rating '4.0' does not belong in a "
                                          r"negative file \(expected 1 or 2 stars\)"):
        multi_domain.read_multi_domain(root)
    _tiny(tmp_path, _review("4.0"), _review("1.0"))
    corpus = multi_domain.read_multi_domain(root, ("dvd",))
    assert [d.text for d in corpus] == ["T & <b>\n\nfine", "T & <b>\n\nfine"]
    assert [d.fold for d in corpus] == [0, 0]  # a fifth of one review is none
    with pytest.raises(CorpusError, match=r"'label' \(POSITIVE / NEGATIVE\) or 'rating'.*got 'stars'"):
        multi_domain.read_multi_domain(root, label_field="stars")


def test_missing_file_domain_or_folder(tmp_path):
    root = _tiny(tmp_path, _review("5.0"), _review("1.0"))
    (root / "electronics" / "negative.review").unlink()
    with pytest.raises(CorpusError, match=r"electronics/negative\.review does not exist"):
        multi_domain.read_multi_domain(root)
    with pytest.raises(CorpusError, match=r"multi-domain corpus not found at .*nowhere.*TOOLKIT_MULTI_DOMAIN_DIR"):
        multi_domain.read_multi_domain(tmp_path / "nowhere")
    (root / "books" / "positive.review").write_text("<?xml version='1.0'?>\n<reviews>\n</reviews>\n")
    with pytest.raises(CorpusError, match=r"books/positive\.review holds no <review> blocks"):
        multi_domain.read_multi_domain(root, ("books",))


# ------------------------------------------------------------------ names


def test_names_resolve_through_load_corpus(mr_path, multi_domain_path, polarity_path):
    assert len(load_corpus("mr")) == 10_662
    assert load_corpus("MR").name == "mr"
    assert len(load_corpus("multi-domain")) == 8000
    assert load_corpus("polarity").folder == str(polarity_path)
    assert content_digest(polarity.digest_rows(load_corpus("polarity"))) == polarity.CONTENT_SHA256


@pytest.mark.parametrize("spec, expected", [
    ("imdb", r"unknown corpus 'imdb': no such file or folder, and the named corpora are polarity, mr, "
             r"multi-domain \(multi-domain:DOMAIN"),
    ("multi-domain:garden", r"no domain 'garden'; its domains are books, dvd, electronics, kitchen"),
    ("mr:books", r"corpus 'mr' takes no ':' option"),
])
def test_unknown_names_and_domains(spec, expected):
    with pytest.raises(CorpusError, match=expected) as info:
        load_corpus(spec)
    assert "\n" not in str(info.value)


def test_label_field_rating_is_only_for_multi_domain(mr_path):
    with pytest.raises(CorpusError, match=r"corpus 'mr' has one label view .* not --label-field \(data.label_field\) "
                                          r"'rating'"):
        load_corpus("mr", label_field="rating")


def test_an_existing_path_wins_over_a_name(tmp_path, monkeypatch):
    (tmp_path / "mr" / "good").mkdir(parents=True)
    (tmp_path / "mr" / "bad").mkdir()
    (tmp_path / "mr" / "good" / "a.txt").write_text("fine")
    (tmp_path / "mr" / "bad" / "b.txt").write_text("awful")
    monkeypatch.chdir(tmp_path)
    corpus = load_corpus("mr")
    assert corpus.labels == ["bad", "good"] and len(corpus) == 2
    with pytest.raises(CorpusError, match="corpus nowhere.jsonl does not exist"):  # not a name: a missing file
        load_corpus("nowhere.jsonl")


def test_where_named_corpora_are_looked_for(mr_path, tmp_path, monkeypatch):
    assert repo_root() == REPO  # not toolkit/: ../shared is beside the repository
    monkeypatch.delenv("TOOLKIT_MR_DIR", raising=False)
    assert corpus_dir("TOOLKIT_MR_DIR", "rt-polaritydata") == REPO.parent / "shared" / "data" / "rt-polaritydata"
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        (copy / name).write_text("one line .\n")
    monkeypatch.setenv("TOOLKIT_MR_DIR", str(copy))
    corpus = load_corpus("mr")
    assert corpus.folder == str(copy) and len(corpus) == 2
    monkeypatch.setenv("TOOLKIT_MR_DIR", str(tmp_path / "absent"))
    with pytest.raises(CorpusError, match=r"MR corpus not found at .*absent"):
        load_corpus("mr")


# ------------------------------------------------------------------ toolkit data info


def test_cli_data_info_named_and_json(mr_path, multi_domain_path):
    result = CliRunner().invoke(app, ["data", "info", "--data", "mr"])
    assert result.exit_code == 0, result.output
    assert "documents: 10662" in result.output and "encoding: utf-8" in result.output
    assert f"folder: {mr_path}" in result.output
    assert "9596 train, 1066 test" in result.output and "folds: 0: 1067" in result.output
    assert "length (words): min " in result.output
    result = CliRunner().invoke(app, ["data", "info", "--data", "multi-domain:kitchen", "--label-field", "rating",
                                      "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["documents"] == 2000 and info["ordered"] is True
    assert list(info["labels"]) == ["1", "2", "4", "5"] and sum(info["labels"].values()) == 2000
    assert info["split"]["train"] == 1600 and info["split"]["test"] == 400
    assert info["domains"] == {"kitchen": 2000}
    lengths = info["length_words"]
    assert 0 < lengths["min"] <= lengths["median"] <= lengths["p90"] <= lengths["max"]


def test_cli_data_info_of_a_path_and_an_unknown_name(tmp_path):
    data = tmp_path / "r.jsonl"
    data.write_text("".join(json.dumps({"text": "w " * n, "label": "ab"[n % 2]}) + "\n" for n in range(1, 21)))
    result = CliRunner().invoke(app, ["data", "info", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["folder"] == str(data) and info["encoding"] == "utf-8"
    assert info["length_words"]["min"] == 1 and info["length_words"]["max"] == 20
    assert info["length_words"]["median"] == 10.5
    assert info["split"]["train"] + info["split"]["test"] == 20 and "folds" not in info["split"]
    failed = CliRunner().invoke(app, ["data", "info", "--data", "imdb"])
    assert failed.exit_code == 1 and "unknown corpus 'imdb'" in failed.output
    assert len([ln for ln in failed.output.splitlines() if ln.strip()]) == 1
