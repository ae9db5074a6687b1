"""Folds and searches on Ray Tune (local Ray, 2 CPUs): ten fold results, search tables, resume, errors."""

from __future__ import annotations

import csv
import json
import os

import pytest
from typer.testing import CliRunner

from corpora import learnable_corpus, tiny_config

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when Ray is imported: bind 127.0.0.1
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    from toolkit.training.distributed import RaySession

    with RaySession(None, workers=2, num_cpus=2):  # stops the Ray it started, even on failure
        yield ray


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return learnable_corpus(tmp_path_factory.mktemp("corpus") / "c.jsonl", n_per_label=30)


@pytest.mark.slow
def test_ten_fold_cv_on_tune_writes_ten_fold_results(local_ray, corpus, tmp_path):
    from toolkit.cli.app import app

    out = tmp_path / "cv"
    result = CliRunner().invoke(app, ["train", "--cv", "10", "--engine", "ray", "--out", str(out), "--quiet",
                                      "--data", str(corpus), "--epochs", "1", "--batch-size", "16",
                                      "--set", "vocab.min_count=1", "--set", "training.max_len=40"])
    assert result.exit_code == 0, result.output
    cv = json.loads((out / "cv.json").read_text())
    assert cv["engine"] == "ray" and cv["k"] == 10
    assert [row["fold"] for row in cv["folds"]] == list(range(10))
    assert all(0.0 <= row["accuracy"] <= 1.0 and row["n_test"] == 6 for row in cv["folds"])
    assert result.output.count("fold ") >= 10


SPACE = """
[search]
mode = "grid"
objective = "validation"
validation_share = 0.2

[space]
"training.learning_rate" = [0.01, 0.02]
"""


@pytest.mark.slow
def test_search_on_tune_writes_tables_and_best_config_and_resumes(local_ray, corpus, tmp_path):
    from toolkit.training.config import Config
    from toolkit.training.distributed.tune import RESULTS_JSON, run_search

    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "search"
    config = tiny_config(corpus, epochs=1)
    logs = []
    result = run_search(space, out, config, log=logs.append)
    rows = json.loads((out / RESULTS_JSON).read_text())["rows"]
    assert len(rows) == 2 and {r["params"]["training.learning_rate"] for r in rows} == {0.01, 0.02}
    with (out / "results.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 2 and "training.learning_rate" in table[0]
    best = Config.from_file(out / "best_config.toml")
    assert best.training.learning_rate == result["best"]["params"]["training.learning_rate"]
    assert not list(out.glob(".*"))  # no temp files left

    # resume: drop one row, rerun: only that trial runs again (locally, no Ray needed)
    data = json.loads((out / RESULTS_JSON).read_text())
    data["rows"] = data["rows"][:1]
    (out / RESULTS_JSON).write_text(json.dumps(data))
    logs.clear()
    run_search(space, out, config, resume=True, engine="local", log=logs.append)
    assert "1 already done, 1 to run" in logs[0]
    assert len(json.loads((out / RESULTS_JSON).read_text())["rows"]) == 2


def test_search_refuses_existing_results_and_bad_spaces(corpus, tmp_path):
    from toolkit.core.errors import ConfigError, OutputExistsError
    from toolkit.training.distributed.tune import RESULTS_JSON, read_space, run_search, settings_of

    bad = tmp_path / "bad.toml"
    bad.write_text('[search]\nmode = "grid"\n[space]\n"training.learning_rate" = {low = 0.001, high = 0.1}\n')
    with pytest.raises(ConfigError, match="a grid needs a list"):
        read_space(bad)
    bad.write_text('[search]\nobjective = "test"\n[space]\n"training.epochs" = [1]\n')
    with pytest.raises(ConfigError, match="search.objective must be one of"):
        read_space(bad)
    rnd = tmp_path / "random.toml"
    rnd.write_text('[search]\nmode = "random"\nsamples = 5\nseed = 3\n[space]\n'
                   '"training.learning_rate" = {low = 0.001, high = 0.1, log = true}\n"vocab.ngrams" = [1, 2]\n')
    spec = read_space(rnd)
    draws = settings_of(spec)
    assert len(draws) == 5 and draws == settings_of(spec)  # seeded
    assert all(0.001 <= d["training.learning_rate"] <= 0.1 for d in draws)
    out = tmp_path / "out"
    out.mkdir()
    (out / RESULTS_JSON).write_text("{}")
    with pytest.raises(OutputExistsError, match="--resume"):
        run_search(rnd, out, tiny_config(corpus), engine="local")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[space]\n"training.nope" = [1]\n')
    with pytest.raises(ConfigError, match="nope"):
        run_search(unknown, tmp_path / "o2", tiny_config(corpus), engine="local")
