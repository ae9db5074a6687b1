"""What every machine of a cluster must see: the inputs, the output folder, a bundle sent by path, checkpoints.

On a Ray or Spark cluster the workers open the input files and write the
outputs (and Ray Train's checkpoints) themselves, so those paths must be on
storage that every node reaches at the same path: a shared file system (NFS,
Lustre, EFS...). A path that exists only on the driver (its ``/tmp``, a local
disk) fails on the workers, and a folder that exists on every node separately
(each machine's own disk at the same path) silently keeps what the workers
wrote away from the driver. Before a run on a cluster, :func:`check_ray_nodes`
(one task on every Ray node with CPUs) or :func:`check_spark_executors` (one
task per executor core) runs :func:`problems` there: every path to read must be
readable, and every folder to write must hold the file the driver just put in
it (so it is the same folder, not a look-alike) and be writable. The first
problem is raised as one line naming the machine, the path and what to do.
Standard library only at import; Ray and Spark are used through the objects
passed in.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from toolkit.core.errors import ClusterError, InputError, OutputNotWritableError

#: How long the workers may take to answer the check.
CHECK_TIMEOUT_S = 120.0
SHARED = "storage that every node reaches at the same path (a shared file system such as NFS)"


@dataclass(frozen=True)
class Need:
    """A path the workers use: ``what`` names it in messages; ``write``: a folder they write in."""

    what: str
    path: str
    write: bool = False
    hint: str = ""


def problems(needs: Sequence[tuple[str, str, str | None]]) -> tuple[str, list[tuple[int, str]]]:
    """Run on a worker: ``(hostname, [(index of the need, what is wrong: read|missing|separate|write)])``.

    ``needs``: ``(what, path, marker)``; ``marker`` is the name of the file the driver put in a folder
    to write, ``None`` for a path to read."""
    found = []
    for i, (_, path, marker) in enumerate(needs):
        if marker is None:
            if not os.access(path, os.R_OK):
                found.append((i, "read"))
        elif not os.path.isdir(path):
            found.append((i, "missing"))
        elif not os.path.exists(os.path.join(path, marker)):
            found.append((i, "separate"))
        elif not os.access(path, os.W_OK | os.X_OK):
            found.append((i, "write"))
    return socket.gethostname(), found


def _message(need: Need, host: str, kind: str) -> str:
    hint = f"; {need.hint}" if need.hint else ""
    if kind == "read":
        return (f"{need.what} {need.path} cannot be read on the cluster's node {host}: the workers open it "
                f"themselves, so it must be on {SHARED}{hint}")
    if kind == "missing":
        return (f"{need.what} {need.path} does not exist on the cluster's node {host}: the workers write there, "
                f"so it must be on {SHARED}{hint}")
    if kind == "separate":
        return (f"{need.what} {need.path} on the cluster's node {host} is not the driver's folder (a file the driver "
                f"wrote there is not seen): it must be on {SHARED}, not on each machine's own disk{hint}")
    return f"{need.what} {need.path} is not writable on the cluster's node {host}{hint}"


def raise_first(needs: Sequence[Need], answers: Sequence[tuple[str, list[tuple[int, str]]]]) -> None:
    """Raise the first problem any worker reported, as one line (with how many more there are)."""
    found = [(host, needs[i], kind) for host, items in answers for i, kind in items]
    if not found:
        return
    host, need, kind = found[0]
    more = f" (and {len(found) - 1} more such problem(s) on the cluster)" if len(found) > 1 else ""
    error = OutputNotWritableError if need.write else InputError
    raise error(_message(need, host, kind) + more)


@contextlib.contextmanager
def _marked(needs: Sequence[Need]) -> Iterator[list[tuple[str, str, str | None]]]:
    """The needs as :func:`problems` takes them, with a marker file in every folder to write (removed after)."""
    from toolkit.core.atomic import temp_path

    made: list[Path] = []
    probes: list[tuple[str, str, str | None]] = []
    try:
        for need in needs:
            if not need.write:
                probes.append((need.what, need.path, None))
                continue
            marker = temp_path(Path(need.path) / "shared-check")
            marker.touch()
            made.append(marker)
            probes.append((need.what, need.path, marker.name))
        yield probes
    finally:
        for marker in made:
            marker.unlink(missing_ok=True)


def check_ray_nodes(needs: Sequence[Need], timeout: float = CHECK_TIMEOUT_S) -> None:
    """Run :func:`problems` on every live Ray node that has CPUs (where the work runs); raise the first problem."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    if not needs or not nodes:
        return
    probe = ray.remote(num_cpus=0, max_retries=0)(problems)
    with _marked(needs) as probes:
        refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(probes) for n in nodes]
        try:
            answers = ray.get(refs, timeout=timeout)
        except ray.exceptions.GetTimeoutError as exc:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise ClusterError(f"the Ray nodes did not answer the shared-storage check within {timeout:.0f} s") \
                from exc
        except Exception as exc:  # toolkit missing on a node, a node lost meanwhile
            from toolkit.core.ray_cluster import failure_summary

            raise ClusterError(f"the shared-storage check failed on the Ray nodes: {failure_summary(exc)}") from exc
    raise_first(needs, answers)


def check_spark_executors(spark: Any, needs: Sequence[Need], timeout: float = CHECK_TIMEOUT_S) -> None:
    """Run :func:`problems` in one task per executor core; raise the first problem. Bounded: a cluster that
    runs no task within ``timeout`` seconds (no worker registered) is an error too."""
    if not needs:
        return
    sc = spark.sparkContext
    slots = max(1, int(sc.defaultParallelism))
    group = f"toolkit-shared-check-{os.getpid()}"
    timer = threading.Timer(timeout, sc.cancelJobGroup, args=(group,))
    with _marked(needs) as probes:
        sc.setJobGroup(group, "toolkit: can the executors see the inputs and the output?", True)
        timer.start()
        try:
            answers = sc.parallelize(range(slots), slots).mapPartitions(lambda _: [problems(probes)]).collect()
        except Exception as exc:
            if not timer.is_alive():
                raise ClusterError(f"the Spark executors did not run the shared-storage check within {timeout:.0f} "
                                   f"s; are workers registered with the master?") from exc
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise ClusterError(f"the shared-storage check failed on the Spark executors: {first[:300]}") from exc
        finally:
            timer.cancel()
            sc.setLocalProperty("spark.jobGroup.id", None)
    raise_first(needs, answers)
