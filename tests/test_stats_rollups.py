"""Stats rollups answer what the raw query answers: under late writes, retention, restarts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from test_stats_cache import T0, _calls, _same
from vigil.api.stats_cache import StatsCache
from vigil.api.stats_queries import StatsQuery, build_sql
from vigil.api.stats_rollups import LAG, ROLLUPS, Rollups
from vigil.records import CallRecord
from vigil.store import DuckDBStore, Store

WIDTHS = [timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1)]
NOW = T0 + timedelta(hours=7)  # every call below ended more than LAG before


def _refresh(rollups: Rollups, widths: list[timedelta] = WIDTHS, now: object = NOW) -> None:
    store = rollups.store

    async def run(fn: Callable[[Store], None]) -> None:
        fn(store)

    asyncio.run(rollups.refresh(run, widths, now))  # type: ignore[arg-type]


SHAPES = [
    (timedelta(minutes=1), ("model",), ()),
    (timedelta(minutes=1), (), (("model", "a"),)),
    (timedelta(minutes=5), (), ()),
    (timedelta(minutes=5), ("team",), ()),
    (timedelta(minutes=5), ("provider",), (("provider", "q"),)),
    (timedelta(hours=1), ("key",), ()),
    (timedelta(minutes=5), ("model", "team"), ()),  # two dimensions: not rolled up
    (timedelta(minutes=2), ("model",), ()),  # a width not rolled up
]


def _check_all(store: Store, rollups: Rollups, rng: random.Random | None = None) -> int:
    """Every shape, cold (fresh cache) over a random range (or all of the calls), equals the raw
    query; returns the buckets the rollups answered."""
    rolled = 0
    for bucket, dims, filters in SHAPES:
        if rng is None:
            since, until = T0 - timedelta(hours=4), T0 + timedelta(hours=7)
        else:
            since = T0 + timedelta(seconds=rng.randrange(-1800, 6 * 3600))
            until = since + timedelta(hours=2)
        q = StatsQuery(since, until, bucket, dims, filters)
        cache = StatsCache(store, rollups)
        _same(cache.rows(q), store.fetch(*build_sql(q)))
        rolled += cache.rolled_buckets
    return rolled


def test_rolled_answers_equal_raw_under_late_writes_and_retention(tmp_path: Path) -> None:
    rng = random.Random(11)
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.write({CallRecord: _calls(rng, 6000, timedelta(0), timedelta(hours=6))})
    rollups = Rollups(store)
    q = StatsQuery(T0, T0 + timedelta(hours=6), timedelta(minutes=1), ("model",))
    assert rollups.span(q) is None  # nothing rolled up yet
    _refresh(rollups)
    assert rollups.span(q) == (int(T0.timestamp()) // 60, int((NOW - LAG).timestamp()) // 60)
    assert _check_all(store, rollups, rng) > 250
    rolled = 0
    for step in range(12):
        at = timedelta(seconds=rng.randrange(0, 6 * 3600))
        if step % 4 == 3:  # retention
            store.delete_older_than("llm_calls", T0 + timedelta(minutes=20 * step))
        else:  # a late batch anywhere in the past, or before the first call
            at -= timedelta(hours=1) if step == 1 else timedelta(0)
            store.write({CallRecord: _calls(rng, 30, at, at + timedelta(minutes=3))})
        _check_all(store, rollups, rng)  # changed buckets come from the calls table
        _refresh(rollups)
        rolled += _check_all(store, rollups, rng)
    assert rolled > 2500
    store.close()


def test_a_restart_redoes_buckets_written_after_the_last_refresh(tmp_path: Path) -> None:
    rng = random.Random(5)
    path = tmp_path / "s.duckdb"
    store = DuckDBStore(path)
    store.write({CallRecord: _calls(rng, 3000, timedelta(0), timedelta(hours=6))})
    _refresh(Rollups(store))
    # written after the last refresh, then the process stops: its ChangeLog is lost
    store.write({CallRecord: _calls(rng, 40, timedelta(hours=2), timedelta(hours=2.2))})
    store.write({CallRecord: _calls(rng, 10, timedelta(hours=-3), timedelta(hours=-2))})
    store.delete_older_than("llm_calls", T0 + timedelta(minutes=30))
    store.close()

    store = DuckDBStore(path)
    rollups = Rollups(store)
    _refresh(rollups)
    assert _check_all(store, rollups) > 1000
    store.close()


def _an_hour_of_calls(
    tmp_path: Path, seed: int, n: int
) -> tuple[DuckDBStore, Rollups, random.Random]:
    """A store holding `n` calls in the hour after T0, its rollups (not refreshed), the rng."""
    rng = random.Random(seed)
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.write({CallRecord: _calls(rng, n, timedelta(0), timedelta(hours=1))})
    return store, Rollups(store), rng


def test_open_buckets_wait_and_dropped_widths_are_deleted(tmp_path: Path) -> None:
    store, rollups, _ = _an_hour_of_calls(tmp_path, 3, 1000)
    now = T0 + timedelta(minutes=30)
    _refresh(rollups, now=now)
    high = rollups.status()[60_000_000][1]
    assert high * 60 == int((now - LAG).timestamp()) // 60 * 60  # only buckets that ended LAG ago
    assert rollups.status()[3_600_000_000][1] == rollups.status()[3_600_000_000][0]  # none yet
    _refresh(rollups, [timedelta(minutes=1)])
    assert set(rollups.status()) == {60_000_000}
    widths = store.fetch(f"SELECT DISTINCT width_us FROM {ROLLUPS}")
    assert widths == [(60_000_000,)]
    store.close()


def test_served_span_stops_at_the_first_change_and_ignores_older_deletions(tmp_path: Path) -> None:
    store, rollups, rng = _an_hour_of_calls(tmp_path, 9, 500)
    _refresh(rollups, [timedelta(minutes=1)], now=T0 + timedelta(hours=2))
    q = StatsQuery(T0, T0 + timedelta(hours=1), timedelta(minutes=1), ("model",))
    first = int(T0.timestamp()) // 60
    span = rollups.span(q)
    assert span is not None and span[0] == first
    store.delete_older_than("llm_calls", T0 - timedelta(days=1))  # retention below the rollups
    assert rollups.span(q) == span
    at = timedelta(minutes=30)
    store.write({CallRecord: _calls(rng, 5, at, at + timedelta(seconds=30))})  # a late batch
    assert rollups.span(q) == (first, first + 30)
    store.delete_older_than("llm_calls", T0 + timedelta(minutes=10))  # into the rolled range
    assert rollups.span(q) is None
    _refresh(rollups, [timedelta(minutes=1)], now=T0 + timedelta(hours=2))
    assert rollups.span(q) == (first + 10, span[1])
    assert _check_all(store, rollups) > 0
    store.close()
