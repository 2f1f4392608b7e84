"""Reuse of the unchanged buckets of earlier `/api/v1/stats` answers.

A dashboard asks the same question every few seconds (24 h per model in 1-minute buckets) while only
the last minute or two gain calls. Buckets are epoch-aligned, so a bucket that lies wholly inside
the range has the same exact aggregates (percentiles included) whatever the range, until a write
touches its time. The store's `ChangeLog` says the earliest `ts` written since a result was
computed; every whole bucket before it is reused and the rest (the partial first and last buckets,
and everything from the earliest change on) is queried again. This is how query-result caches of
time-series systems work (Cortex/Thanos split queries by step-aligned interval), and the answer is
the same as without the cache: `tests/test_stats_cache.py` compares them under concurrent writes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any

from vigil.api.stats_queries import StatsQuery, at_us, bounds_us, build_sql
from vigil.api.stats_rollups import Rollups
from vigil.store import Store

Row = tuple[Any, ...]
TABLE = "llm_calls"
MAX_ENTRIES = 32
"""Query shapes (bucket width, grouping, filters) remembered, least recently used dropped first."""


@dataclass
class _Entry:
    low: int
    """First bucket index held (inclusive)."""
    high: int
    """Last bucket index held (exclusive)."""
    seq: int
    """`ChangeLog.seq` taken before the rows were read."""
    rows: dict[int, list[Row]] = field(default_factory=dict)
    """Bucket index -> that bucket's rows (one per group with calls)."""


def _sort_key(n_dims: int) -> Callable[[Row], tuple[Any, ...]]:
    """SQL's `ORDER BY dims, bucket` (NULLs last) for rows merged from several reads."""

    def key(row: Row) -> tuple[Any, ...]:
        return (*((v is None, v if v is not None else "") for v in row[:n_dims]), row[n_dims])

    return key


class StatsCache:
    def __init__(
        self, store: Store, rollups: Rollups | None = None, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.store = store
        self.rollups = rollups
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.reused_buckets = 0
        """Buckets answered from memory since start (for tests and the bench)."""
        self.rolled_buckets = 0
        """Buckets answered from the rollups since start (for tests and the bench)."""

    def rows(self, q: StatsQuery) -> list[Row]:
        """The rows `build_sql(q)` returns, ordered the same; whole unchanged buckets reused.

        The whole buckets `[first, end)` come from memory while unchanged, then from the rollups
        where they are clean, and the rest (the partial first and last buckets included) from
        the calls table.
        """
        width, since_us, until_us = bounds_us(q)
        if not width:
            return self._fetch(q)
        first = -(-since_us // width)  # first whole bucket
        end = until_us // width  # one past the last whole bucket
        if end <= first:
            return self._fetch(q)
        key = (width, q.group_by, q.filters)
        seq = self.store.changes.seq  # before reading: later writes count as changes
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        done = first  # whole buckets [first, done) answered
        if entry is not None and entry.low <= first:
            changed = self.store.changes.changed_since(TABLE, entry.seq)
            clean = entry.high if changed is None else min(entry.high, changed // width)
            done = max(first, min(end, clean))
        n_dims = len(q.group_by)
        out: list[Row] = []
        kept: dict[int, list[Row]] = {}
        if entry is not None:
            for bucket in range(first, done):
                rows = entry.rows.get(bucket)
                if rows:
                    kept[bucket] = rows
                    out.extend(rows)
        self.reused_buckets += done - first
        head = first  # the calls table answers from `since` to the start of bucket `head`
        rollups = self.rollups
        if rollups is not None and (span := rollups.span(q)) is not None:
            lo, hi = max(span[0], done), min(span[1], end)
            if lo < hi and (lo == done or done == first):
                rolled = rollups.rows(q, lo, hi)
                out.extend(rolled)
                for row in rolled:
                    kept.setdefault(row[n_dims], []).append(row)
                self.rolled_buckets += hi - lo
                head, done = (lo if done == first else first), hi
        for lo_us, hi_us in ((since_us, head * width), (done * width, until_us)):
            if lo_us >= hi_us:
                continue
            part = self._fetch(replace(q, since=at_us(lo_us), until=at_us(hi_us)))
            out.extend(part)
            for row in part:
                bucket = row[n_dims]
                if first <= bucket < end:
                    kept.setdefault(bucket, []).append(row)
        with self._lock:
            self._entries[key] = _Entry(first, end, seq, kept)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        try:  # a C key while no group value is NULL (a NULL beside a string raises)
            out.sort(key=itemgetter(*range(n_dims + 1)))
        except TypeError:
            out.sort(key=_sort_key(n_dims))
        return out

    def _fetch(self, q: StatsQuery) -> list[Row]:
        sql, params = build_sql(q)
        rows: Sequence[Row] = self.store.fetch(sql, params)
        return list(rows)
