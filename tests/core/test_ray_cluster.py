"""toolkit.core.ray_cluster without a cluster: where a local Ray keeps its session, and the fast refusals."""

from __future__ import annotations

import os
import socket
import time

import pytest

pytest.importorskip("ray")

from toolkit.core.errors import ClusterError  # noqa: E402
from toolkit.core.ray_cluster import RaySession, session_root  # noqa: E402


def test_a_local_ray_session_is_short_and_outside_tmpdir(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(deep))  # as `toolkit train` sets it: beside a deep --out
    monkeypatch.delenv("RAY_TMPDIR", raising=False)
    root = session_root()
    try:
        assert not root.startswith(str(tmp_path)) and root.startswith("/tmp/toolkit-ray-")
        # Ray's longest socket path: <root>/session_<date>_<time>_<pid>/sockets/plasma_store
        assert len(f"{root}/session_2026-12-03_14-18-17_927447_4194304/sockets/plasma_store") <= 107
    finally:
        os.rmdir(root)
    (tmp_path / "ray").mkdir()
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "ray"))  # Ray's own setting is respected
    assert session_root().startswith(str(tmp_path / "ray" / "toolkit-ray-"))


@pytest.fixture
def listener():
    """A TCP port that accepts connections (as a head's GCS port would) but is no Ray."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_an_address_without_a_ray_node_on_this_machine_fails_at_once(listener, monkeypatch):
    from ray._private import services

    monkeypatch.setattr(services, "find_node_ids", lambda: [])  # no raylet runs here
    t0 = time.perf_counter()
    with pytest.raises(ClusterError, match=r"no Ray node runs on this machine.*ray start --address "):
        with RaySession(listener):
            pass
    assert time.perf_counter() - t0 < 5


def test_ray_client_is_refused_where_ray_data_runs(listener):
    with pytest.raises(ClusterError, match=r"Ray Data does not run through Ray Client"):
        with RaySession("ray://" + listener, client=False):
            pass
