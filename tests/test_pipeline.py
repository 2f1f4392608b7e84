"""The write pipeline: group commit, durability of acks, back-pressure, isolation of bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.metrics import VigilMetrics
from vigil.pipeline import Backpressure, PipelineClosed, WritePipeline
from vigil.records import CallRecord, Prediction
from vigil.store import DuckDBStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "p.duckdb")
    yield s
    s.close()


def _count(store: DuckDBStore, table: str = "llm_calls") -> int:
    return int(store.fetch(f"SELECT count(*) FROM {table}")[0][0])


def _sample(metrics: VigilMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)


async def test_write_returns_after_commit_and_batches_concurrent_writers(
    store: DuckDBStore,
) -> None:
    metrics = VigilMetrics()
    pipeline = WritePipeline(store, metrics)
    pipeline.start()

    async def one(i: int) -> int:
        await pipeline.write([CallRecord(id=f"{i}-{j}", model="m") for j in range(10)])
        return _count(store)  # visible the moment the write returns

    seen = await asyncio.gather(*(one(i) for i in range(200)))
    assert all(n >= 10 for n in seen)
    assert _count(store) == 2000
    flushes = _sample(metrics, "vigil_pipeline_flush_seconds_count")
    assert flushes < 200, "concurrent writers must share group commits"
    assert _sample(metrics, "vigil_pipeline_committed_records_total", table="llm_calls") == 2000
    pipeline.close()


async def test_backpressure_past_high_water(store: DuckDBStore) -> None:
    metrics = VigilMetrics()
    pipeline = WritePipeline(store, metrics, queue_max=100, high_water_ratio=0.5, retry_after=2.0)
    # Writer not started: the queue only fills.
    first = asyncio.create_task(pipeline.write([CallRecord() for _ in range(40)]))  # noqa: RUF006
    await asyncio.sleep(0)
    with pytest.raises(Backpressure) as info:
        await pipeline.write([CallRecord() for _ in range(20)])
    assert info.value.retry_after == 2.0
    # Telemetry may still use the room between high-water and the maximum, then is dropped.
    accepted = sum(pipeline.offer(CallRecord()) for _ in range(100))
    assert accepted == 60
    assert _sample(metrics, "vigil_pipeline_dropped_records_total", reason="queue_full") == 40
    pipeline.start()
    await first
    pipeline.close()
    assert _count(store) == 100


async def test_a_bad_submission_fails_alone(store: DuckDBStore) -> None:
    pipeline = WritePipeline(store, VigilMetrics(), flush_interval=0.2)
    good = [CallRecord(model="ok") for _ in range(5)]
    bad = [CallRecord(model="bad", input_tokens="not a number")]  # type: ignore[arg-type]
    results = await asyncio.gather(
        pipeline.write(good),
        pipeline.write(bad),
        pipeline.write(good[:2]),
        _start_later(pipeline),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert _count(store) == 7
    pipeline.close()


async def _start_later(pipeline: WritePipeline) -> None:
    await asyncio.sleep(0.01)
    pipeline.start()


async def test_close_flushes_offered_telemetry_and_refuses_new_writes(store: DuckDBStore) -> None:
    pipeline = WritePipeline(store, VigilMetrics(), flush_interval=10.0)
    pipeline.start()
    for i in range(500):
        assert pipeline.offer(CallRecord(id=str(i)))
    await asyncio.to_thread(pipeline.close)
    assert _count(store) == 500
    with pytest.raises(PipelineClosed):
        await pipeline.write([Prediction(model="m")])
    assert not pipeline.offer(CallRecord())


async def test_telemetry_is_flushed_within_the_interval(store: DuckDBStore) -> None:
    pipeline = WritePipeline(store, VigilMetrics(), flush_interval=0.05)
    pipeline.start()
    pipeline.offer(CallRecord())
    await asyncio.sleep(0.3)
    assert _count(store) == 1
    pipeline.close()


async def test_run_exclusive_runs_on_the_writer(store: DuckDBStore) -> None:
    pipeline = WritePipeline(store, VigilMetrics())
    pipeline.start()
    await pipeline.write([CallRecord()])
    assert await pipeline.run_exclusive(lambda s: s.fetch("SELECT count(*) FROM llm_calls")) == [
        (1,)
    ]
    with pytest.raises(ZeroDivisionError):
        await pipeline.run_exclusive(lambda s: 1 / 0)
    pipeline.close()
