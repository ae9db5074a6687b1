"""Load test of `toolkit serve` against 127.0.0.1: throughput, latency, batching, memory.

    python -m benchmarks.load_http            # 30 s per row (about 5 minutes)
    python -m benchmarks.load_http --quick    # 5 s per row (about 1.5 minutes)

What it does, in one run on one machine:

1. Loads the bundle in process (the reference probabilities of every review).
2. Starts three ``toolkit serve`` subprocesses on 127.0.0.1, each on a free
   port: the default (micro-batching on), ``--no-batching``, and
   ``--workers 2`` (one process per core); waits for /readyz and warms each up
   at concurrency 64 (every review at least once; longer for the default,
   whose RSS (VmRSS) is then read).
3. An asyncio client (one keep-alive HTTP/1.1 connection per concurrent
   caller) sends one-review requests to the default server at concurrency 1
   and 8, each bounded by ``--seconds`` and ``--max-requests``.
4. Concurrency 64: the three servers and in-process ``Runtime.score``
   (batch 64, the same reviews) take turns in slices of 5 s (at least 5
   slices) until each has had
   ``--seconds``, so the other work on this machine weighs on all of them
   alike; the ratios (server vs in-process, batching on vs off) come from these.
5. Every answer is checked: status 200, its own id, and probabilities equal to
   the in-process ones (1e-5); anything else is an error. RSS of the default
   server again at the end; the batch-size histograms from /metrics.

The client runs on the same cores as the server (this machine has 2, shared
with whatever else runs): figures are a floor for the server, and the client's
own CPU time is reported next to the server's. The client is a small asyncio
HTTP/1.1 client written here (see :class:`Connection` for why not httpx;
locust would add gevent and more CPU per request than either).

``run(quick=False, ...)`` returns the results dict and writes ``--out``;
``markdown(results)`` renders the table (for benchmarks/run.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .common import BENCH_DIR, REPO, machine_info

DEFAULT_BUNDLE = REPO / "toolkit" / "serving" / "models" / "default"
DEFAULT_OUT = BENCH_DIR / "results_load_http.json"
LEVELS = (1, 8, 64)
#: (key, extra `toolkit serve` options): the default server (every level), then the comparisons at
#: concurrency 64: micro-batching off, and one worker process per core.
CONFIGS = (
    ("batching_on", []),
    ("batching_off", ["--no-batching"]),
    ("two_workers", ["--workers", "2"]),
)
#: Concurrency 64 is measured in turns of this many seconds per configuration (shorter with --quick:
#: at least MIN_SLICES turns).
SLICE_S = 5.0
MIN_SLICES = 5
TARGET_RATIO_IN_PROCESS = 0.6
TARGET_RSS_GROWTH = 0.10
TOLERANCE = 1e-5


# ---------------------------------------------------------------------------
# data and baseline
# ---------------------------------------------------------------------------
def polarity_texts(limit: Optional[int] = None) -> list[str]:
    env = os.environ.get("TOOLKIT_POLARITY_DIR")
    base = Path(env) if env else REPO.parent / "shared" / "data" / "review_polarity"
    root = base / "txt_sentoken" if (base / "txt_sentoken").is_dir() else base
    files = sorted(root.glob("*/cv*.txt"))
    if not files:
        raise SystemExit(f"no polarity reviews under {root}; set TOOLKIT_POLARITY_DIR")
    files = files[:limit] if limit else files
    return [f.read_text(encoding="utf-8") for f in files]


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes under --workers)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants."""
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Server:
    """`toolkit serve` in a subprocess on 127.0.0.1; a context manager that always stops it."""

    def __init__(self, bundle: Path, extra: list[str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [sys.executable, "-m", "toolkit.cli", "serve", str(bundle), "--host", "127.0.0.1",
                    "--port", str(self.port), "--no-access-log", "--log-level", "warning", *extra]
        self.log = tempfile.TemporaryFile()
        self.proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "Server":
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the server was not ready within 60 s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-3000:]

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def metrics(self) -> str:
        import httpx

        return httpx.get(self.url + "/metrics", timeout=10).text


def histogram_mean(metrics_text: str, name: str) -> Optional[float]:
    total = re.search(rf"^{name}_sum (\S+)$", metrics_text, re.M)
    count = re.search(rf"^{name}_count (\S+)$", metrics_text, re.M)
    if not total or not count or float(count.group(1)) == 0:
        return None
    return float(total.group(1)) / float(count.group(1))


def _sample(metrics_text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", metrics_text, re.M)
    return float(match.group(1)) if match else 0.0


def batching_at_64(before: str, after: str) -> dict[str, Optional[float]]:
    """Mean documents per model call, and the batcher's milliseconds per document, between two scrapes.

    With ``--workers 2`` a scrape reaches one worker, so these describe that one.
    """
    calls = _sample(after, "toolkit_batch_size_documents_count") - _sample(before, "toolkit_batch_size_documents_count")
    docs = _sample(after, "toolkit_batch_size_documents_sum") - _sample(before, "toolkit_batch_size_documents_sum")
    secs = _sample(after, "toolkit_batch_duration_seconds_sum") - _sample(before, "toolkit_batch_duration_seconds_sum")
    return {
        "c64_mean_batch_docs": docs / calls if calls > 0 else None,
        "c64_batcher_ms_per_doc": 1000 * secs / docs if docs > 0 else None,
    }


def histogram_max_bucket(metrics_text: str, name: str) -> Optional[float]:
    """Smallest bucket bound holding every observation (an upper bound of the largest batch)."""
    count = re.search(rf"^{name}_count (\S+)$", metrics_text, re.M)
    if not count:
        return None
    n = float(count.group(1))
    for bound, value in re.findall(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', metrics_text, re.M):
        if float(value) >= n and bound != "+Inf":
            return float(bound)
    return None


# ---------------------------------------------------------------------------
# the client: keep-alive HTTP/1.1 over asyncio streams
# ---------------------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection; requests go one after the other (no pipelining).

    Written here rather than using httpx: on this machine httpx.AsyncClient spent
    about 6 ms of CPU per request at concurrency 64 (its pool scans every
    connection), so on 2 shared cores the client, not the server, set the pace.
    This client parses only what the server sends (status line, Content-Length).
    """

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: Optional[asyncio.StreamReader] = None
        self.writer: Optional[asyncio.StreamWriter] = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
        self.writer.write(head + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, payload


async def _load(url: str, texts: list[str], expected: np.ndarray, labels: list[str], concurrency: int,
                seconds: float, max_requests: int, offset: int) -> dict[str, Any]:
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = {"next": 0}
    bodies = [json.dumps({"text": text, "ids": [i]}).encode("utf-8") for i, text in enumerate(texts)]
    deadline = time.perf_counter() + seconds

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def caller() -> None:
        conn = Connection(host, int(port))
        try:
            while time.perf_counter() < deadline and counter["next"] < max_requests:
                k = counter["next"]
                counter["next"] += 1
                i = (offset + k) % len(texts)
                t0 = time.perf_counter()
                try:
                    status, payload = await conn.post("/v1/score", bodies[i])
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    error(type(exc).__name__)
                    await conn.close()
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    error(f"status {status}")
                    continue
                result = json.loads(payload)["results"][0]
                got = np.array([result["probabilities"][label] for label in labels])
                if result.get("id") != i or np.abs(got - expected[i]).max() > TOLERANCE:
                    error("wrong answer")
        finally:
            await conn.close()

    client_cpu0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    return {
        "concurrency": concurrency,
        "seconds": wall,
        "requests": len(latencies),
        "docs_per_s": len(latencies) / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "client_cpu_s": time.process_time() - client_cpu0,
        "_latencies_ms": lat if latencies else np.array([]),
    }


def load_level(server: Server, texts: list[str], expected: np.ndarray, labels: list[str], concurrency: int,
               seconds: float, max_requests: int, offset: int = 0) -> dict[str, Any]:
    cpu0 = cpu_seconds(server.proc.pid)
    row = asyncio.run(_load(server.url, texts, expected, labels, concurrency, seconds, max_requests, offset))
    row["server_cpu_s"] = cpu_seconds(server.proc.pid) - cpu0
    return row


# ---------------------------------------------------------------------------
# the whole run
# ---------------------------------------------------------------------------
def merge_slices(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the interleaved slices of one server configuration."""
    wall = sum(r["seconds"] for r in slices)
    requests = sum(r["requests"] for r in slices)
    lat = np.concatenate([r["_latencies_ms"] for r in slices]) if requests else np.array([float("nan")])
    errors: dict[str, int] = {}
    for r in slices:
        for kind, n in r["error_kinds"].items():
            errors[kind] = errors.get(kind, 0) + n
    return {
        "concurrency": slices[0]["concurrency"], "seconds": wall, "requests": requests,
        "docs_per_s": requests / wall, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
        "errors": sum(errors.values()), "error_kinds": errors, "slices": len(slices),
        "client_cpu_s": sum(r["client_cpu_s"] for r in slices), "server_cpu_s": sum(r["server_cpu_s"] for r in slices),
    }


def public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def run(quick: bool = False, bundle: Path = DEFAULT_BUNDLE, out: Optional[Path] = DEFAULT_OUT,
        seconds: Optional[float] = None, max_requests: int = 50_000, log=print) -> dict[str, Any]:
    """The whole load test (see the module docstring); returns the results and writes ``out`` (None: don't)."""
    import contextlib

    from toolkit.core.bundle import read_bundle
    from toolkit.serving.runtime import Runtime

    seconds = seconds if seconds is not None else (5.0 if quick else 30.0)
    texts = polarity_texts()
    labels = read_bundle(bundle, verify=False).labels
    rt = Runtime.load(bundle)  # onnxruntime's default threads, as a user scoring in process would
    expected = rt.score(texts, batch_size=64)  # warm-up, and the reference scores

    def in_process_pass() -> float:
        t0 = time.perf_counter()
        rt.score(texts, batch_size=64)
        return time.perf_counter() - t0

    results: dict[str, Any] = {
        "load_average_at_start": os.getloadavg(), "quick": quick, "seconds_per_level": seconds,
        "max_requests_per_level": max_requests, "bundle": str(bundle),
        "documents": len(texts), "levels": [],
    }
    rows = results["levels"]
    with contextlib.ExitStack() as stack:
        servers = {}
        for key, extra in CONFIGS:
            log(f"[load_http] starting `toolkit serve {' '.join(extra)}` and warming it up")
            server = servers[key] = stack.enter_context(Server(bundle, extra))
            # Warm-up at concurrency 64, every review at least once: onnxruntime's arena grows as it meets
            # new batch shapes, then stays flat (5-s samples after one pass: 152.8, 153.7, 154.3, 154.3,
            # 154.6, 154.8, 154.8, 154.8 MiB), so the server whose RSS is checked gets a longer warm-up.
            long_warmup = key == "batching_on"
            load_level(server, texts, expected, labels, 64, max(10.0, seconds) if long_warmup else 10.0,
                       (5 if long_warmup else 1) * len(texts))
        default = servers["batching_on"]
        rss_before = rss_mib(default.proc.pid)

        for k, concurrency in enumerate(LEVELS[:-1]):
            log(f"[load_http] batching_on, concurrency {concurrency}, {seconds:g} s")
            row = load_level(default, texts, expected, labels, concurrency, seconds, max_requests, offset=1000 * k)
            rows.append(public(dict(row, config="batching_on")))
            log(f"  {row['docs_per_s']:.0f} docs/s, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                f"errors {row['errors']}")

        # Concurrency 64: every configuration and the in-process baseline take turns in short slices, so
        # a change in the machine's load (other work shares these cores) falls on all of them alike.
        before64 = {key: servers[key].metrics() for key in servers}
        n_slices = max(MIN_SLICES, round(seconds / SLICE_S))
        keys = [key for key, _ in CONFIGS]
        parts: dict[str, list] = {key: [] for key in keys}
        passes: list[float] = []
        log(f"[load_http] concurrency 64: {', '.join(keys)} and in-process, interleaved in {n_slices} slices "
            f"of {seconds / n_slices:g} s")
        for i in range(n_slices):
            for key in keys[i % len(keys):] + keys[: i % len(keys)]:
                parts[key].append(load_level(servers[key], texts, expected, labels, 64, seconds / n_slices,
                                             max(1, max_requests // n_slices), offset=3000 + 997 * i))
            passes.append(in_process_pass())
        for key in keys:
            row = merge_slices(parts[key])
            rows.append(dict(row, config=key))
            log(f"  {key}: {row['docs_per_s']:.0f} docs/s, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                f"errors {row['errors']}")
        results["in_process"] = {
            "documents": len(texts), "batch_size": 64, "passes": len(passes), "seconds": sum(passes),
            "docs_per_s": len(texts) * len(passes) / sum(passes), "best_docs_per_s": len(texts) / min(passes),
        }
        log(f"  in-process: {results['in_process']['docs_per_s']:.0f} docs/s")
        rss_after = rss_mib(default.proc.pid)
        for key in keys:
            metrics = servers[key].metrics()
            results[key] = {
                "server_args": dict(CONFIGS)[key],
                "mean_batch_docs_all": histogram_mean(metrics, "toolkit_batch_size_documents"),
                "max_batch_docs_bucket": histogram_max_bucket(metrics, "toolkit_batch_size_documents"),
                **batching_at_64(before64[key], metrics),
            }
        results["batching_on"].update(rss_before_mib=rss_before, rss_after_mib=rss_after,
                                      rss_growth=rss_after / rss_before - 1)

    def at64(key: str) -> dict[str, Any]:
        return next(r for r in rows if r["config"] == key and r["concurrency"] == 64)

    base = results["in_process"]["docs_per_s"]
    results["ratios"] = {
        "c64_vs_in_process": at64("batching_on")["docs_per_s"] / base,
        "c64_two_workers_vs_in_process": at64("two_workers")["docs_per_s"] / base,
        "batching_on_vs_off_c64": at64("batching_on")["docs_per_s"] / at64("batching_off")["docs_per_s"],
        "server_cpu_per_doc_on_vs_off_c64": (at64("batching_on")["server_cpu_s"] / at64("batching_on")["requests"])
        / (at64("batching_off")["server_cpu_s"] / at64("batching_off")["requests"]),
    }
    results["checks"] = {
        "no_errors": all(r["errors"] == 0 for r in rows),
        "c64_vs_in_process_ge_0.6": results["ratios"]["c64_vs_in_process"] >= TARGET_RATIO_IN_PROCESS,
        "rss_growth_le_10pct": results["batching_on"]["rss_growth"] <= TARGET_RSS_GROWTH,
    }
    results["load_average_at_end"] = os.getloadavg()
    results["machine"] = machine_info()
    if out is not None:
        from toolkit.core.atomic import write_json

        write_json(out, results)
    return results


def markdown(results: dict[str, Any]) -> str:
    base = results["in_process"]
    lines = [
        f"Load test of `toolkit serve` on 127.0.0.1 ({results['machine']['cores']} cores shared by the client, the "
        f"servers and other work: load average (1 min) {results['load_average_at_start'][0]:.1f} at the start, "
        f"{results['load_average_at_end'][0]:.1f} at the end), one review per request, {results['seconds_per_level']:g} s "
        f"per row. At concurrency 64 the three servers and in-process `Runtime.score` (batch 64, the same "
        f"{results['documents']} reviews) took turns in {results['levels'][-1]['slices']} slices each; in process: "
        f"{base['docs_per_s']:.0f} docs/s (best pass {base['best_docs_per_s']:.0f}). Server CPU is per document "
        f"answered, all worker processes.",
        "",
        "| server | concurrency | docs/s | p50 ms | p99 ms | errors | requests | server CPU ms/doc | client CPU ms/doc |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"batching_on": "1 worker, batching on", "batching_off": "1 worker, batching off",
             "two_workers": "2 workers, batching on"}
    for r in results["levels"]:
        lines.append(
            f"| {names.get(r['config'], r['config'])} | {r['concurrency']} | {r['docs_per_s']:.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['requests']} | "
            f"{1000 * r['server_cpu_s'] / max(r['requests'], 1):.2f} | {1000 * r['client_cpu_s'] / max(r['requests'], 1):.2f} |"
        )
    ratios, on, off = results["ratios"], results["batching_on"], results["batching_off"]
    lines += [
        "",
        f"- concurrency 64 vs in-process batch scoring: **{ratios['c64_vs_in_process']:.2f}** with 1 worker, "
        f"**{ratios['c64_two_workers_vs_in_process']:.2f}** with 2 workers (goal >= 0.6)",
        f"- micro-batching on vs off at concurrency 64 (1 worker): **{ratios['batching_on_vs_off_c64']:.2f}x** "
        f"(mean batch {on['c64_mean_batch_docs'] or 0:.1f} vs {off['c64_mean_batch_docs'] or 0:.1f} documents; server "
        f"CPU per document {ratios['server_cpu_per_doc_on_vs_off_c64']:.2f}x; the batcher's wall time per document "
        f"{on['c64_batcher_ms_per_doc'] or 0:.2f} vs {off['c64_batcher_ms_per_doc'] or 0:.2f} ms)",
        f"- server RSS (1 worker, batching on): {on['rss_before_mib']:.0f} MiB after warm-up, "
        f"{on['rss_after_mib']:.0f} MiB after the load ({on['rss_growth'] * 100:+.1f}%, limit +10%)",
        "- checks: " + ", ".join(f"{k} {'pass' if v else 'FAIL'}" for k, v in results["checks"].items()),
    ]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s per level instead of 30 s")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per level (overrides --quick)")
    parser.add_argument("--max-requests", type=int, default=50_000, help="most requests per level")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    results = run(quick=args.quick, bundle=args.bundle, out=args.out, seconds=args.seconds,
                  max_requests=args.max_requests)
    print()
    print(markdown(results))
    return 0 if results["checks"]["no_errors"] else 1  # speed depends on the machine; wrong answers do not


if __name__ == "__main__":
    sys.exit(main())
