"""Ingest's per-app state (deduplication windows, model registry) and its start-up job.

It hangs off the app's `VigilState` under a private attribute instead of a field there, so the
ingest stage owns its state without widening the app's shared dataclass.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from vigil.config import VigilConfig
from vigil.gateway.pricing import PriceTable
from vigil.ingest.dedupe import Deduper
from vigil.ingest.registry import Registry, store_dir

log = logging.getLogger("vigil.ingest")

DEDUPE_WINDOW = 1_000_000
"""Ids per table remembered for deduplication (about 8 MB per table when full)."""

DEDUPED_TABLES = ("llm_calls", "predictions", "labels", "feedback", "business_metrics")

_ATTR = "_vigil_ingest"


@dataclass
class IngestState:
    deduper: Deduper
    registry: Registry
    _prices: tuple[VigilConfig, PriceTable] | None = None

    def prices(self, config: VigilConfig) -> PriceTable:
        """The gateway's price table for `config`, rebuilt only when the config is reloaded."""
        if self._prices is None or self._prices[0] is not config:
            self._prices = (config, PriceTable(config))
        return self._prices[1]


def ingest_state(vigil: Any) -> IngestState:
    """The ingest state of an app's `VigilState`, created on first use."""
    found: IngestState | None = getattr(vigil, _ATTR, None)
    if found is None:
        found = IngestState(Deduper(DEDUPE_WINDOW), Registry(store_dir(vigil.config)))
        setattr(vigil, _ATTR, found)
    return found


async def warm_dedupe(vigil: Any) -> None:
    """Background job: remember the ids stored last, so retries after a crash stay idempotent."""
    state = ingest_state(vigil)
    store = vigil.store
    total = 0
    try:
        for table in DEDUPED_TABLES:
            sql = f"SELECT id FROM {table} ORDER BY rowid DESC LIMIT {DEDUPE_WINDOW}"
            rows = await asyncio.to_thread(store.fetch, sql)
            # Oldest first, so the newest ids end up in the newest generation.
            state.deduper.table(table).add(row[0] for row in reversed(rows))
            total += len(rows)
    finally:
        state.deduper.warm.set()
    log.info("ingest deduplication window loaded", extra={"ids": total})
