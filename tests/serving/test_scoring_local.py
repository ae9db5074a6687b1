"""`toolkit score` with the local engine: same scores as the runtime, columns kept, bad input refused, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pcsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from toolkit.core.errors import InputError, OutputExistsError  # noqa: E402
from toolkit.serving.runtime import Runtime  # noqa: E402
from toolkit.serving.scoring import score_files  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "toolkit" / "serving" / "models" / "default"


def sentences(polarity_path: Path, n: int) -> list[str]:
    """The first ``n`` non-blank sentences (lines) of the polarity reviews, in file order."""
    out: list[str] = []
    for path in sorted(polarity_path.glob("*/cv*.txt")):
        out += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(out) >= n:
            return out[:n]
    return out


def write_inputs(folder: Path, texts: list[str]) -> dict[str, Path]:
    """The same documents as JSONL, CSV and Parquet, each with an id and an extra column."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(texts)
    table = pa.table({"id": list(range(n)), "text": texts, "stars": [i % 5 for i in range(n)]})
    paths = {"jsonl": folder / "reviews_a.jsonl", "csv": folder / "reviews_b.csv",
             "parquet": folder / "reviews_c.parquet"}
    with open(paths["jsonl"], "w", encoding="utf-8") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps(row) + "\n")
    pcsv.write_csv(table, paths["csv"])
    pq.write_table(table, paths["parquet"], row_group_size=700)
    return paths


def read_output(path: Path) -> pa.Table:
    if path.suffix == ".jsonl":
        return pa.Table.from_pylist([json.loads(line) for line in path.read_text().splitlines()])
    return pq.read_table(path)


def probs_of(table: pa.Table) -> np.ndarray:
    return np.stack([table.column("p_NEGATIVE").to_numpy(), table.column("p_POSITIVE").to_numpy()], axis=1)


@pytest.fixture(scope="module")
def texts(polarity_path) -> list[str]:
    return sentences(polarity_path, 3000)


@pytest.fixture(scope="module")
def reference(texts) -> tuple[np.ndarray, list[str]]:
    runtime = Runtime.load(BUNDLE)
    probs = runtime.score(texts)
    return probs, runtime.label_of(probs)


def assert_matches(out: pa.Table, texts: list[str], reference) -> None:
    probs, labels = reference
    assert out.column_names == ["id", "text", "stars", "label", "p_NEGATIVE", "p_POSITIVE"]
    assert out.column("id").to_pylist() == list(range(len(texts)))  # the input's order
    assert out.column("text").to_pylist() == texts
    assert out.column("stars").to_pylist() == [i % 5 for i in range(len(texts))]
    assert np.abs(probs_of(out) - probs).max() <= 1e-6
    assert out.column("label").to_pylist() == labels


@pytest.mark.parametrize("workers", [1, 2])
def test_every_format_scores_as_the_runtime(tmp_path, texts, reference, workers):
    write_inputs(tmp_path / "in", texts)
    summary = score_files(BUNDLE, [tmp_path / "in"], tmp_path / "out", workers=workers, batch_rows=1000)
    assert summary.documents == 3 * len(texts)
    for name in ("reviews_a", "reviews_b", "reviews_c"):
        assert_matches(pq.read_table(tmp_path / "out" / f"{name}.parquet"), texts, reference)
    success = json.loads((tmp_path / "out" / "_SUCCESS").read_text())
    assert success["documents"] == 3 * len(texts) and len(success["inputs"]) == 3
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporaries left


def test_jsonl_output_matches_toolkit_predict(tmp_path, texts):
    from typer.testing import CliRunner

    from toolkit.cli import app

    paths = write_inputs(tmp_path / "in", texts)
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(BUNDLE), "--file", str(paths["jsonl"]),
                                 "--out", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 0, result.output
    predicted = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    result = runner.invoke(app, ["score", "default", str(paths["jsonl"]), "--out", str(tmp_path / "out"),
                                 "--format", "jsonl", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "scored 3,000 documents" in result.output
    scored = [json.loads(line) for line in (tmp_path / "out" / "reviews_a.jsonl").read_text().splitlines()]
    assert [r["id"] for r in scored] == [r["id"] for r in predicted] == list(range(len(texts)))
    assert [r["label"] for r in scored] == [r["label"] for r in predicted]
    diff = max(abs(s[f"p_{k}"] - p["probabilities"][k])
               for s, p in zip(scored, predicted) for k in ("NEGATIVE", "POSITIVE"))
    assert diff <= 1e-6


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def bad_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the error must contain)."""
    folder.mkdir()
    good = [{"id": i, "text": f"a fine film number {i}"} for i in range(300)]
    cases = {
        "missing_column_jsonl": (_jsonl(folder / "m.jsonl", [{"id": 1, "body": "x"}]), "'text' is missing"),
        "missing_column_csv": (folder / "m.csv", "no column 'text'"),
        "missing_column_parquet": (folder / "m.parquet", "no column 'text'"),
        "number_text_late": (_jsonl(folder / "n.jsonl", good + [{"id": 300, "text": 5}]), "line 301"),
        "null_text_parquet": (folder / "null.parquet", "row 251"),
        "number_column_parquet": (folder / "num.parquet", "not text"),
        "unreadable": (folder / "gone.jsonl", "gone.jsonl"),
        "empty_jsonl": (folder / "e.jsonl", "empty"),
        "empty_csv": (folder / "e.csv", "empty"),
        "text_named_parquet": (folder / "t.parquet", "PARQUET"),
        "parquet_named_jsonl": (folder / "p.jsonl", "line 1"),
        "broken_json": (_jsonl(folder / "b.jsonl", good[:5] + ['{"id": 6, "text": "unclosed']), "line 6"),
    }
    (folder / "m.csv").write_text("id,body\n1,hello\n")
    pq.write_table(pa.table({"id": [1], "body": ["x"]}), folder / "m.parquet")
    pq.write_table(pa.table({"id": list(range(300)), "text": [f"t{i}" if i != 250 else None for i in range(300)]}),
                   folder / "null.parquet")
    pq.write_table(pa.table({"id": [1, 2], "text": [1, 2]}), folder / "num.parquet")
    os.symlink(folder / "does-not-exist.jsonl", folder / "gone.jsonl")
    (folder / "e.jsonl").write_bytes(b"")
    (folder / "e.csv").write_text("id,text\n")
    (folder / "t.parquet").write_text("id,text\n1,not parquet at all\n")
    pq.write_table(pa.table({"id": [1], "text": ["x"]}), folder / "p.jsonl")
    return cases


@pytest.mark.parametrize("case", [
    "missing_column_jsonl", "missing_column_csv", "missing_column_parquet", "number_text_late", "null_text_parquet",
    "number_column_parquet", "unreadable", "empty_jsonl", "empty_csv", "text_named_parquet", "parquet_named_jsonl",
    "broken_json",
])
def test_bad_input_is_one_line_naming_the_file(tmp_path, case):
    path, words = bad_inputs(tmp_path / "bad")[case]
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:
        score_files(BUNDLE, [path], out, batch_rows=100)  # small chunks: a late error comes after writing began
    message = str(info.value)
    assert "\n" not in message and str(path) in message and words in message, message
    assert not out.exists() or not any(out.iterdir())  # nothing that looks like output, no temporaries


def test_a_bad_file_among_good_ones_leaves_no_success_marker(tmp_path, texts, reference):
    paths = write_inputs(tmp_path / "in", texts[:500])
    bad = _jsonl(tmp_path / "in" / "reviews_z.jsonl", [{"id": i, "text": "ok"} for i in range(200)] + [{"id": 200}])
    out = tmp_path / "out"
    with pytest.raises(InputError, match="reviews_z.jsonl, line 201"):  # found while scoring, not by the first look
        score_files(BUNDLE, [tmp_path / "in"], out, batch_rows=20)
    assert not (out / "_SUCCESS").exists() and not (out / "reviews_z.parquet").exists()
    assert (out / "reviews_a.parquet").exists()  # inputs before it are complete
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    bad.unlink()
    summary = score_files(BUNDLE, [tmp_path / "in"], out, resume=True)
    assert (out / "_SUCCESS").exists()
    assert sorted(Path(p).name for p in summary.files) + sorted(Path(p).name for p in summary.skipped) == sorted(
        f"{p.stem}.parquet" for p in paths.values())


def test_existing_output_needs_resume_or_overwrite_and_label_clash(tmp_path, texts):
    paths = write_inputs(tmp_path / "in", texts[:200])
    score_files(BUNDLE, [paths["jsonl"]], tmp_path / "out")
    with pytest.raises(OutputExistsError, match="--resume"):
        score_files(BUNDLE, [paths["jsonl"]], tmp_path / "out")
    assert score_files(BUNDLE, [paths["jsonl"]], tmp_path / "out", overwrite=True).documents == 200
    labeled = _jsonl(tmp_path / "labeled.jsonl", [{"text": "good", "label": "POSITIVE"}])
    with pytest.raises(InputError, match="'label' is also an output column"):
        score_files(BUNDLE, [labeled], tmp_path / "out2")
    score_files(BUNDLE, [labeled], tmp_path / "out2", label_column="predicted")
    row = pq.read_table(tmp_path / "out2" / "labeled.parquet").to_pylist()[0]
    assert row["label"] == "POSITIVE" and row["predicted"] in ("POSITIVE", "NEGATIVE")


def test_killed_run_then_resume_gives_the_full_output(tmp_path, polarity_path):
    texts = sentences(polarity_path, 5000)
    files = 6
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(files):
        with open(folder / f"part{k}.jsonl", "w") as fh:
            for i, text in enumerate(texts):
                fh.write(json.dumps({"id": k * 100_000 + i, "text": text}) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "toolkit.cli", "score", "default", str(folder), "--out", str(out),
           "--batch-size", "500"]
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.Popen(cmd + ["--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out / "part0.parquet").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.1)  # somewhere inside a later file
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    finished = sorted(p.name for p in out.glob("part*.parquet"))
    assert 1 <= len(finished) < files, f"the run was not killed mid-way: {finished}"
    assert not (out / "_SUCCESS").exists()
    for name in finished:  # what exists is complete
        assert pq.read_table(out / name).num_rows == len(texts)
    result = subprocess.run(cmd + ["--resume", "--json", "--no-progress"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(summary["skipped"]) == len(finished) and len(summary["files"]) == files - len(finished)
    probs = Runtime.load(BUNDLE).score(texts)
    for k in range(files):
        table = pq.read_table(out / f"part{k}.parquet")
        assert table.column("id").to_pylist() == [k * 100_000 + i for i in range(len(texts))]
        assert np.abs(probs_of(table) - probs).max() <= 1e-6
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS"] + [f"part{k}.parquet" for k in range(files)]


def test_cli_error_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app

    result = CliRunner().invoke(app, ["score", "default", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "nope.jsonl does not exist" in result.output and len(result.output.strip().splitlines()) == 1


def test_import_is_light_and_local_scoring_loads_no_engine(tmp_path):
    from boundary import assert_serving_only, report_code
    from spacy_helpers import run_python

    _jsonl(tmp_path / "r.jsonl", [{"id": 1, "text": "A great film."}, {"id": 2, "text": ""}])
    code = report_code() + """
import json, sys
import toolkit.serving.scoring
light = sorted({m.split(".")[0] for m in sys.modules} & {"pyarrow", "ray", "pyspark", "pandas"})
from toolkit.serving.scoring import score_files
summary = score_files("default", [sys.argv[1]], sys.argv[2], workers=2)
print(json.dumps({"light": light, "documents": summary.documents, **_boundary_report()}))
"""
    result = run_python(code, str(tmp_path / "r.jsonl"), str(tmp_path / "out"), env={"TOOLKIT_LOAD_PLUGINS": ""})
    assert result["light"] == [] and result["documents"] == 2
    assert_serving_only(result)
