"""Spend budgets per key and per team, daily or monthly (UTC periods).

A request is refused when its key's or team's spend for the current period has reached the budget.
Spend is added when a call ends, so requests already in flight when the budget runs out still
finish: the overshoot is at most the cost of the requests in flight (documented in gateway.md).
Spend survives restarts: it is re-read from `llm_calls` at start-up. With `limits_backend: redis`
the counters also live in Redis (`SharedSpend`), read before each check and incremented after each
call, so several replicas refuse together once their combined spend reaches the budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.config import VigilConfig
from vigil.gateway.keys import VirtualKey


def period_start(period: str, now: datetime) -> datetime:
    """Start (UTC) of the budget period containing `now`."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.replace(day=1) if period == "monthly" else day


@dataclass(slots=True)
class _Counter:
    period: str
    budget: float
    start: datetime
    spent: float = 0.0


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    scope: str
    name: str
    budget: float
    spent: float
    period: str
    resets_at: datetime


class SharedSpend:
    """Spend counters in Redis, one float per (scope, name, period start), expiring after it."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url)
        self._pending: set[asyncio.Task[Any]] = set()

    @staticmethod
    def counter_id(scope: str, name: str, start: datetime) -> str:
        return f"vigil:spend:{scope}:{name}:{start.date().isoformat()}"

    async def totals(self, ids: list[str]) -> list[float | None]:
        values = await self._redis.mget(ids)
        return [float(v) if v is not None else None for v in values]

    async def seed(self, counter: str, spent: float) -> None:
        """Start a counter at the stored spend unless another replica already did."""
        await self._redis.set(counter, spent, nx=True, ex=int(timedelta(days=32).total_seconds()))

    def add(self, counter: str, cost: float) -> None:
        async def incr() -> None:
            await self._redis.incrbyfloat(counter, cost)
            await self._redis.expire(counter, int(timedelta(days=32).total_seconds()))

        task = asyncio.get_running_loop().create_task(incr())
        self._pending.add(task)  # keep a reference until it is done
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._redis.aclose()


class Budgets:
    """Spend counters; `check` before a call, `add` after it."""

    def __init__(
        self,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        shared: SharedSpend | None = None,
    ) -> None:
        self._clock = clock
        self._keys: dict[str, _Counter] = {}
        self._teams: dict[str, _Counter] = {}
        self.shared = shared

    def configure(
        self,
        config: VigilConfig,
        keys: list[VirtualKey],
        spent: Callable[[str, str, datetime], float],
    ) -> None:
        """Set budgets from keys and config; `spent(scope, name, since)` reads stored spend."""
        now = self._clock()
        key_counters: dict[str, _Counter] = {}
        for key in keys:
            if key.budget_usd is not None and key.revoked_at is None:
                start = period_start(key.budget_period, now)
                key_counters[key.alias] = _Counter(
                    key.budget_period, key.budget_usd, start, spent("key", key.alias, start)
                )
        team_counters: dict[str, _Counter] = {}
        for team, cfg in config.budgets.teams.items():
            start = period_start(cfg.period, now)
            team_counters[team] = _Counter(
                cfg.period, cfg.budget_usd, start, spent("team", team, start)
            )
        self._keys, self._teams = key_counters, team_counters

    def add_key(self, key: VirtualKey) -> None:
        if key.budget_usd is not None:
            start = period_start(key.budget_period, self._clock())
            self._keys[key.alias] = _Counter(key.budget_period, key.budget_usd, start)

    def _current(self, counter: _Counter, now: datetime) -> _Counter:
        start = period_start(counter.period, now)
        if start != counter.start:  # a new period began: the counter starts again
            counter.start, counter.spent = start, 0.0
        return counter

    def _counters(self, key: str, team: str | None) -> list[tuple[str, str, _Counter]]:
        if key not in self._keys and (team is None or team not in self._teams):
            return []  # no budget applies: no clock read on the hot path
        now = self._clock()
        found = []
        for scope, table, name in (("key", self._keys, key), ("team", self._teams, team)):
            counter = table.get(name) if name is not None else None
            if counter is not None:
                found.append((scope, name or "", self._current(counter, now)))
        return found

    async def check_shared(self, key: str, team: str | None) -> BudgetRefusal | None:
        """`check`, after taking in the spend of every replica from Redis (when shared)."""
        if self.shared is not None:
            counters = self._counters(key, team)
            if counters:
                ids = [SharedSpend.counter_id(s, n, c.start) for s, n, c in counters]
                for (_, _, counter), total in zip(
                    counters, await self.shared.totals(ids), strict=True
                ):
                    if total is not None:
                        counter.spent = max(counter.spent, total)
        return self.check(key, team)

    async def seed_shared(self) -> None:
        if self.shared is None:
            return
        for scope, table in (("key", self._keys), ("team", self._teams)):
            for name, counter in table.items():
                counter_id = SharedSpend.counter_id(scope, name, counter.start)
                await self.shared.seed(counter_id, counter.spent)

    def check(self, key: str, team: str | None) -> BudgetRefusal | None:
        now = self._clock()
        for scope, table, name in (("key", self._keys, key), ("team", self._teams, team)):
            counter = table.get(name) if name is not None else None
            if counter is None:
                continue
            counter = self._current(counter, now)
            if counter.spent >= counter.budget:
                return BudgetRefusal(
                    scope,
                    name or "",
                    counter.budget,
                    counter.spent,
                    counter.period,
                    _next_start(counter.period, counter.start),
                )
        return None

    def add(self, key: str, team: str | None, cost: float) -> None:
        for scope, name, counter in self._counters(key, team):
            counter.spent += cost
            if self.shared is not None:
                self.shared.add(SharedSpend.counter_id(scope, name, counter.start), cost)

    def used_ratio(self) -> list[tuple[str, str, float]]:
        """(key alias, team, spent/budget) for every budget, for `vigil_budget_used_ratio`."""
        out = [(n, "", _ratio(c)) for n, c in self._keys.items()]
        out += [("", n, _ratio(c)) for n, c in self._teams.items()]
        return out


def _ratio(counter: _Counter) -> float:
    return counter.spent / counter.budget if counter.budget else 1.0


def _next_start(period: str, start: datetime) -> datetime:
    if period == "daily":
        return start + timedelta(days=1)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)
