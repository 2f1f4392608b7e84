"""Posting records to Vigil's ingest API in batches, the way a well-behaved client should.

`EventSink` buffers events and posts them as one JSON array to `POST /api/v1/events` every
`flush_interval_s`. Ingest answers 429/503 with `retry-after` when its queue is full (design.md §4);
the sink honours it, backs off on connection errors, and never raises: the demo must keep producing
traffic whatever state the server is in. Batches refused for good (400, 401, 413) are dropped and
counted, not retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from vigil.records import Record

log = logging.getLogger("vigil.sim.traffic")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with a `Z`, as ingest expects."""
    return ts.isoformat().replace("+00:00", "Z")


def to_event(record: Record) -> dict[str, Any]:
    """A record as one ingest event: `{"kind": ..., ...fields}` with `ts` as ISO-8601 text."""
    event: dict[str, Any] = {"kind": record.KIND}
    for f in fields(record):
        value = getattr(record, f.name)
        event[f.name] = iso(value) if isinstance(value, datetime) else value
    return event


@dataclass(slots=True)
class SinkStats:
    posted: int = 0
    accepted: int = 0
    rejected: int = 0
    retries: int = 0
    dropped: int = 0
    last_error: str | None = None


def retry_delay(headers: Any, attempt: int, rng: random.Random) -> float:
    """`retry-after` (seconds, may be fractional) if given, else capped exponential with jitter."""
    raw: str | None = headers.get("retry-after") if headers is not None else None
    if raw:
        try:
            return min(max(float(raw), 0.0), 60.0)
        except ValueError:
            pass
    return float(min(0.25 * 2**attempt, 8.0) * (0.5 + rng.random()))


class EventSink:
    """Buffers events and posts them in batches with retries; see the module docstring."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        vigil_url: str,
        admin_token: str,
        *,
        flush_interval_s: float = 0.5,
        max_batch: int = 1000,
        max_pending: int = 100_000,
        seed: int | None = None,
    ) -> None:
        self._session = session
        self._url = vigil_url.rstrip("/") + "/api/v1/events"
        self._headers = {
            "authorization": f"Bearer {admin_token}",
            "content-type": "application/json",
        }
        self._pending: deque[dict[str, Any]] = deque()
        self._flush_interval_s = flush_interval_s
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._rng = random.Random(seed)
        self.stats = SinkStats()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, event: dict[str, Any]) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.stats.dropped += 1
        self._pending.append(event)

    async def run(self, stop: asyncio.Event, drain_timeout_s: float = 5.0) -> None:
        """Flush periodically until `stop` is set, then try to drain for `drain_timeout_s`."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._flush_interval_s)
            await self._flush_all(stop=None if stop.is_set() else stop)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout_s
        try:
            await asyncio.wait_for(self._flush_all(None), max(deadline - loop.time(), 0.01))
        except TimeoutError:
            log.warning("traffic: %d events not delivered at shutdown", len(self._pending))

    async def _flush_all(self, stop: asyncio.Event | None) -> None:
        """Post everything pending; give up early (keeping the events) once `stop` is set."""
        while self._pending:
            count = min(len(self._pending), self._max_batch)
            batch = [self._pending[i] for i in range(count)]
            if not await self._post(batch, stop):
                return
            for _ in range(count):
                self._pending.popleft()

    async def _post(self, batch: list[dict[str, Any]], stop: asyncio.Event | None) -> bool:
        """Post one batch until accepted or refused for good (True: it is done with), or until
        `stop` is set while waiting to retry (False: keep it for the drain)."""
        body = orjson.dumps(batch)
        attempt = 0
        while True:
            try:
                async with self._session.post(self._url, data=body, headers=self._headers) as resp:
                    if resp.status == 200:
                        self._account(batch, await resp.read())
                        return True
                    text = (await resp.read())[:200].decode(errors="replace")
                    if resp.status not in RETRY_STATUSES:
                        self.stats.dropped += len(batch)
                        self._note(f"ingest refused a batch: HTTP {resp.status} {text}")
                        return True
                    delay = retry_delay(resp.headers, attempt, self._rng)
                    self._note(f"ingest busy: HTTP {resp.status}, retrying in {delay:.2f}s")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                delay = retry_delay(None, attempt, self._rng)
                self._note(f"ingest unreachable ({type(exc).__name__}), retrying in {delay:.2f}s")
            self.stats.retries += 1
            attempt += 1
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return False

    def _account(self, batch: list[dict[str, Any]], raw: bytes) -> None:
        self.stats.posted += len(batch)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        rejected = answer.get("rejected") or []
        self.stats.accepted += int(answer.get("accepted", len(batch) - len(rejected)))
        self.stats.rejected += len(rejected)
        if rejected:
            first = rejected[0]
            self._note(f"ingest rejected {len(rejected)} events, first: {first}")

    def _note(self, message: str) -> None:
        if message != self.stats.last_error:
            log.warning("traffic: %s", message)
        self.stats.last_error = message
