"""What the cluster tests share: running toolkit on a host, its one-line errors, what a clean cluster is,
the inputs and their expected scores, starting Ray nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hosts import Cluster, Host, wait_for

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO / "toolkit" / "serving" / "models" / "default"
RAY_PORT = 6379
SPARK_PORT = 7077
#: What a host's /tmp may hold after a run: the Ray node's session folder (of `ray start`, not of toolkit),
#: onnxruntime's per-machine telemetry file, the JVM's performance-data folder.
DAEMON_FILES = {"ray", ".ses", "hsperfdata_root"}
BOOT_TIMEOUT_S = 120


def toolkit(host: Host, *args: str, timeout: float = 300, env: dict | None = None):
    """``toolkit ARGS`` on ``host``; the completed process (its output kept for the assertions)."""
    return host.run(["toolkit", *args], timeout=timeout, env=env)


def one_line_error(result) -> str:
    """The error a failed command printed: exactly one line starting with ``Error:`` at the end of stderr."""
    assert result.returncode != 0, f"expected a failure, got rc 0: {result.stdout[-2000:]}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"not one error line:\n{result.stderr[-4000:]}"
    return errors[0]


def assert_clean(cluster: Cluster, wait: float = 30) -> None:
    """No toolkit temporary file or folder anywhere: not in any host's /tmp (beyond the daemons' own files,
    and after Spark's executors have removed theirs), not in the shared storage."""
    def daemons(host: Host, name: str) -> bool:
        # a Spark worker's local folder lives as long as the worker; each executor's files in it go with it
        spark_local = name.startswith("spark-") and not any(p.is_file() for p in (host.tmp / name).rglob("*"))
        return name in DAEMON_FILES or spark_local

    def host_leftovers() -> dict[str, list[str]]:
        found = {h.name: [n for n in h.tmp_entries() if not daemons(h, n)] for h in cluster.hosts.values()}
        return {name: extra for name, extra in found.items() if extra}

    try:
        wait_for(lambda: not host_leftovers(), wait, "hosts' /tmp clean", interval=1)
    except AssertionError:
        raise AssertionError(f"left in the hosts' /tmp: {host_leftovers()}") from None
    temp = [str(p.relative_to(cluster.shared)) for p in cluster.shared.rglob("*") if ".toolkit-" in p.name]
    assert not temp, f"temporary work left in the shared storage: {temp}"


def write_reviews(folder: Path, texts: list[str]) -> dict[str, dict[int, str]]:
    """Two inputs with ids (not in order): ``reviews.jsonl`` and ``more.csv``; returns {file: {id: text}}."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    half = len(texts) * 3 // 5
    first = {1000 + 7 * i: t for i, t in enumerate(texts[:half])}
    second = {5 + 3 * i: t for i, t in enumerate(texts[half:])}
    with open(folder / "reviews.jsonl", "w", encoding="utf-8") as fh:
        for i, t in reversed(list(first.items())):
            fh.write(json.dumps({"review_id": i, "text": t}) + "\n")
    with open(folder / "more.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["review_id", "text"])
        for i, t in second.items():
            w.writerow([i, t])
    return {"reviews.jsonl": first, "more.csv": second}


def ray_status(host: Host, address: str) -> dict:
    """``{node ip: CPUs}`` of the live nodes, asked from ``host``."""
    code = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); "
            "print(json.dumps({n['NodeManagerAddress']: n['Resources'].get('CPU', 0) "
            "for n in ray.nodes() if n['Alive']}))" % address)
    result = host.run(["python", "-c", code], timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def start_ray_node(host: Host, head: Host, cpus: int) -> None:
    args = ["ray", "start", "--block", "--disable-usage-stats", "--num-cpus", str(cpus), "--node-ip-address", host.ip]
    if host is head:
        args += ["--head", "--port", str(RAY_PORT), "--include-dashboard", "false"]
    else:
        args += ["--address", f"{head.ip}:{RAY_PORT}"]
    host.start(args, f"ray-{host.name}.log")


def predictions(bundle: Path, source: Path, tmp: Path) -> list[list[float]]:
    """``toolkit predict``'s probabilities for every row of ``source``, in order (run on this machine)."""
    out = tmp / f"{source.name}.predicted.jsonl"
    subprocess.run([str(Path(sys.executable).parent / "toolkit"), "predict", str(bundle), "--file", str(source),
                    "--out", str(out), "--overwrite"], check=True, capture_output=True, timeout=120)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return [[row["probabilities"]["NEGATIVE"], row["probabilities"]["POSITIVE"]] for row in rows]


def check_scored(out: Path, inputs: dict[str, dict[int, str]], tmp: Path) -> None:
    """Every input's output: its ids and texts in the input's order, and ``toolkit predict``'s scores (<= 1e-6)."""
    import numpy as np
    import pyarrow.parquet as pq

    for name, rows in inputs.items():
        source = out.parent / "reviews" / name
        table = pq.read_table(out / f"{Path(name).stem}.parquet")
        order = list(rows) if name.endswith(".csv") else list(reversed(list(rows)))
        assert table.column_names == ["review_id", "text", "label", "p_NEGATIVE", "p_POSITIVE"]
        assert table.column("review_id").to_pylist() == order  # ids kept, rows in the input's order
        assert table.column("text").to_pylist() == [rows[i] for i in order]
        got = np.stack([table.column("p_NEGATIVE").to_numpy(), table.column("p_POSITIVE").to_numpy()], axis=1)
        want = np.asarray(predictions(DEFAULT_BUNDLE, source, tmp))
        assert np.abs(got - want).max() <= 1e-6
        assert table.column("label").to_pylist() == [("NEGATIVE", "POSITIVE")[k] for k in want.argmax(axis=1)]
    assert (out / "_SUCCESS").is_file()


#: Ray's own processes, which live as long as the node: its agents, and the detached actors Ray Data keeps
#: for every later job (they are Ray's, shared by all its users, and end with the cluster).
RAY_DAEMONS = {"ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::_StatsActor", "ray::ActorLocationTracker",
               "ray::_AutoscalingCoordinatorActor"}


#: What a Spark application runs on the hosts (its executor JVM, its Python workers).
SPARK_JOB = ("CoarseGrainedExecutorBackend", "pyspark.daemon", "pyspark.worker")


def assert_no_job_processes(cluster, wait: float = 60) -> None:
    """No toolkit command and no process of a job (a Ray worker, a Spark executor) is left on any host."""
    def left() -> dict[str, list[str]]:
        found = {}
        for host in cluster.hosts.values():
            cmds = [c for c in host.commands() if "toolkit" in c or (c.startswith("ray::") and c not in RAY_DAEMONS)
                    or any(job in c for job in SPARK_JOB)]
            if cmds:
                found[host.name] = cmds
        return found

    try:
        wait_for(lambda: not left(), wait, "the jobs' processes to end", interval=1)
    except AssertionError:
        raise AssertionError(f"processes left: {left()}") from None


def score_across_hosts(cluster, driver, review_texts: list[str], tmp: Path, out_name: str, *engine: str) -> None:
    """``toolkit score`` run on the driver with the bundle in the driver's own /tmp only (so the engine must
    send it as bytes), the reviews and the output on shared storage; the output equals ``toolkit predict``,
    and nothing is left behind on any host."""
    import shutil

    inputs = write_reviews(cluster.shared / "reviews", review_texts)
    shutil.copytree(DEFAULT_BUNDLE, driver.tmp / "bundle")
    try:
        out = cluster.shared / out_name
        result = toolkit(driver, "score", "/tmp/bundle", str(cluster.shared / "reviews"), *engine,
                         "--out", str(out), "--batch-size", "128")
        assert result.returncode == 0, result.stderr[-4000:]
        check_scored(out, inputs, tmp)
    finally:
        shutil.rmtree(driver.tmp / "bundle")
    assert_clean(cluster)
    assert_no_job_processes(cluster)
