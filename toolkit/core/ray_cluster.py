"""A Ray cluster for both halves: ``toolkit score --engine ray`` and ``toolkit train --engine ray``.

:func:`import_ray` imports Ray (with a one-line error naming the extra) after
setting ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which Ray reads when it is
imported: a local Ray's GCS and node then bind 127.0.0.1. :class:`RaySession`
connects to ``--address`` (checked to answer within :data:`CONNECT_TIMEOUT_S`
seconds first, so a wrong address fails fast instead of hanging) or starts a
local Ray, refuses more workers than the cluster has CPUs, and stops only a Ray
it started. A local Ray keeps its session folder (logs, and the AF_UNIX sockets,
whose paths may not exceed 107 bytes) in a short folder of its own under
``$RAY_TMPDIR`` or ``/tmp``, never under ``$TMPDIR`` (which a command points
beside its output), removed when it stops. Connecting to ``--address``, the
driver's node address is the one this machine uses to reach the cluster (not
127.0.0.1), and a machine on which no Ray node runs is refused in one line.
Standard library only at import; Ray is imported inside functions.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from typing import Any, Sequence

from toolkit.core.errors import ClusterError

CONNECT_TIMEOUT_S = 10.0  # how long a cluster address may take to accept a connection
RAY_EXTRA = 'pip install "toolkit[ray]"'


def import_ray(parts: Sequence[str] = ("train", "tune"), what: str = "Ray Train and Tune"):
    """``ray`` with ``ray.<part>`` for each of ``parts``, or a one-line error naming the extra to install.

    Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when it is imported: it is set (to ``0``, a local Ray's
    GCS and node then bind 127.0.0.1) before the first import, unless the caller chose a value."""
    import importlib

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray

        for part in parts:
            importlib.import_module(f"ray.{part}")
    except ImportError as exc:
        raise ClusterError(f"--engine ray needs {what}, which is not installed: {RAY_EXTRA} ({exc})") from exc
    return ray


def _check_address(address: str, timeout: float) -> None:
    """Refuse an address whose host:port does not accept a TCP connection within ``timeout`` seconds."""
    if address in ("auto", "local") or address.startswith(("ray://", "anyscale://")):
        target = address.split("://", 1)[-1] if "://" in address else None
    else:
        target = address
    if not target:
        return
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--address {address!r} must look like HOST:PORT (the head node's GCS address, "
                            f"port 6379 by default) or ray://HOST:10001")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterError(f"the Ray cluster at --address {address} did not answer within {timeout:.0f} s "
                            f"({exc.strerror or exc}); check the address, or omit --address to start a local Ray") \
            from exc


def session_root() -> str:
    """A new folder for a local Ray's session: ``toolkit-ray-XXXXXXXX`` under ``$RAY_TMPDIR``, else ``/tmp``.

    Not under ``$TMPDIR``: a command points that beside its output (``atomic.private_tempdir``), and
    Ray's sockets (``<root>/session_<date>_<pid>/sockets/plasma_store``) may not exceed 107 bytes."""
    base = os.environ.get("RAY_TMPDIR") or ("/tmp" if os.access("/tmp", os.W_OK) else tempfile.gettempdir())
    return tempfile.mkdtemp(prefix="toolkit-ray-", dir=base)


def _check_local_node(address: str) -> None:
    """A driver joins the cluster through a Ray node on its own machine: refuse at once when none runs here
    (Ray itself waits a minute, then fails without saying why)."""
    from ray._private import services

    if not services.find_node_ids():
        raise ClusterError(f"no Ray node runs on this machine, and a driver reaches the cluster at --address "
                            f"{address} through one: join this machine first (`ray start --address {address} "
                            f"--num-cpus 0`), or run the command on a node of the cluster")


class RaySession:
    """``with RaySession(address, workers):`` connect to ``address`` or start a local Ray (127.0.0.1,
    ``num_cpus`` = the machine's cores, no dashboard, its session folder from :func:`session_root`,
    removed afterwards); refuse ``workers`` above the cluster's CPUs; stop only a Ray started here.
    Inside an already initialised Ray, use it as it is. ``client=False``: refuse a ``ray://`` address
    (Ray Client), for Ray Data, which does not run through it."""

    def __init__(self, address: str | None = None, workers: int = 1, num_cpus: int | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S, cpus_per_worker: float = 1.0, client: bool = True):
        self.address = address
        self.workers = workers
        self.num_cpus = num_cpus
        self.connect_timeout = connect_timeout
        self.cpus_per_worker = cpus_per_worker
        self.client = client
        self.started = False
        self._root: str | None = None

    def __enter__(self) -> "RaySession":
        ray = import_ray()
        if self.workers < 1:
            raise ClusterError(f"--workers must be at least 1, got {self.workers}")
        if not ray.is_initialized():
            env = {k: os.environ[k] for k in ("TOOLKIT_LOAD_PLUGINS", "PYTHONHASHSEED") if k in os.environ}
            if self.address is None:
                cpus = self.num_cpus or os.cpu_count() or 1
                self._check_cpus(cpus, "this machine")
                if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":  # imported before import_ray()
                    from ray._private import ray_constants

                    ray_constants.ENABLE_RAY_CLUSTER = False  # GCS and node on 127.0.0.1
                self._root = session_root()
                try:
                    ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR,
                             log_to_driver=False, runtime_env={"env_vars": env} if env else None,
                             _temp_dir=self._root)
                except BaseException:
                    self._remove_root()
                    raise
            else:
                if self.address.startswith("ray://") and not self.client:
                    raise ClusterError(f"--address {self.address}: Ray Data does not run through Ray Client "
                                        f"(ray://); run on a node of the cluster, or join this machine "
                                        f"(`ray start --address HEAD:6379 --num-cpus 0`) and pass --address HEAD:6379")
                _check_address(self.address, self.connect_timeout)
                if self.address not in ("auto", "local") and "://" not in self.address:
                    _check_local_node(self.address)
                ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False,
                         runtime_env={"env_vars": env} if env else None)
            self.started = True
        try:
            self._check_cpus(int(ray.cluster_resources().get("CPU", 0)), "the Ray cluster")
        except BaseException:
            self.__exit__()  # __exit__ is not called when __enter__ raises
            raise
        return self

    def _check_cpus(self, cpus: float, where: str) -> None:
        need = self.workers * self.cpus_per_worker
        if need > cpus:
            raise ClusterError(f"--workers {self.workers} needs {need:g} CPUs but {where} has {cpus:g}; lower "
                                f"--workers to {max(1, int(cpus // self.cpus_per_worker))} or add nodes")

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            import ray

            ray.shutdown()
        self._remove_root()

    def _remove_root(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def failure_summary(exc: BaseException, limit: int = 300) -> str:
    """The most telling line of a (possibly multi-line, nested) Ray error: the worker's own error."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for key in ("Error:", "Error(", "Exception:", "died", "exited"):
        for line in reversed(lines):
            if key in line and not line.startswith(("File ", "Traceback")):
                return line[:limit]
    return (lines[-1] if lines else type(exc).__name__)[:limit]
