"""The two-host harness: hosts in network namespaces (tests/cluster/hosts.py), Ray and Spark started on them.

Runs when ``TOOLKIT_CLUSTER_TESTS=1`` (``make test-cluster``) on a machine that allows it
(Linux, root, ``ip netns``, ``unshare``, Java); skipped with the reason otherwise. Hosts:
``head`` (the Ray head, the Spark master), ``worker`` (a Ray worker node, the Spark worker)
and ``driver`` (where every toolkit command runs; a Ray node with no CPUs, so Ray work runs
on the other two). Each has one logical CPU for Ray, so two Ray Train workers are on two hosts.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BOOT_TIMEOUT_S, RAY_PORT, REPO, SPARK_PORT, ray_status, start_ray_node  # noqa: E402
from hosts import Cluster, can_run, namespaces, wait_for  # noqa: E402

BASE_ROOT = REPO / "build" / "cluster"


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def cluster():
    if os.environ.get("TOOLKIT_CLUSTER_TESTS") != "1":
        pytest.skip("the multi-host harness (Ray and Spark across network namespaces, 4.5 to 7 minutes) runs in "
                    "`make test-cluster` (TOOLKIT_CLUSTER_TESTS=1)")
    reason = can_run()
    if reason is not None:
        pytest.skip(f"the multi-host harness cannot run here: {reason}")
    c = Cluster(BASE_ROOT)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM (a CI timeout) still runs the teardown
    try:
        c.open()
        for name in ("head", "worker", "driver"):
            c.add_host(name)
        yield c
    finally:
        c.close()
        signal.signal(signal.SIGTERM, previous)
        left = [ns for ns in namespaces() if ns.startswith(c.tag)]
        assert not left, f"namespaces left behind: {left}"
        assert not c.base.exists() or os.environ.get("TOOLKIT_CLUSTER_KEEP") == "1"


@pytest.fixture(scope="session")
def review_texts(polarity_path) -> list[str]:
    """800 sentences of the polarity corpus."""
    out: list[str] = []
    for path in sorted(polarity_path.glob("*/cv*.txt")):
        out += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(out) >= 800:
            break
    return out[:800]


@pytest.fixture(scope="module")
def ray_cluster(cluster):
    """A Ray cluster with token authentication: head (1 CPU), worker (1 CPU), driver (a node with 0 CPUs)."""
    head, worker, driver = (cluster.hosts[n] for n in ("head", "worker", "driver"))
    address = f"{head.ip}:{RAY_PORT}"
    t0 = time.monotonic()
    try:
        # Ray's token authentication: a token made on the head, copied to every host's ~/.ray (as an admin
        # would), and RAY_AUTH_MODE=token for every Ray process and client.
        head.run(["ray", "get-auth-token", "--generate"], timeout=60, check=True)
        token = (head.home / ".ray" / "auth_token").read_bytes()
        for host in (worker, driver):
            (host.home / ".ray").mkdir(parents=True, exist_ok=True)
            (host.home / ".ray" / "auth_token").write_bytes(token)
        cluster.env["RAY_AUTH_MODE"] = "token"
        start_ray_node(head, head, 1)
        wait_for(lambda: head.run(["ray", "status", "--address", address], timeout=30).returncode == 0,
                 BOOT_TIMEOUT_S, "the Ray head")
        start_ray_node(worker, head, 1)
        start_ray_node(driver, head, 0)
        wait_for(lambda: len(ray_status(head, address)) == 3, BOOT_TIMEOUT_S, "three Ray nodes")
        print(f"\nRay cluster up in {time.monotonic() - t0:.0f} s", flush=True)
        yield {"address": address, "head": head, "worker": worker, "driver": driver}
    finally:
        for host in (driver, worker, head):
            host.kill_processes()
        cluster.env.pop("RAY_AUTH_MODE", None)
        for host in (driver, worker, head):
            assert host.pids() == [], f"processes left on {host.name}"
            shutil.rmtree(host.tmp / "ray", ignore_errors=True)  # the nodes' session folders go with them


@pytest.fixture(scope="module")
def spark_cluster(cluster):
    """A Spark standalone cluster: the master on ``head``, a worker (2 cores) on ``worker``."""
    import pyspark

    head, worker, driver = (cluster.hosts[n] for n in ("head", "worker", "driver"))
    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    master = f"spark://{head.ip}:{SPARK_PORT}"
    logs = cluster.base / "logs"
    t0 = time.monotonic()
    try:
        head.start([spark_class, "org.apache.spark.deploy.master.Master", "--host", head.ip, "--port",
                    str(SPARK_PORT), "--webui-port", "8080"], "spark-master.log", env={"SPARK_LOCAL_IP": head.ip})
        wait_for(lambda: "I have been elected leader" in (logs / "spark-master.log").read_text(), BOOT_TIMEOUT_S,
                 "the Spark master")
        worker.start([spark_class, "org.apache.spark.deploy.worker.Worker", master, "--cores", "2", "--memory", "2g",
                      "--host", worker.ip, "--work-dir", worker.work / "spark"], "spark-worker.log",
                     env={"SPARK_LOCAL_IP": worker.ip})
        wait_for(lambda: "Successfully registered with master" in (logs / "spark-worker.log").read_text(),
                 BOOT_TIMEOUT_S, "the Spark worker")
        print(f"\nSpark cluster up in {time.monotonic() - t0:.0f} s", flush=True)
        yield {"master": master, "head": head, "worker": worker, "driver": driver}
    finally:
        for host in (driver, worker, head):
            host.kill_processes()
            assert host.pids() == [], f"processes left on {host.name}"
            shutil.rmtree(host.tmp / "hsperfdata_root", ignore_errors=True)  # the JVMs' own, gone with them
