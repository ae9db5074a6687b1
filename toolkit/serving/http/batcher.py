"""Micro-batching: gather concurrent requests into one scoring call, off the event loop.

A :class:`MicroBatcher` owns one worker thread. Request handlers call
:meth:`MicroBatcher.submit` (non-blocking: it only queues the texts) and await
the returned future; the worker thread takes the first waiting request, then
keeps taking requests until the batch holds ``max_batch_docs`` documents or
``max_wait_s`` has passed since it took the first one, and scores them all with
one call of ``score_fn`` (tokenizing included). Requests that arrive while the
model is busy wait in the queue and so form the next batch at once: under load
batches fill without waiting.

The wait is adaptive when the caller says whether more requests are on
their way (``more_coming``; the HTTP app counts requests it has received but
not yet handed over): the worker waits only while some are, so a lone caller is
scored at once instead of after ``max_wait_s``, and a batch that already holds
every request in the server is not held back. Without ``more_coming`` the
worker always waits up to ``max_wait_s``.

Guarantees:

* each request's future gets exactly its own rows, in its own order;
* a request is never split between batches (one larger than
  ``max_batch_docs`` is scored alone, still in one call);
* when scoring a batch raises, every request of the batch is scored again on
  its own, so only the request(s) that fail get the exception; the worker
  thread keeps running whatever ``score_fn`` raises;
* :meth:`stop` lets the queued requests finish, then ends the thread; requests
  submitted after it get :class:`BatcherClosed`;
* at most ``max_queue_docs`` documents wait; past that :meth:`submit` raises
  :class:`BatcherBusy` (the service answers 503) instead of queueing without bound.

onnxruntime releases the GIL while it runs the model, so the event loop keeps
serving other connections meanwhile. Nothing here imports FastAPI.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

logger = logging.getLogger("toolkit.serving.http")

ScoreFn = Callable[[Sequence[str]], np.ndarray]
#: ``on_batch(documents, requests, seconds, failed_requests)`` after each scoring call.
BatchHook = Callable[[int, int, float, int], None]


class BatcherBusy(RuntimeError):
    """The queue holds ``max_queue_docs`` documents already."""


class BatcherClosed(RuntimeError):
    """The batcher is stopping or stopped."""


@dataclass
class _Item:
    texts: Sequence[str]
    future: Future = field(default_factory=Future)


_STOP = object()


class MicroBatcher:
    """Score texts in batches on a worker thread (see the module docstring)."""

    def __init__(
        self,
        score_fn: ScoreFn,
        *,
        max_batch_docs: int = 64,
        max_wait_s: float = 0.002,
        max_queue_docs: int = 8192,
        batching: bool = True,
        on_batch: Optional[BatchHook] = None,
        more_coming: Optional[Callable[[], bool]] = None,
        name: str = "toolkit-batcher",
    ):
        if max_batch_docs < 1:
            raise ValueError(f"max_batch_docs must be >= 1, got {max_batch_docs}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.score_fn = score_fn
        self.max_batch_docs = max_batch_docs
        self.max_wait_s = max_wait_s
        self.max_queue_docs = max_queue_docs
        self.batching = batching
        self.on_batch = on_batch
        self.more_coming = more_coming or (lambda: True)
        self._queue: "queue.SimpleQueue[object]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued_docs = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    # -- life cycle ----------------------------------------------------------------
    def start(self) -> "MicroBatcher":
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    @property
    def queued_docs(self) -> int:
        return self._queued_docs

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Refuse new requests, let the queued ones finish, end the thread. True if it ended in time."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)  # after every accepted request: FIFO
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- requests ------------------------------------------------------------------
    def submit(self, texts: Sequence[str]) -> Future:
        """Queue ``texts``; the future gets their probabilities, float32 [len(texts), n_labels]."""
        item = _Item(list(texts))
        n = len(item.texts)
        with self._lock:
            if self._closed:
                raise BatcherClosed("the server is shutting down")
            if self._queued_docs + n > self.max_queue_docs:
                raise BatcherBusy(
                    f"{self._queued_docs} documents are waiting to be scored (limit max_queue_docs="
                    f"{self.max_queue_docs}); retry shortly"
                )
            self._queued_docs += n
            self._queue.put(item)
        return item.future

    # -- the worker thread -----------------------------------------------------------
    def _take(self, item: _Item) -> None:
        with self._lock:
            self._queued_docs -= len(item.texts)

    def _loop(self) -> None:
        carry: Optional[object] = None
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is _STOP:
                return
            assert isinstance(first, _Item)
            self._take(first)
            batch = [first]
            stopping = False
            if self.batching:
                docs = len(first.texts)
                deadline = time.monotonic() + self.max_wait_s
                while docs < self.max_batch_docs:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        # Wait only while more requests are on their way (see more_coming). No polling:
                        # a request that arrives puts itself in the queue, which wakes this thread.
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or not self.more_coming():
                            break
                        try:
                            nxt = self._queue.get(timeout=remaining)
                        except queue.Empty:
                            break
                    if nxt is _STOP:
                        stopping = True
                        break
                    assert isinstance(nxt, _Item)
                    if docs + len(nxt.texts) > self.max_batch_docs:
                        carry = nxt  # starts the next batch; taken (and counted off the queue) then
                        break
                    self._take(nxt)
                    batch.append(nxt)
                    docs += len(nxt.texts)
            try:
                self._run(batch)
            except BaseException as exc:  # noqa: BLE001 - the worker must outlive anything a batch does
                logger.exception("micro-batcher: unexpected failure while scoring a batch")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(RuntimeError(f"scoring failed: {type(exc).__name__}"))
            if stopping:  # _STOP came after every accepted request: nothing is left
                return

    def _score(self, texts: Sequence[str]) -> np.ndarray:
        probs = np.asarray(self.score_fn(texts))
        if probs.ndim != 2 or probs.shape[0] != len(texts):
            raise RuntimeError(f"the model returned shape {probs.shape} for {len(texts)} documents")
        return probs

    def _run(self, batch: list[_Item]) -> None:
        live = [item for item in batch if item.future.set_running_or_notify_cancel()]
        if not live:
            return
        texts = [text for item in live for text in item.texts]
        t0 = time.perf_counter()
        try:
            probs = self._score(texts) if texts else None
        except Exception:  # noqa: BLE001 - isolate: score each request alone
            self._report(len(texts), len(live), t0, self._run_one_by_one(live))
            return
        # Metrics first, answers second: a caller that reads /metrics after its answer finds its batch there.
        self._report(len(texts), len(live), t0, 0)
        start = 0
        for item in live:
            stop = start + len(item.texts)
            item.future.set_result(probs[start:stop] if probs is not None else np.zeros((0, 0), np.float32))
            start = stop

    def _report(self, documents: int, requests: int, t0: float, failed: int) -> None:
        if self.on_batch is not None:
            try:
                self.on_batch(documents, requests, time.perf_counter() - t0, failed)
            except Exception:  # noqa: BLE001 - metrics must not break scoring
                logger.exception("micro-batcher: the on_batch hook failed")

    def _run_one_by_one(self, items: list[_Item]) -> int:
        failed = 0
        for item in items:
            try:
                item.future.set_result(self._score(item.texts))
            except Exception as exc:  # noqa: BLE001 - reported to this request only
                failed += 1
                item.future.set_exception(exc)
        return failed
