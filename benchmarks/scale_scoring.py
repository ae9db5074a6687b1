"""Scoring at scale: `toolkit score` engines side by side on a synthetic set of >= 1,000,000 reviews.

    python -m benchmarks.scale_scoring            # 1,000,000 documents (about 10-20 min on 2 cores)
    python -m benchmarks.scale_scoring --quick    # 100,000 documents
    python -m benchmarks.scale_scoring --out some.json

The set is built from the polarity reviews (windows of 1-3 consecutive
sentences, so lengths vary like short reviews) as 10 Parquet files in a
temporary folder, deleted afterwards. Every run happens in its own
process, so the peak memory (VmHWM) is that run's driver alone:

* ``bare``: ``Runtime.score`` over the same files, one process, nothing written
  (run first and last; the faster of the two is the reference, as the load of a shared
  machine drifts);
* ``local-1``, ``local-2``: ``score_files(engine="local", workers=1|2)``;
* ``ray-1``, ``ray-2``: Ray Data with 1 or 2 actors on a local 2-CPU Ray (started and stopped in the run);
* ``spark``: ``predict_batch_udf`` on ``local[2]`` (session start included).

Reported: docs/s, the ratio to ``bare``, the ratio to ``local-2``, the
overhead per document over the bare runtime in core-microseconds
(``cores / rate - 1 / bare_rate``), and the driver's peak memory for 10% of the
set vs all of it. `benchmarks.run` calls :func:`part_scale_scoring`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import BENCH_DIR, REPO, machine_info, peak_rss_mib

FILES = 10  # the set is cut into this many Parquet files; the memory check scores one of them vs all
DEFAULT_OUT = BENCH_DIR / "results_scale_scoring.json"
RUNS = {  # name -> (engine, options, cores it may use)
    "local-1": ("local", {"workers": 1}, 1),
    "local-2": ("local", {"workers": 2}, 2),
    "ray-1": ("ray", {"concurrency": 1, "num_cpus": 2}, 1),
    "ray-2": ("ray", {"concurrency": 2, "num_cpus": 2}, 2),
    "spark": ("spark", {"master": "local[2]"}, 2),
}


def log(message: str) -> None:
    print(message, flush=True)


def polarity_sentences() -> list[str]:
    base = Path(os.environ.get("TOOLKIT_POLARITY_DIR", REPO.parent / "shared" / "data" / "review_polarity"))
    base = base / "txt_sentoken" if (base / "txt_sentoken").is_dir() else base
    out: list[str] = []
    for path in sorted(base.glob("*/cv*.txt")):
        out += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not out:
        raise SystemExit(f"no polarity reviews under {base}; set TOOLKIT_POLARITY_DIR")
    return out


def build_set(folder: Path, n_docs: int) -> list[Path]:
    """``n_docs`` reviews as ``FILES`` Parquet files: windows of 1-3 consecutive sentences."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sents = polarity_sentences()
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    per_file = -(-n_docs // FILES)
    for k, start in enumerate(range(0, n_docs, per_file)):
        ids = range(start, min(n_docs, start + per_file))
        texts = []
        for i in ids:
            width = 1 + (i * 7919) % 3
            first = (i * 104_729) % (len(sents) - width)
            texts.append(" ".join(sents[first:first + width]))
        path = folder / f"reviews-{k:03d}.parquet"
        pq.write_table(pa.table({"id": list(ids), "text": texts}), path, row_group_size=20_000)
        files.append(path)
    return files


# ---------------------------------------------------------------------------
# one run, in its own process
# ---------------------------------------------------------------------------
def child(spec: dict) -> dict:
    """Run one measurement; returns docs, seconds and the driver's peak memory."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    inputs = [Path(p) for p in spec["inputs"]]
    start = time.perf_counter()
    if spec["engine"] == "bare":
        import pyarrow.parquet as pq

        from toolkit.serving.runtime import Runtime

        runtime = Runtime.load(REPO / "toolkit" / "serving" / "models" / "default")
        docs = 0
        for path in inputs:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=4096, columns=["text"]):
                docs += len(runtime.score(batch.column(0).to_pylist()))
    else:
        from toolkit.serving.scoring import score_files

        summary = score_files(None, inputs, spec["out"], engine=spec["engine"], progress=False, **spec["options"])
        docs = summary.documents
    seconds = time.perf_counter() - start
    return {"docs": docs, "seconds": seconds, "docs_per_s": docs / seconds, "driver_peak_mib": peak_rss_mib()}


def run_child(spec: dict, timeout: float = 3600) -> dict:
    env = dict(os.environ, PYTHONHASHSEED="0")
    load_before = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scale_scoring", "--child", json.dumps(spec)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['engine']} run failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    # The machine's 1-minute load around the run: other work on the cores shows up here, not in docs/s.
    row["load_avg"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    return row


# ---------------------------------------------------------------------------
# the whole comparison
# ---------------------------------------------------------------------------
def measure(n_docs: int, work: Path, runs: list[str]) -> dict[str, Any]:
    log(f"[scale scoring] building {n_docs:,} reviews in {work}")
    t0 = time.perf_counter()
    files = build_set(work / "in", n_docs)
    log(f"  built {len(files)} Parquet files in {time.perf_counter() - t0:.0f}s")
    rows: dict[str, Any] = {}

    def one(name: str, engine: str, options: dict, inputs: list[Path]) -> dict:
        out = work / f"out-{name}"
        row = run_child({"engine": engine, "options": options, "inputs": [str(p) for p in inputs], "out": str(out)})
        shutil.rmtree(out, ignore_errors=True)
        log(f"  {name}: {row['docs']:,} docs in {row['seconds']:.1f}s = {row['docs_per_s']:,.0f} docs/s, "
            f"driver peak {row['driver_peak_mib']:.0f} MiB, load {row['load_avg'][0]}-{row['load_avg'][1]}")
        return row

    first = one("bare", "bare", {}, files)
    for name in runs:
        engine, options, cores = RUNS[name]
        rows[name] = {**one(name, engine, options, files), "cores": cores, "options": options}
    # The bare runtime first and last: on a shared machine the load drifts; the faster of the two is the reference.
    last = one("bare-again", "bare", {}, files)
    rows["bare"] = {**max(first, last, key=lambda r: r["docs_per_s"]), "first": first, "last": last}
    bare = rows["bare"]["docs_per_s"]
    base2 = rows.get("local-2", {}).get("docs_per_s")
    for name in runs:
        row = rows[name]
        row["ratio_to_bare"] = row["docs_per_s"] / bare
        row["ratio_to_local_2"] = row["docs_per_s"] / base2 if base2 else None
        row["overhead_core_us_per_doc"] = (row["cores"] / row["docs_per_s"] - 1 / bare) * 1e6
    small = files[: max(1, len(files) // 10)]
    memory = {"small_docs": -(-n_docs // FILES) * len(small), "large_docs": n_docs}
    for name in ("local-1", "local-2"):
        if name in runs:
            engine, options, _ = RUNS[name]
            small_row = one(f"{name}-small", engine, options, small)
            large = rows[name]["driver_peak_mib"]
            memory[name] = {"small_peak_mib": small_row["driver_peak_mib"], "large_peak_mib": large,
                            "growth": large / small_row["driver_peak_mib"] - 1}
    return {"n_docs": n_docs, "files": len(files), "bare_docs_per_s": bare, "runs": rows, "memory": memory}


def markdown(res: dict) -> str:
    lines = [f"Scoring at scale: {res['n_docs']:,} reviews in {res['files']} Parquet files "
             f"(bare runtime {res['bare_docs_per_s']:,.0f} docs/s, one process)", "",
             "| run | docs/s | x bare | x local-2 | overhead (core-us/doc) | driver peak MiB |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, row in res["runs"].items():
        if name == "bare":
            continue
        vs2 = f"{row['ratio_to_local_2']:.2f}" if row.get("ratio_to_local_2") else "-"
        lines.append(f"| {name} | {row['docs_per_s']:,.0f} | {row['ratio_to_bare']:.2f} | {vs2} | "
                     f"{row['overhead_core_us_per_doc']:.0f} | {row['driver_peak_mib']:.0f} |")
    lines.append("")
    for name, mem in res["memory"].items():
        if isinstance(mem, dict):
            lines.append(f"Driver peak, {name}: {mem['small_peak_mib']:.0f} MiB for {res['memory']['small_docs']:,} "
                         f"docs vs {mem['large_peak_mib']:.0f} MiB for {res['memory']['large_docs']:,} "
                         f"({mem['growth']:+.1%})  ")
    return "\n".join(lines)


def part_scale_scoring(results: dict, quick: bool) -> None:
    """Entry point for `benchmarks.run`: adds ``results["scale_scoring"]``."""
    results["scale_scoring"] = run(quick)


def run(quick: bool, runs: list[str] | None = None) -> dict:
    n_docs = 100_000 if quick else 1_000_000
    work = Path(tempfile.mkdtemp(prefix="toolkit-scale-"))
    try:
        t0 = time.perf_counter()
        res = measure(n_docs, work, runs or list(RUNS))
        res.update(quick=quick, seconds=time.perf_counter() - t0)
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 documents instead of 1,000,000")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = set(runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown run(s): {', '.join(sorted(unknown))}")
    res = run(args.quick, runs)
    res["machine"] = machine_info()
    res["command"] = "python -m benchmarks.scale_scoring " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    log(markdown(res))
    log(f"written: {args.out}")


if __name__ == "__main__":
    main()
