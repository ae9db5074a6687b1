"""`toolkit score --engine ray`: Ray Data on a local cluster (loopback, 2 CPUs) gives the runtime's scores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read when Ray is imported: 127.0.0.1 only
pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pcsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from toolkit.core.errors import InputError  # noqa: E402
from toolkit.serving.runtime import Runtime  # noqa: E402
from toolkit.serving.scoring import score_files  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "toolkit" / "serving" / "models" / "default"


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def texts(polarity_path) -> list[str]:
    out: list[str] = []
    for path in sorted(polarity_path.glob("*/cv*.txt")):
        out += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(out) >= 2000:
            return out[:2000]
    return out


def table_of(texts: list[str], offset: int) -> pa.Table:
    n = len(texts)
    return pa.table({"id": [offset + i for i in range(n)], "text": texts, "stars": [i % 5 for i in range(n)]})


def check(out: pa.Table, texts: list[str], offset: int) -> None:
    """Same rows (joined on id: Ray may reorder blocks), columns and scores as the runtime."""
    assert out.column_names == ["id", "text", "stars", "label", "p_NEGATIVE", "p_POSITIVE"]
    out = out.sort_by("id")
    assert out.column("id").to_pylist() == [offset + i for i in range(len(texts))]
    assert out.column("text").to_pylist() == texts
    assert out.column("stars").to_pylist() == [i % 5 for i in range(len(texts))]
    runtime = Runtime.load(BUNDLE)
    probs = runtime.score(texts)
    got = np.stack([out.column("p_NEGATIVE").to_numpy(), out.column("p_POSITIVE").to_numpy()], axis=1)
    assert np.abs(got - probs).max() <= 1e-6
    assert out.column("label").to_pylist() == runtime.label_of(probs)


def test_ray_matches_the_runtime_parquet_and_jsonl_inputs(ray_cluster, tmp_path, texts):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(table_of(texts[:1000], 0), folder / "a.parquet", row_group_size=300)
    pq.write_table(table_of(texts[1000:], 1000), folder / "b.parquet", row_group_size=300)
    with open(folder / "c.jsonl", "w") as fh:
        for row in table_of(texts, 5000).to_pylist():
            fh.write(json.dumps(row) + "\n")
    summary = score_files(BUNDLE, [folder], tmp_path / "out", engine="ray", batch_rows=256, concurrency=2)
    assert summary.documents == 2 * len(texts)
    assert summary.files == {str(tmp_path / "out" / n): r for n, r in
                             (("a.parquet", 1000), ("b.parquet", 1000), ("c.parquet", 2000))}
    check(pq.read_table(tmp_path / "out" / "a.parquet"), texts[:1000], 0)
    check(pq.read_table(tmp_path / "out" / "b.parquet"), texts[1000:], 1000)
    check(pq.read_table(tmp_path / "out" / "c.parquet"), texts, 5000)
    assert (tmp_path / "out" / "_SUCCESS").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_ray_csv_to_jsonl_with_the_bundle_by_path(ray_cluster, tmp_path, texts):
    pcsv.write_csv(table_of(texts, 0), tmp_path / "r.csv")
    score_files(BUNDLE, [tmp_path / "r.csv"], tmp_path / "out", engine="ray", fmt="jsonl", ship="path",
                concurrency=1, batch_rows=500)
    rows = [json.loads(line) for part in sorted((tmp_path / "out" / "r.jsonl").glob("part-*"))
            for line in part.read_text().splitlines()]
    check(pa.Table.from_pylist(rows), texts, 0)


def test_ray_bad_input_names_the_file_and_writes_nothing(ray_cluster, tmp_path, texts):
    folder = tmp_path / "in"
    folder.mkdir()
    values = list(texts[:500])
    values[400] = None  # past the driver's first look: found by an actor
    pq.write_table(pa.table({"id": list(range(500)), "text": values}), folder / "nulls.parquet")
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:
        score_files(BUNDLE, [folder / "nulls.parquet"], out, engine="ray", batch_rows=100)
    assert "nulls.parquet" in str(info.value) and "null" in str(info.value) and "\n" not in str(info.value)
    assert not any(out.iterdir())
    pq.write_table(pa.table({"id": [1], "body": ["x"]}), folder / "nocol.parquet")
    with pytest.raises(InputError, match="nocol.parquet: no column 'text'"):
        score_files(BUNDLE, [folder / "nocol.parquet"], out, engine="ray")
    assert not any(out.iterdir())
