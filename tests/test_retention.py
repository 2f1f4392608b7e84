"""Retention never deletes anything younger than its class's period, and deletes what is older."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.config import load_config
from vigil.metrics import VigilMetrics
from vigil.pipeline import WritePipeline
from vigil.records import CallRecord, Label, LogRecord, Prediction
from vigil.store import DuckDBStore
from vigil.store.retention import CLASS_TABLES, enforce_retention, retention_periods

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_defaults_match_the_documented_periods() -> None:
    periods = retention_periods(load_config(None, env={}).retention)
    assert periods["logs"] == timedelta(days=30)
    assert periods["llm_calls"] == timedelta(days=90)
    assert periods["inference"] == timedelta(days=90)
    assert periods["audit"] == timedelta(days=365)
    assert set(periods) == set(CLASS_TABLES)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ages_h=st.lists(st.integers(min_value=0, max_value=24 * 400), min_size=1, max_size=40),
    logs_days=st.integers(min_value=1, max_value=120),
    calls_days=st.integers(min_value=1, max_value=120),
)
def test_only_rows_older_than_their_class_are_deleted(
    tmp_path: Path, ages_h: list[int], logs_days: int, calls_days: int
) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.duckdb"
    store = DuckDBStore(path)
    pipeline = WritePipeline(store, VigilMetrics())
    pipeline.start()
    periods = retention_periods(load_config(None, env={}).retention)
    periods["logs"] = timedelta(days=logs_days)
    periods["llm_calls"] = timedelta(days=calls_days)

    async def scenario() -> dict[str, int]:
        ts = [NOW - timedelta(hours=h) for h in ages_h]
        await pipeline.write([LogRecord(id=str(i), ts=t) for i, t in enumerate(ts)])
        await pipeline.write([CallRecord(id=str(i), ts=t) for i, t in enumerate(ts)])
        await pipeline.write([Prediction(id=str(i), ts=t, model="m") for i, t in enumerate(ts)])
        await pipeline.write(
            [Label(id=str(i), ts=t, prediction_id=str(i)) for i, t in enumerate(ts)]
        )
        return await enforce_retention(pipeline, periods, VigilMetrics(), now=NOW)

    deleted = asyncio.run(scenario())
    for table, days in (
        ("logs", logs_days),
        ("llm_calls", calls_days),
        ("predictions", 90),
        ("labels", 90),
    ):
        kept = {int(r[0]) for r in store.fetch(f"SELECT id FROM {table}")}
        expected = {i for i, h in enumerate(ages_h) if timedelta(hours=h) <= timedelta(days=days)}
        assert kept == expected, table
        assert deleted[table] == len(ages_h) - len(expected)
    pipeline.close()
    store.close()
