"""The one write path: bounded queue -> batch -> group commit, off the event loop.

Why threads: DuckDB calls block, and the gateway's event loop must never wait on the store. Two of
them: the batcher turns the next batch into Arrow tables (Python, holds the GIL) while the committer
inserts and commits the previous one (DuckDB, releases the GIL), so both cores work. Why group
commit: one transaction per flush turns thousands of small writes into one commit.

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
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vigil.metrics import VigilMetrics
from vigil.records import Record
from vigil.store import Store, StoreError
from vigil.store.base import PreparedBatch

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
class _Prepared:
    submissions: list[_Submission]
    prepared: PreparedBatch | Exception
    counts: dict[str, int]
    started: float


@dataclass(slots=True)
class _Pending:
    submissions: list[_Submission] = field(default_factory=list)
    telemetry: list[Record] = field(default_factory=list)
    """Records from `offer()`: nobody waits for them, so no per-record submission object."""
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
        flush_interval: float = 0.2,
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
        # Batcher -> committer hand-off; small, so conversion runs at most two batches ahead.
        self._handoff: queue.Queue[_Prepared | _Op | None] = queue.Queue(maxsize=2)
        self._threads: list[threading.Thread] = []
        self.last_error: str | None = None
        metrics.pipeline_queue_depth.set_function(lambda: self._depth)  # read at scrape time

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._run, name="vigil-batcher", daemon=True),
            threading.Thread(target=self._commit_loop, name="vigil-committer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking writes, flush everything queued, and join the threads (blocking)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

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
            self._enqueue(_Submission(records, future, loop))
        await future

    def offer(self, record: Record) -> bool:
        """Queue one record without waiting; False (and counted as dropped) if the queue is full."""
        with self._cond:
            if self._closing or self._depth >= self.queue_max:
                self.metrics.pipeline_dropped.labels("queue_full").inc()
                return False
            pending = self._pending
            if not pending.records:
                pending.oldest = time.monotonic()
                self._cond.notify()  # the batcher starts its flush-interval clock
            pending.telemetry.append(record)
            pending.records += 1
            self._depth += 1
            if pending.records == self.batch_max:
                self._cond.notify()
        return True

    async def run_exclusive(self, fn: Callable[[Store], T]) -> T:
        """Run `fn(store)` on the committer thread between batches (retention, maintenance)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._cond:
            if self._closing:
                raise PipelineClosed("write pipeline is shutting down")
            self._pending.ops.append(_Op(fn, future, loop))
            self._pending.durable = True
            self._cond.notify()
        return await future

    def _enqueue(self, submission: _Submission) -> None:
        pending = self._pending
        if not pending.records:
            pending.oldest = time.monotonic()
        pending.submissions.append(submission)
        n = len(submission.records)
        pending.records += n
        self._depth += n
        if not pending.durable:
            pending.durable = True
            self._cond.notify()

    # -- writer thread --------------------------------------------------------------------------
    def _ready(self) -> bool:
        p = self._pending
        if p.durable or p.records >= self.batch_max or self._closing:
            return True
        return p.records > 0 and time.monotonic() - p.oldest >= self.flush_interval

    def _run(self) -> None:
        """Batcher thread: wait for a batch, convert it, hand it to the committer."""
        while True:
            with self._cond:
                while not self._ready():
                    timeout = None
                    if self._pending.records:
                        timeout = self.flush_interval - (time.monotonic() - self._pending.oldest)
                    self._cond.wait(timeout)
                batch, self._pending = self._pending, _Pending()
                closing = self._closing
            if batch.telemetry:
                batch.submissions.append(_Submission(batch.telemetry))
            if batch.submissions:
                self._handoff.put(self._prepare(batch.submissions))
            for op in batch.ops:
                self._handoff.put(op)
            if closing:
                with self._cond:
                    if not self._pending.records and not self._pending.ops:
                        self._handoff.put(None)
                        return

    def _prepare(self, submissions: list[_Submission]) -> _Prepared:
        by_type: dict[type[Record], list[Record]] = defaultdict(list)
        for submission in submissions:
            for record in submission.records:
                by_type[type(record)].append(record)
        started = time.perf_counter()
        try:
            prepared: PreparedBatch | Exception = self.store.prepare(by_type)
        except Exception as exc:  # conversion errors (e.g. a wrong type) must not kill the batcher
            prepared = exc
        counts = {rt.TABLE: len(recs) for rt, recs in by_type.items()}
        return _Prepared(submissions, prepared, counts, started)

    def _commit_loop(self) -> None:
        """Committer thread: the store's only writer."""
        while (item := self._handoff.get()) is not None:
            if isinstance(item, _Op):
                self._run_op(item)
            else:
                self._flush(item)

    def _flush(self, item: _Prepared) -> None:
        error = self._commit(item.prepared, item.counts)
        if error is None:
            self._settle(item.submissions, None)
        else:
            # Retry one submission at a time so only the bad one fails.
            log.warning("group commit failed, retrying submissions one by one: %s", error)
            for submission in item.submissions:
                single = self._prepare([submission])
                self._settle([submission], self._commit(single.prepared, single.counts))
        self.metrics.pipeline_flush_seconds.observe(time.perf_counter() - item.started)

    def _commit(
        self, prepared: PreparedBatch | Exception, counts: dict[str, int]
    ) -> StoreError | None:
        try:
            if isinstance(prepared, Exception):
                raise prepared
            self.store.commit(prepared)
        except StoreError as exc:
            self.last_error = str(exc)
            return exc
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return StoreError(self.last_error)
        self.last_error = None
        for table, n in counts.items():
            self.metrics.pipeline_committed.labels(table).inc(n)
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
