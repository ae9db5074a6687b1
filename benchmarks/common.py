"""Shared benchmark helpers: machine facts, timing, matrix-multiply throughput."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "benchmarks"
WORK_DIR = REPO / "build" / "bench"

LIBRARIES = ("toolkit", "numpy", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "spacy", "gensim",
             "pluggy", "typer")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
    }


def best_of(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Smallest wall time of ``repeat`` runs after ``warmup`` runs (least disturbed by other load)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_gflops(n: int = 1024, repeat: int = 5) -> dict:
    """Measured float32 matrix-multiply throughput of this machine with numpy (BLAS), all cores.

    C = A @ B with A, B of n x n costs 2 n^3 floating-point operations; the best
    of ``repeat`` runs is taken.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    seconds = best_of(lambda: a @ b, repeat=repeat)
    return {"n": n, "seconds": seconds, "gflops": 2 * n**3 / seconds / 1e9}


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB.

    Read from ``VmHWM`` in /proc/self/status: ``ru_maxrss`` is kept across
    fork + exec on Linux, so a child of a large process would report its
    parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_json_subprocess(code: str, env: dict | None = None, timeout: float = 600) -> dict:
    """Run Python code in a fresh interpreter; it must print one JSON object on its last line."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                         timeout=timeout, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def mean_std(values) -> dict:
    values = [float(v) for v in values]
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }
