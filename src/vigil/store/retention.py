"""Retention: delete each data class once it is older than its configured period.

Deletes run on the pipeline's writer thread (`WritePipeline.run_exclusive`) so the store keeps a
single writer. A row is deleted only when its `ts` is older than `now - retention` for its class,
so nothing younger than its class's retention is ever removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.metrics import VigilMetrics
from vigil.pipeline import PipelineClosed, WritePipeline
from vigil.store.base import Store

log = logging.getLogger("vigil.retention")

CLASS_TABLES: Mapping[str, tuple[str, ...]] = {
    "logs": ("logs",),
    "spans": ("spans",),
    "llm_calls": ("llm_calls",),
    "inference": (
        "predictions",
        "labels",
        "feedback",
        "business_metrics",
        "monitor_runs",
        "monitor_results",
    ),
    "alert_history": ("alert_history", "alert_deliveries"),
    "audit": ("audit_log",),
}
"""Config key under `retention:` -> the tables that class covers."""


def retention_periods(retention: Any) -> dict[str, timedelta]:
    """Data class -> period, read from the `retention:` config section."""
    return {data_class: getattr(retention, data_class) for data_class in CLASS_TABLES}


def cutoffs(periods: Mapping[str, timedelta], now: datetime) -> dict[str, datetime]:
    """Table -> delete rows strictly older than this instant."""
    result: dict[str, datetime] = {}
    for data_class, tables in CLASS_TABLES.items():
        period = periods[data_class]
        for table in tables:
            result[table] = now - period
    return result


async def enforce_retention(
    pipeline: WritePipeline,
    periods: Mapping[str, timedelta],
    metrics: VigilMetrics,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete expired rows in every table; returns rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, cutoff in cutoffs(periods, now or datetime.now(UTC)).items():

        def delete(store: Store, table: str = table, cutoff: datetime = cutoff) -> int:
            return store.delete_older_than(table, cutoff)

        count = await pipeline.run_exclusive(delete)
        deleted[table] = count
        if count:
            metrics.retention_deleted.labels(table).inc(count)
            log.info("retention deleted rows", extra={"table": table, "rows": count})
    return deleted


async def retention_loop(
    pipeline: WritePipeline,
    periods: Callable[[], Mapping[str, timedelta]],
    interval: Callable[[], float],
    metrics: VigilMetrics,
) -> None:
    """Enforce retention now and then every `interval()` seconds (both re-read on reload)."""
    while True:
        try:
            await enforce_retention(pipeline, periods(), metrics)
        except PipelineClosed:
            return
        except Exception:
            log.exception("retention run failed; will retry next interval")
        await asyncio.sleep(interval())
