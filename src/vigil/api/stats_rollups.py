"""Exact pre-aggregated buckets of `llm_calls`, so `/api/v1/stats` need not scan every call.

Exact percentiles cannot be merged from smaller buckets, so each width in `stats.rollup_widths`
is rolled up on its own: for every whole epoch-aligned bucket and every dimension (none, model,
provider, deployment, key, team, source), one row with the `MEASURES` the raw query computes,
percentiles included. It is a materialized view kept by a background job (as ClickHouse
materialized views or Prometheus recording rules are), exact, and corrected when late calls
arrive or retention deletes old ones.

Bookkeeping per width: buckets `[low, high)` are rolled up as of `ChangeLog` sequence `seq`. Every
`stats.rollup_interval` the job recomputes the buckets that changes after `seq` touched and adds
the buckets that closed (ended more than `LAG` ago). It reads on a reader cursor and writes each
chunk (rows and the new `[low, high)`) in one transaction on the pipeline's writer thread, so
telemetry commits wait only for the insert. `[low, high)` is stored; the `ChangeLog` is not, so
after a restart the job first compares each rolled bucket's call count with the calls table and
recomputes those that differ (calls the previous process wrote after its last refresh; calls are
inserted and deleted, never updated).

A stats query whose bucket width is rolled up, with at most one grouping dimension and at most one
filter (on that dimension, or alone without grouping), takes its whole buckets in `[low, high)`
that no change since `seq` touched from the rollups (`StatsCache` asks); the rest comes from the
calls table. `tests/test_stats_rollups.py` checks the answers equal the raw query's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from vigil.api.stats_queries import EPOCH, GROUP_COLUMNS, MEASURES, StatsQuery, bounds_us
from vigil.pipeline import PipelineClosed
from vigil.store import Store
from vigil.store.changes import ALL_TIME, END_OF_TIME

if TYPE_CHECKING:
    from vigil.app import VigilState

log = logging.getLogger("vigil.stats.rollups")

TABLE = "llm_calls"
ROLLUPS = "stats_rollups"
STATE = "stats_rollup_state"
LAG = timedelta(minutes=2)
"""A bucket is rolled up once it ended this long ago: gateway calls are stamped with their start
and committed at their end, so a bucket keeps gaining calls for a while after it closes (those
later ones are still taken in, as changes)."""
CHUNK = timedelta(hours=1)
"""Catching up reads at most this much time (or one bucket) per transaction."""

DIMS: dict[str, str | None] = {"": None, **GROUP_COLUMNS}
"""Rolled-up dimension (API name, "" for all calls) -> `llm_calls` column."""
MEASURE_COLUMNS = (
    "requests, input_tokens, output_tokens, cached_input_tokens, cost_usd, timeouts, e429, e4xx, "
    "e5xx, latency_avg, latency_q, ttft_q"
)
"""`MEASURES`' names, in its order: the columns of `stats_rollups` after `bucket`."""

Row = tuple[Any, ...]
Statement = tuple[str, Sequence[Any]]
Runner = Callable[[Callable[[Store], None]], Awaitable[None]]
"""`WritePipeline.run_exclusive`: runs a function on the writer thread."""


@dataclass(frozen=True)
class _Width:
    low: int
    """First bucket rolled up."""
    high: int
    """One past the last bucket rolled up."""
    seq: int
    """`ChangeLog.seq` taken before the rows were read."""


def _at(epoch_us: int) -> datetime:
    """Epoch microseconds -> the store's naive UTC timestamp."""
    return EPOCH + timedelta(microseconds=epoch_us)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(s for s in spans if s[0] < s[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _writes(
    statements: list[Statement], tables: dict[str, pa.Table] | None = None
) -> Callable[[Store], None]:
    """A writer-thread job running `statements` in one transaction."""
    return lambda store: store.transaction(statements, tables or {})


def shape(q: StatsQuery) -> tuple[str, str | None] | None:
    """The rolled-up dimension and value filter that answer `q`'s grouping; None: none does."""
    if len(q.group_by) > 1 or len(q.filters) > 1:
        return None
    dim = q.group_by[0] if q.group_by else ""
    if not q.filters:
        return dim, None
    name, value = q.filters[0]
    if dim and name != dim:
        return None
    return name, value


class Rollups:
    """The rolled-up widths of one store: what is clean, how to read it, how to refresh it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._widths: dict[int, _Width] = {}
        """Width in µs -> its bookkeeping; replaced whole, so readers need no lock."""

    # -- reading --------------------------------------------------------------------------------
    def span(self, q: StatsQuery) -> tuple[int, int] | None:
        """The buckets `[lo, hi)` of `q`'s width that the rollups answer now, if any."""
        width = bounds_us(q)[0]
        state = self._widths.get(width)
        if state is None or shape(q) is None:
            return None
        lo, hi = state.low, state.high
        for low_us, high_us in self.store.changes.changed_ranges(TABLE, state.seq):
            if high_us <= lo * width or low_us >= hi * width:
                continue  # touches no bucket served (retention below `low`, calls after `high`)
            if low_us < lo * width:
                return None
            hi = low_us // width
        return (lo, hi) if lo < hi else None

    def rows(self, q: StatsQuery, lo: int, hi: int) -> list[Row]:
        """`build_sql(q)`'s rows for buckets `[lo, hi)` (in any order), from the rollups."""
        found = shape(q)
        assert found is not None
        dim, value = found
        select = ("value, " if q.group_by else "") + "bucket, " + MEASURE_COLUMNS
        sql = (
            f"SELECT {select} FROM {ROLLUPS} "
            "WHERE width_us = ? AND dim = ? AND bucket >= ? AND bucket < ?"
        )
        params: list[Any] = [bounds_us(q)[0], dim, lo, hi]
        if value is not None:
            sql += " AND value = ?"
            params.append(value)
        return self.store.fetch(sql, params)

    def status(self) -> dict[int, tuple[int, int, int]]:
        """Width (µs) -> (low, high, seq), for tests and the bench."""
        return {w: (s.low, s.high, s.seq) for w, s in self._widths.items()}

    # -- keeping up -----------------------------------------------------------------------------
    async def refresh(self, run: Runner, widths: Sequence[timedelta], now: datetime) -> None:
        """Bring every width up to `now - LAG`; `run` is `WritePipeline.run_exclusive`."""
        wanted = [round(w / timedelta(microseconds=1)) for w in widths]
        stored = await asyncio.to_thread(self._stored_widths)
        await self._forget([w for w in stored if w not in wanted], run)
        until_us = (now.astimezone(UTC).replace(tzinfo=None) - LAG - EPOCH) // timedelta(
            microseconds=1
        )
        for width in wanted:
            await self._refresh_width(width, until_us // width, run)

    def _stored_widths(self) -> set[int]:
        stored = {int(r[0]) for r in self.store.fetch(f"SELECT width_us FROM {STATE}")}
        return stored | self._widths.keys()

    async def _forget(self, widths: list[int], run: Runner) -> None:
        if not widths:
            return
        for width in widths:
            self._widths.pop(width, None)
        marks = ", ".join("?" for _ in widths)
        statements: list[Statement] = [
            (f"DELETE FROM {ROLLUPS} WHERE width_us IN ({marks})", widths),
            (f"DELETE FROM {STATE} WHERE width_us IN ({marks})", widths),
        ]
        await run(_writes(statements))
        log.info("stats rollups dropped", extra={"widths_s": [w / 1e6 for w in widths]})

    async def _refresh_width(self, width: int, target: int, run: Runner) -> None:
        seq = self.store.changes.seq  # before reading: later writes count as changes
        state = self._widths.get(width)
        if state is None:
            low, high, redo = await asyncio.to_thread(self._recover, width, target)
        else:
            low, high, redo = self._changed(width, state)
        started = time.monotonic()
        buckets = 0
        # while redone, the buckets stay out of `span` (changed since the old `seq`, or no state)
        for lo, hi in _merge(redo):
            buckets += await self._roll(width, lo, hi, run, low=low, high=high)
        self._widths[width] = _Width(low, high, seq)
        if target > high:  # newly closed buckets: served as each chunk lands
            buckets += await self._roll(width, high, target, run, low=low, seq=seq)
        seconds = time.monotonic() - started
        if seconds > 1:
            log.info(
                "stats rollups caught up",
                extra={"width_s": width / 1e6, "buckets": buckets, "seconds": round(seconds, 2)},
            )

    def _recover(self, width: int, target: int) -> tuple[int, int, list[tuple[int, int]]]:
        """`[low, high)` as stored, and the buckets whose call count no longer matches."""
        stored = self.store.fetch(f"SELECT low, high FROM {STATE} WHERE width_us = ?", [width])
        first = self.store.fetch(f"SELECT epoch_us(min(ts)) FROM {TABLE}")[0][0]
        if not stored:
            low = target if first is None else min(target, first // width)
            return low, low, []
        low, high = int(stored[0][0]), int(stored[0][1])
        redo: list[tuple[int, int]] = []
        if first is not None and first // width < low:  # written below `low` since
            redo.append((first // width, low))
            low = first // width
        counts = f"""
            SELECT coalesce(c.b, r.bucket) FROM
                (SELECT epoch_us(ts) // ? AS b, count(*) AS n FROM {TABLE}
                 WHERE ts >= ? AND ts < ? GROUP BY b) c
            FULL OUTER JOIN
                (SELECT bucket, requests FROM {ROLLUPS}
                 WHERE width_us = ? AND dim = '' AND bucket >= ? AND bucket < ?) r
            ON c.b = r.bucket
            WHERE c.n IS DISTINCT FROM r.requests"""
        params = [width, _at(low * width), _at(high * width), width, low, high]
        redo += [(int(b), int(b) + 1) for (b,) in self.store.fetch(counts, params)]
        return low, high, redo

    def _changed(self, width: int, state: _Width) -> tuple[int, int, list[tuple[int, int]]]:
        """`[low, high)` after the changes since `state.seq`, and the buckets to redo."""
        ranges = self.store.changes.changed_ranges(TABLE, state.seq)
        low, high = state.low, state.high
        redo: list[tuple[int, int]] = []
        for lo_us, hi_us in ranges:  # deletions by age: everything before `hi_us`
            if lo_us == ALL_TIME and hi_us != END_OF_TIME:
                redo.append((low, min(high, _ceil_div(hi_us, width))))
                low = max(low, min(high, hi_us // width))
        for lo_us, hi_us in ranges:
            if lo_us == ALL_TIME and hi_us == END_OF_TIME:  # unknown: redo all
                redo.append((low, high))
            elif lo_us != ALL_TIME:  # inserts; below `low` extends it
                low = min(low, lo_us // width)
                redo.append((lo_us // width, min(high, _ceil_div(hi_us, width))))
        return low, high, redo

    async def _roll(
        self,
        width: int,
        lo: int,
        hi: int,
        run: Runner,
        *,
        low: int,
        high: int | None = None,
        seq: int = 0,
    ) -> int:
        """Recompute buckets `[lo, hi)` a chunk at a time, stored with `[low, high)`; returns the
        buckets computed. Stretches without calls cost one lookup. `high=None`: extending, the
        stored and served `high` moves up with each chunk (served as of `seq`)."""
        step = max(1, CHUNK // timedelta(microseconds=width))
        computed = 0
        while lo < hi:
            start = await asyncio.to_thread(self._next_bucket, width, lo, hi)
            end = min(hi, start + step)
            statements: list[Statement] = [
                (
                    f"DELETE FROM {ROLLUPS} WHERE width_us = ? AND bucket >= ? AND bucket < ?",
                    [width, lo, end],
                ),
                (f"INSERT OR REPLACE INTO {STATE} VALUES (?, ?, ?)", [width, low, high or end]),
            ]
            tables: dict[str, pa.Table] = {}
            if start < hi:
                tables["__rollup"] = await asyncio.to_thread(self._aggregate, width, start, end)
                statements.append((f"INSERT INTO {ROLLUPS} SELECT * FROM __rollup", []))
                computed += end - start
            await run(_writes(statements, tables))
            if high is None:
                self._widths[width] = _Width(low, end, seq)
            lo = end
        return computed

    def _next_bucket(self, width: int, lo: int, hi: int) -> int:
        """The first bucket in `[lo, hi)` with calls; `hi` when none has."""
        sql = f"SELECT epoch_us(min(ts)) FROM {TABLE} WHERE ts >= ? AND ts < ?"
        first = self.store.fetch(sql, [_at(lo * width), _at(hi * width)])[0][0]
        return hi if first is None else int(first) // width

    def _aggregate(self, width: int, lo: int, hi: int) -> pa.Table:
        """The rollup rows of buckets `[lo, hi)`: one query per dimension (bounded memory)."""
        parts = []
        for dim, column in DIMS.items():
            value = f"{column}::VARCHAR" if column else "NULL::VARCHAR"
            sql = f"""
                SELECT ?::BIGINT AS width_us, ?::VARCHAR AS dim, {value} AS value,
                    epoch_us(ts) // ? AS bucket, {MEASURES}
                FROM {TABLE} WHERE ts >= ? AND ts < ?
                GROUP BY value, bucket"""
            params = [width, dim, width, _at(lo * width), _at(hi * width)]
            parts.append(self.store.fetch_arrow(sql, params))
        return pa.concat_tables(parts)


async def rollup_loop(state: VigilState) -> None:
    """Background job (`vigil.app.BACKGROUND_JOBS`): refresh the rollups every interval."""
    assert state.pipeline is not None and state.rollups is not None
    while True:
        cfg = state.config.stats
        try:
            await state.rollups.refresh(
                state.pipeline.run_exclusive, cfg.rollup_widths, datetime.now(UTC)
            )
        except PipelineClosed:
            return
        except Exception:
            log.exception("stats rollup refresh failed; will retry next interval")
        await asyncio.sleep(cfg.rollup_interval.total_seconds())
