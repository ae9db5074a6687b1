"""Spark: `sentiment_udf` (predict_batch_udf) and `toolkit score --engine spark` on local[2] score as the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyspark")
pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pcsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from toolkit.core.errors import InputError  # noqa: E402
from toolkit.serving.runtime import Runtime  # noqa: E402
from toolkit.serving.scoring import score_files  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "toolkit" / "serving" / "models" / "default"


@pytest.fixture(scope="module")
def spark():
    from toolkit.serving.scoring.spark import local_session

    session = local_session("local[2]", app_name="toolkit tests")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def texts(polarity_path) -> list[str]:
    out: list[str] = []
    for path in sorted(polarity_path.glob("*/cv*.txt")):
        out += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(out) >= 1200:
            return out[:1200]
    return out


@pytest.fixture(scope="module")
def reference(texts):
    runtime = Runtime.load(BUNDLE)
    probs = runtime.score(texts)
    return probs, runtime.label_of(probs)


def test_sentiment_udf_returns_label_and_probabilities(spark, texts, reference):
    from toolkit.serving.scoring.spark import labels_of, sentiment_udf

    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id long, text string")
    rows = df.withColumn("sentiment", sentiment_udf(BUNDLE, batch_size=512)("text")).orderBy("id").collect()
    probs, labels = reference
    assert labels_of(BUNDLE) == ["NEGATIVE", "POSITIVE"]
    assert [r["sentiment"]["label"] for r in rows] == labels
    got = np.array([r["sentiment"]["probabilities"] for r in rows], dtype=np.float32)
    assert np.abs(got - probs).max() <= 1e-6


def test_spark_engine_matches_the_runtime_in_order(spark, tmp_path, texts, reference):
    folder = tmp_path / "in"
    folder.mkdir()
    table = pa.table({"id": list(range(len(texts))), "text": texts, "stars": [i % 5 for i in range(len(texts))]})
    pq.write_table(table, folder / "a.parquet", row_group_size=500)
    pcsv.write_csv(table, folder / "b.csv")
    with open(folder / "c.jsonl", "w") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps(row) + "\n")
    summary = score_files(BUNDLE, [folder], tmp_path / "out", engine="spark", batch_rows=500)
    assert summary.documents == 3 * len(texts)
    probs, labels = reference
    for name in ("a", "b", "c"):
        out = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        assert out.column_names == ["id", "text", "stars", "label", "p_NEGATIVE", "p_POSITIVE"]
        assert out.column("id").to_pylist() == list(range(len(texts)))  # the input's order
        assert out.column("stars").to_pylist() == [i % 5 for i in range(len(texts))]
        got = np.stack([out.column("p_NEGATIVE").to_numpy(), out.column("p_POSITIVE").to_numpy()], axis=1)
        assert np.abs(got - probs).max() <= 1e-6
        assert out.column("label").to_pylist() == labels
    assert (tmp_path / "out" / "_SUCCESS").exists()


def test_spark_bad_input_names_the_file_and_writes_nothing(spark, tmp_path, texts):
    values = list(texts[:500])
    values[400] = None
    pq.write_table(pa.table({"id": list(range(500)), "text": values}), tmp_path / "nulls.parquet")
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:
        score_files(BUNDLE, [tmp_path / "nulls.parquet"], out, engine="spark", batch_rows=100)
    message = str(info.value)
    assert "nulls.parquet" in message and "null" in message and "\n" not in message
    assert not any(out.iterdir())
    (tmp_path / "bad.parquet").write_text("not parquet\n")
    with pytest.raises(InputError, match="bad.parquet: cannot be read as PARQUET"):
        score_files(BUNDLE, [tmp_path / "bad.parquet"], out, engine="spark")
    assert not any(out.iterdir())


def test_spark_engine_lists_the_labels_of_a_multi_label_bundle(spark, tmp_path):
    import model_factory as mf

    bundle = mf.make_onnx_bundle(tmp_path / "multi", multi_label=True,
                                 thresholds={"NEGATIVE": 0.35, "POSITIVE": 0.45})
    texts = ["a superb, gripping film", "dull and boring", "the plot", "", "great but tedious and bland"]
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), tmp_path / "in.parquet")
    score_files(bundle, [tmp_path / "in.parquet"], tmp_path / "out", engine="spark", batch_rows=2)
    out = pq.read_table(tmp_path / "out" / "in.parquet")
    rt = Runtime.load(bundle)
    assert out.column("label").to_pylist() == [r["labels"] for r in rt.predict(texts)]  # list per row, maybe two
    got = np.stack([out.column("p_NEGATIVE").to_numpy(), out.column("p_POSITIVE").to_numpy()], axis=1)
    np.testing.assert_allclose(got, rt.score(texts), atol=1e-6)
