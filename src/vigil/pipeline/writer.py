"""The one write path: bounded queue -> batch -> group commit, in a dedicated writer thread.

Why a thread: DuckDB calls block, and the gateway's event loop must never wait on the store. Why
group commit: one transaction per flush turns thousands of small writes into one fsync.

Two ways in:
- `await write(records)` for callers that need durability (ingest): returns after the transaction
  holding the records committed; refused with `Backpressure` past the high-water mark.
- `offer(record)` for gateway telemetry: never waits; dropped (and counted) only when the queue is
  completely full, so the space between high-water and the maximum is kept for telemetry.

Flushes happen as soon as the writer is free when a durable caller waits (lowest ack latency, and
batches grow by themselves under load), and at most `flush_interval` after the oldest record
otherwise. A batch that fails to commit is retried submission by submission, so one bad
submission fails alone and never poisons the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vigil.metrics import VigilMetrics
from vigil.records import Record
from vigil.store import Store, StoreError

log = logging.getLogger("vigil.pipeline")

T = TypeVar("T")


class Backpressure(Exception):
    """The queue is past its high-water mark; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"write pipeline is over its high-water mark; retry after {retry_after}s")
        self.retry_after = retry_after


class PipelineClosed(Exception):
    """The pipeline is shutting down and takes no new writes."""


@dataclass(slots=True)
class _Submission:
    records: Sequence[Record]
    future: asyncio.Future[None] | None = None
    loop: asyncio.AbstractEventLoop | None = None


@dataclass(slots=True)
class _Op:
    fn: Callable[[Store], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _Pending:
    submissions: list[_Submission] = field(default_factory=list)
    ops: list[_Op] = field(default_factory=list)
    records: int = 0
    durable: bool = False
    oldest: float = 0.0


def _resolve(future: asyncio.Future[Any], error: BaseException | None, result: Any = None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class WritePipeline:
    """Batches records from many producers into group commits on one store."""

    def __init__(
        self,
        store: Store,
        metrics: VigilMetrics,
        *,
        queue_max: int = 200_000,
        high_water_ratio: float = 0.8,
        batch_max: int = 20_000,
        flush_interval: float = 0.05,
        retry_after: float = 1.0,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.queue_max = queue_max
        self.high_water = max(1, int(queue_max * high_water_ratio))
        self.batch_max = batch_max
        self.flush_interval = flush_interval
        self.retry_after = retry_after
        self._cond = threading.Condition()
        self._pending = _Pending()
        self._depth = 0  # records queued or being written
        self._closing = False
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vigil-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking writes, flush everything queued, and join the writer (blocking)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def below_high_water(self) -> bool:
        return self._depth < self.high_water

    # -- producers ------------------------------------------------------------------------------
    async def write(self, records: Sequence[Record]) -> None:
        """Queue `records` and return once they are committed (raises `Backpressure`)."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._closing:
                raise PipelineClosed("write pipeline is shutting down")
            if self._depth + len(records) > self.high_water and self._depth > 0:
                raise Backpressure(self.retry_after)
            self._enqueue(_Submission(records, future, loop), durable=True)
        await future

    def offer(self, record: Record) -> bool:
        """Queue one record without waiting; False (and counted as dropped) if the queue is full."""
        with self._cond:
            if self._closing or self._depth >= self.queue_max:
                self.metrics.pipeline_dropped.labels("queue_full").inc()
                return False
            self._enqueue(_Submission((record,)), durable=False)
        return True

    async def run_exclusive(self, fn: Callable[[Store], T]) -> T:
        """Run `fn(store)` on the writer thread between batches (retention, maintenance)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._cond:
            if self._closing:
                raise PipelineClosed("write pipeline is shutting down")
            self._pending.ops.append(_Op(fn, future, loop))
            self._pending.durable = True
            self._cond.notify()
        return await future

    def _enqueue(self, submission: _Submission, *, durable: bool) -> None:
        pending = self._pending
        first = not pending.submissions
        if first:
            pending.oldest = time.monotonic()
        pending.submissions.append(submission)
        n = len(submission.records)
        pending.records += n
        self._depth += n
        self.metrics.pipeline_queue_depth.set(self._depth)
        if durable and not pending.durable:
            pending.durable = True
            self._cond.notify()
        elif first or pending.records >= self.batch_max:
            self._cond.notify()  # first: the writer starts its flush-interval clock

    # -- writer thread --------------------------------------------------------------------------
    def _ready(self) -> bool:
        p = self._pending
        if p.durable or p.records >= self.batch_max or self._closing:
            return True
        return bool(p.submissions) and time.monotonic() - p.oldest >= self.flush_interval

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._ready():
                    timeout = None
                    if self._pending.submissions:
                        timeout = self.flush_interval - (time.monotonic() - self._pending.oldest)
                    self._cond.wait(timeout)
                batch, self._pending = self._pending, _Pending()
                closing = self._closing
            if batch.submissions:
                self._flush(batch.submissions)
            for op in batch.ops:
                self._run_op(op)
            if closing:
                with self._cond:
                    if not self._pending.submissions and not self._pending.ops:
                        return

    def _flush(self, submissions: list[_Submission]) -> None:
        started = time.perf_counter()
        error = self._commit(submissions)
        if error is None:
            self._settle(submissions, None)
        else:
            # Retry one submission at a time so only the bad one fails.
            log.warning("group commit failed, retrying submissions one by one: %s", error)
            for submission in submissions:
                self._settle([submission], self._commit([submission]))
        self.metrics.pipeline_flush_seconds.observe(time.perf_counter() - started)

    def _commit(self, submissions: list[_Submission]) -> StoreError | None:
        by_type: dict[type[Record], list[Record]] = defaultdict(list)
        for submission in submissions:
            for record in submission.records:
                by_type[type(record)].append(record)
        try:
            self.store.write(by_type)
        except StoreError as exc:
            self.last_error = str(exc)
            return exc
        except Exception as exc:  # conversion errors (e.g. a wrong type) must not kill the writer
            self.last_error = f"{type(exc).__name__}: {exc}"
            return StoreError(self.last_error)
        self.last_error = None
        for record_type, records in by_type.items():
            self.metrics.pipeline_committed.labels(record_type.TABLE).inc(len(records))
        return None

    def _settle(self, submissions: list[_Submission], error: StoreError | None) -> None:
        waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = defaultdict(list)
        done = 0
        for submission in submissions:
            done += len(submission.records)
            if submission.future is not None and submission.loop is not None:
                waiting[submission.loop].append(submission.future)
            elif error is not None:
                self.metrics.pipeline_dropped.labels("write_error").inc(len(submission.records))
        with self._cond:
            self._depth -= done
            self.metrics.pipeline_queue_depth.set(self._depth)
        for loop, futures in waiting.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve_all, futures, error)

    def _run_op(self, op: _Op) -> None:
        try:
            result = op.fn(self.store)
        except Exception as exc:
            op.loop.call_soon_threadsafe(_resolve, op.future, exc)
        else:
            op.loop.call_soon_threadsafe(_resolve, op.future, None, result)


def _resolve_all(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        _resolve(future, error)
