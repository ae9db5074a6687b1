"""The ``local`` engine: the onnxruntime runtime in this process, or in ``workers`` processes.

With ``workers > 1`` the driver reads each file in chunks, sends only the texts
of a chunk to a ``concurrent.futures.ProcessPoolExecutor`` (each worker process
loads the bundle once, in its initializer) and writes the scored chunks in
input order. At most ``2 * workers`` chunks are in flight, so memory stays
bounded; one file is finished (and renamed into place) before the next starts.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from toolkit.core.errors import ScoringError
from toolkit.serving.scoring.core import TableScorer, with_scores
from toolkit.serving.scoring.io import FileSink, Job, read_chunks, text_values

_WORKER: TableScorer | None = None


def _init_worker(bundle: str, threads: int | None, batch_size: int, parent: int) -> None:
    global _WORKER
    _watch_parent(parent)
    _WORKER = TableScorer(bundle, threads=threads, batch_size=batch_size)


def _watch_parent(parent: int, every: float = 1.0) -> None:
    """Exit when the driver is gone: a killed driver (SIGKILL) cannot shut the pool down, and a
    worker blocked on the pool's queue would otherwise wait for ever."""
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="toolkit-parent-watch", daemon=True).start()


def _score_in_worker(texts: list[str]) -> np.ndarray:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.score(texts)


class LocalEngine:
    """Score jobs one after another; ``advance(n)`` is called after each written chunk."""

    def __init__(self, bundle: Path, *, text_field: str, label_column: str, fmt: str, chunk_rows: int,
                 workers: int = 1, threads: int | None = None, batch_size: int = 64):
        self.bundle = bundle
        self.text_field = text_field
        self.label_column = label_column
        self.fmt = fmt
        self.chunk_rows = chunk_rows
        self.workers = max(1, int(workers))
        self.threads = threads
        self.batch_size = batch_size
        self._pool: ProcessPoolExecutor | None = None
        self._scorer: TableScorer | None = None
        self.labels: list[str] = []
        self.thresholds: list[float] | None = None  # a multi-label bundle's (the label column lists labels)

    def __enter__(self) -> "LocalEngine":
        if self.workers == 1:
            self._scorer = TableScorer(self.bundle, self.text_field, self.label_column, threads=self.threads,
                                       batch_size=self.batch_size)
            self.labels = self._scorer.labels
            self.thresholds = self._scorer.thresholds
        else:
            from toolkit.serving.scoring.core import bundle_labels, bundle_thresholds

            self.labels = bundle_labels(self.bundle)
            self.thresholds = bundle_thresholds(self.bundle)
            # spawn: a clean interpreter per worker, safe whatever threads this process runs
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                initargs=(str(self.bundle), self.threads or 1, self.batch_size, os.getpid()),
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, job: Job, advance: Callable[[int], None]) -> int:
        """Score one input file into its output; returns the number of rows."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            with FileSink(job.out, self.fmt) as sink:
                if self._pool is None:
                    self._run_inline(job, sink, advance)
                else:
                    self._run_pool(job, sink, advance)
        except BrokenProcessPool as exc:
            raise ScoringError(f"a worker process died while scoring {job.source} (out of memory, killed, or the "
                               f"bundle failed to load in it); no output was written for it") from exc
        return sink.rows

    def _run_inline(self, job: Job, sink: FileSink, advance: Callable[[int], None]) -> None:
        assert self._scorer is not None
        for table, first_row in read_chunks(job, self.text_field, self.chunk_rows):
            sink.write(self._scorer.score_table(table, job.name, first_row))
            advance(table.num_rows)

    def _run_pool(self, job: Job, sink: FileSink, advance: Callable[[int], None]) -> None:
        assert self._pool is not None
        inflight: collections.deque[tuple[Any, Future]] = collections.deque()

        def write_oldest() -> None:
            table, future = inflight.popleft()
            sink.write(with_scores(table, future.result(), self.labels, self.label_column, self.thresholds))
            advance(table.num_rows)

        try:
            for table, first_row in read_chunks(job, self.text_field, self.chunk_rows):
                texts = text_values(table, self.text_field, job.name, first_row)
                inflight.append((table, self._pool.submit(_score_in_worker, texts)))
                while len(inflight) >= 2 * self.workers:
                    write_oldest()
            while inflight:
                write_oldest()
        finally:
            for _, future in inflight:
                future.cancel()


def score_local(jobs: Sequence[Job], bundle: Path, advance: Callable[[int], None], done: Callable[[Job, int], None],
                **options: Any) -> list[str]:
    """Run every job with a :class:`LocalEngine`; returns the bundle's labels."""
    with LocalEngine(bundle, **options) as engine:
        for job in jobs:
            done(job, engine.run(job, advance))
        return engine.labels
