"""Scratch files of the Ray workers that train: kept in a folder of their own, never left on a node.

TensorFlow writes files of its own while it traces a step (autograph's
generated modules) into the temporary folder of the process. On this machine
the command points that folder beside its output (``atomic.private_tempdir``);
a Ray worker on another node has only that node's ``/tmp``. :func:`worker_scratch`
gives each training function a folder there,
``.toolkit-worker.toolkit-tmp-<pid>-<host>-XXXX``, removed when it returns.
A worker that Ray kills (a failed run, a lost node) cannot remove it, so after
a run :func:`sweep_nodes` removes from every live node the folders of workers
that no longer exist (never a live worker's).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Iterator

SCRATCH = "toolkit-worker"
#: How long a node waits for the workers Ray is stopping to be gone, and the driver for the nodes.
SWEEP_WAIT_S = 10.0


@contextlib.contextmanager
def worker_scratch() -> Iterator[Path]:
    """Point ``tempfile`` and ``$TMPDIR`` at a new folder in this worker's temporary folder, removed after."""
    from toolkit.core.atomic import private_tempdir

    with private_tempdir(Path(tempfile.gettempdir()) / SCRATCH) as folder:
        yield folder


def sweep_here(wait: float = SWEEP_WAIT_S) -> int:
    """On a node: remove the scratch folders of workers that are gone, waiting up to ``wait`` seconds for
    the ones still running to end; returns how many were removed."""
    from toolkit.core.atomic import TEMP_MARK, remove_path, stale_temp_paths

    root = Path(tempfile.gettempdir())
    removed = 0
    deadline = time.monotonic() + wait
    while True:
        for path in stale_temp_paths(root, SCRATCH):
            removed += remove_path(path)
        if not list(root.glob(f".{SCRATCH}.{TEMP_MARK}-*")) or time.monotonic() > deadline:
            return removed
        time.sleep(0.5)


def sweep_nodes(wait: float = SWEEP_WAIT_S) -> None:
    """Run :func:`sweep_here` on every live node with CPUs (where workers run) of the connected Ray cluster
    (best effort, bounded)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0, max_retries=0)(sweep_here)
    refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(wait)
            for node in ray.nodes() if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0]
    try:
        ray.get(refs, timeout=wait + 20)
    except Exception:  # a node lost meanwhile: its /tmp went with it, or the next run there sweeps it
        pass
