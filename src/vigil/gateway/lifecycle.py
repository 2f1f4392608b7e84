"""Start, reload and stop the gateway inside the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from vigil.config import VigilConfig
from vigil.gateway.budgets import Budgets, SharedSpend
from vigil.gateway.keys import KEY_COLUMNS, KeyRing, VirtualKey
from vigil.gateway.limits import Limiter, MemoryLimiter
from vigil.gateway.providers.http import UpstreamClient
from vigil.gateway.service import Gateway
from vigil.store import Store

if TYPE_CHECKING:
    from vigil.app import VigilState

log = logging.getLogger("vigil.gateway")

BUDGET_GAUGE_INTERVAL_S = 5.0


def make_limiter(config: VigilConfig) -> Limiter:
    """`limits_backend: memory` (one process) or `redis://...` (exact across replicas)."""
    backend = config.limits_backend
    if backend.backend == "redis":
        from vigil.gateway.limits.redis import RedisLimiter

        assert backend.url is not None  # the config requires it for redis
        return RedisLimiter(backend.url)
    return MemoryLimiter()


def stored_keys(store: Store) -> list[VirtualKey]:
    rows = store.fetch(f"SELECT {KEY_COLUMNS} FROM virtual_keys ORDER BY created_at")
    return [VirtualKey.from_row(row) for row in rows]


def _spent(store: Store) -> Callable[[str, str, datetime], float]:
    def spent(scope: str, name: str, since: datetime) -> float:
        column = "key_id" if scope == "key" else "team"
        row = store.fetch(
            f"SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE {column} = ? AND ts >= ?",
            [name, since.replace(tzinfo=None)],
        )
        return float(row[0][0]) if row else 0.0

    return spent


def _load(state: VigilState, gateway: Gateway, config: VigilConfig) -> None:
    assert state.store is not None
    keys = stored_keys(state.store)
    gateway.keys.load(keys, config)
    gateway.budgets.configure(config, gateway.keys.all(), _spent(state.store))


async def start_gateway(state: VigilState) -> Gateway:
    assert state.pipeline is not None
    config = state.config
    # No cookie jar, no redirects, no proxy settings: upstream cookies must not travel from one
    # key's request to another's, and the hot path does only what a proxied call needs.
    client = UpstreamClient()
    shared = None
    if config.limits_backend.backend == "redis" and config.limits_backend.url:
        shared = SharedSpend(config.limits_backend.url)
    budgets = Budgets(shared=shared)
    gateway = Gateway(
        config, client, make_limiter(config), KeyRing(), budgets, state.pipeline, state.metrics
    )
    await asyncio.to_thread(_load, state, gateway, config)
    await budgets.seed_shared()

    def reload(_old: VigilConfig, new: VigilConfig) -> None:
        gateway.configure(new)
        _load(state, gateway, new)
        log.info("gateway reconfigured", extra={"models": len(new.models)})

    state.manager.subscribe(reload)
    return gateway


async def stop_gateway(gateway: Gateway) -> None:
    await gateway.close()
    await gateway.client.close()


async def budget_gauges(state: VigilState) -> None:
    """Publish `vigil_budget_used_ratio` for every key and team budget."""
    while True:
        gateway = state.gateway
        if gateway is not None:
            for key, team, ratio in gateway.budgets.used_ratio():
                state.metrics.budget_used_ratio.labels(key, team).set(ratio)
        await asyncio.sleep(BUDGET_GAUGE_INTERVAL_S)
