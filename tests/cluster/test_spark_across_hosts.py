"""Spark across hosts: a standalone master and a worker in two namespaces, `toolkit score` driven from a third.

The executors run on the worker host only: they read the inputs from the shared storage and write
the outputs there; the bundle is in the driver's own /tmp and travels inside the function.
"""

from __future__ import annotations

import shutil
import time

from harness import assert_clean, one_line_error, score_across_hosts, toolkit


def test_spark_score_across_hosts_equals_predict(cluster, spark_cluster, review_texts, tmp_path):
    driver, master = spark_cluster["driver"], spark_cluster["master"]
    score_across_hosts(cluster, driver, review_texts, tmp_path, "scored-spark", "--engine", "spark", "--master", master)


def test_spark_refuses_an_output_the_executors_cannot_see(cluster, spark_cluster):
    driver, master = spark_cluster["driver"], spark_cluster["master"]
    t0 = time.monotonic()
    error = one_line_error(toolkit(driver, "score", "default", str(cluster.shared / "reviews"), "--engine", "spark",
                                   "--master", master, "--out", "/tmp/scored"))
    assert "output folder (--out) /tmp/scored does not exist on the cluster's node worker" in error, error
    assert time.monotonic() - t0 < 120
    assert list((driver.tmp / "scored").iterdir()) == []
    shutil.rmtree(driver.tmp / "scored")
    assert_clean(cluster)
