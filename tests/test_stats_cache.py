"""The stats cache answers exactly what the uncached query answers, while writes land anywhere."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vigil.api.stats_cache import StatsCache
from vigil.api.stats_queries import StatsQuery, build_sql
from vigil.records import CallRecord
from vigil.store import DuckDBStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)
MODELS = ["a", "b", "c"]


def _calls(rng: random.Random, n: int, lo: timedelta, hi: timedelta) -> list[CallRecord]:
    span = (hi - lo).total_seconds()
    return [
        CallRecord(
            ts=T0 + lo + timedelta(seconds=rng.random() * span),
            model=rng.choice(MODELS),
            provider=rng.choice(["p", "q"]),
            team=rng.choice(["t1", None]),
            status_code=rng.choice([200, 200, 200, 429, 500]),
            input_tokens=rng.randrange(1000),
            output_tokens=rng.randrange(500),
            cost_usd=rng.random() / 100,
            duration_s=rng.expovariate(2.0),
            ttft_s=rng.random() if rng.random() < 0.5 else None,
        )
        for _ in range(n)
    ]


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        for va, vb in zip(ra, rb, strict=True):
            if isinstance(va, float) and isinstance(vb, float):
                assert math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-12)
            elif isinstance(va, list) and isinstance(vb, list):
                assert va == pytest.approx(vb, rel=1e-9)
            else:
                assert va == vb


def test_cached_answers_equal_uncached_under_writes(tmp_path: Path) -> None:
    rng = random.Random(7)
    store = DuckDBStore(tmp_path / "s.duckdb")
    cache = StatsCache(store)
    store.write({CallRecord: _calls(rng, 5000, timedelta(0), timedelta(hours=6))})
    shapes = [
        (timedelta(minutes=1), ("model",), ()),
        (timedelta(minutes=5), ("model", "team"), ()),
        (timedelta(seconds=90), ("provider",), (("model", "a"),)),
        (timedelta(hours=1), (), ()),
    ]
    reused = 0
    for step in range(120):
        bucket, dims, filters = rng.choice(shapes)
        start = timedelta(seconds=rng.randrange(0, 3 * 3600))
        q = StatsQuery(T0 + start, T0 + start + timedelta(hours=3), bucket, dims, filters)
        before = cache.reused_buckets
        _same(cache.rows(q), store.fetch(*build_sql(q)))
        reused += cache.reused_buckets - before
        kind = step % 4
        if kind == 0:  # new calls near "now"
            store.write({CallRecord: _calls(rng, 50, timedelta(hours=5.9), timedelta(hours=6))})
        elif kind == 1:  # a late batch anywhere in the past
            at = timedelta(seconds=rng.randrange(0, 6 * 3600))
            store.write({CallRecord: _calls(rng, 20, at, at + timedelta(minutes=3))})
        elif kind == 2 and step % 40 == 2:  # retention
            store.delete_older_than("llm_calls", T0 + timedelta(minutes=step))
    assert reused > 1000  # the cache did answer most buckets
    store.close()


def test_a_query_repeated_without_writes_reads_only_partial_buckets(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.write({CallRecord: _calls(random.Random(1), 2000, timedelta(0), timedelta(hours=2))})
    cache = StatsCache(store)
    since = T0 + timedelta(seconds=30)  # not aligned: a partial first and last bucket
    q = StatsQuery(since, since + timedelta(hours=2), timedelta(minutes=1), ("model",))
    first = cache.rows(q)
    assert cache.reused_buckets == 0
    again = cache.rows(q)
    assert cache.reused_buckets == 119  # every whole minute; the two partial ones are re-read
    _same(first, again)
    store.close()
