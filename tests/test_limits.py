"""Limiter and budget arithmetic, property-tested with a fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.gateway.budgets import Budgets, period_start
from vigil.gateway.keys import VirtualKey
from vigil.gateway.limits import Admission, Denial, LimitSpec, MemoryLimiter
from vigil.gateway.limits.base import ratelimit_headers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=200, deadline=None)
@given(
    rpm=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=120),
)
def test_rpm_never_admits_more_than_the_limit_in_any_minute(rpm: int, gaps: list[float]) -> None:
    clock = Clock()
    limiter = MemoryLimiter(clock)
    spec = LimitSpec("key", "k", rpm, None)
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap
        if isinstance(limiter.acquire_now([spec], 1), Admission):
            admitted.append(clock.now)
    for i, t in enumerate(admitted):  # every sliding 60 s window holds at most rpm admissions
        in_window = [u for u in admitted[i:] if u < t + 60]
        assert len(in_window) <= rpm


@settings(max_examples=200, deadline=None)
@given(
    rpm=st.integers(min_value=1, max_value=10),
    n=st.integers(min_value=1, max_value=40),
)
def test_rpm_admits_exactly_the_limit_in_a_burst(rpm: int, n: int) -> None:
    limiter = MemoryLimiter(Clock())
    spec = LimitSpec("key", "k", rpm, None)
    outcomes = [limiter.acquire_now([spec], 1) for _ in range(n)]
    assert sum(isinstance(o, Admission) for o in outcomes) == min(n, rpm)
    for denial in outcomes[rpm:]:
        assert isinstance(denial, Denial) and 0 < denial.retry_after_s <= 60


@settings(max_examples=200, deadline=None)
@given(
    tpm=st.integers(min_value=10, max_value=10_000),
    calls=st.lists(
        st.tuples(st.integers(1, 3000), st.integers(0, 3000), st.floats(0, 20)), max_size=60
    ),
)
def test_tpm_counts_estimates_then_settles_on_real_usage(
    tpm: int, calls: list[tuple[int, int, float]]
) -> None:
    clock = Clock()
    limiter = MemoryLimiter(clock)
    spec = LimitSpec("model", "m", None, tpm)
    live: list[tuple[float, int]] = []  # (admitted at, real tokens)
    for estimate, real, gap in calls:
        clock.now += gap
        live = [(t, k) for t, k in live if t > clock.now - 60]
        used = sum(k for _, k in live)
        outcome = limiter.acquire_now([spec], estimate)
        if used + estimate <= tpm:
            assert isinstance(outcome, Admission)
            asyncio.run(limiter.settle(outcome, real))
            live.append((clock.now, real))
        else:
            assert isinstance(outcome, Denial) and outcome.reason == "tokens"


def test_denial_is_all_or_nothing_across_scopes() -> None:
    limiter = MemoryLimiter(Clock())
    key = LimitSpec("key", "k", 10, None)
    model = LimitSpec("model", "m", 1, None)
    assert isinstance(limiter.acquire_now([key, model], 1), Admission)
    denied = limiter.acquire_now([key, model], 1)
    assert isinstance(denied, Denial) and denied.spec.scope == "model"
    # the refused request did not use up the key's allowance
    other = LimitSpec("model", "other", 100, None)
    for _ in range(9):
        assert isinstance(limiter.acquire_now([key, other], 1), Admission)
    assert isinstance(limiter.acquire_now([key, other], 1), Denial)


def test_ratelimit_headers_follow_openai_format() -> None:
    limiter = MemoryLimiter(Clock())
    outcome = limiter.acquire_now([LimitSpec("key", "k", 60, 1000)], 100)
    assert isinstance(outcome, Admission)
    headers = ratelimit_headers(outcome.usage)
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert headers["x-ratelimit-remaining-requests"] == "59"
    assert headers["x-ratelimit-remaining-tokens"] == "900"
    assert headers["x-ratelimit-reset-requests"].endswith("s")


def _key(alias: str, budget: float, period: str = "daily", team: str | None = None) -> VirtualKey:
    return VirtualKey(
        alias, alias, "h-" + alias, "vk-", budget_usd=budget, budget_period=period, team=team
    )


@settings(max_examples=200, deadline=None)
@given(
    budget=st.floats(min_value=0, max_value=10),
    costs=st.lists(st.floats(min_value=0, max_value=2), max_size=50),
)
def test_budget_refuses_once_spent_and_overshoots_by_at_most_one_call(
    budget: float, costs: list[float]
) -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    budgets = Budgets(lambda: now)
    budgets.add_key(_key("k", budget))
    spent = 0.0
    for cost in costs:
        refusal = budgets.check("k", None)
        assert (refusal is not None) == (spent >= budget)
        if refusal is None:
            budgets.add("k", None, cost)
            spent += cost
    assert spent < budget + (max(costs) if costs else 0) + 1e-9


def test_budget_period_resets_and_team_budget_counts_every_key() -> None:
    now = [datetime(2026, 11, 23, 23, 59, tzinfo=UTC)]
    budgets = Budgets(lambda: now[0])
    budgets.add_key(_key("a", 1.0, "daily"))
    budgets.add("a", None, 1.0)
    assert budgets.check("a", None) is not None
    now[0] += timedelta(minutes=2)  # next day
    assert budgets.check("a", None) is None
    assert period_start("monthly", now[0]) == datetime(2026, 11, 24, tzinfo=UTC).replace(day=1)


def test_concurrent_requests_overshoot_by_at_most_those_in_flight() -> None:
    """Spend is added when a call ends: N calls admitted together may all finish."""
    now = datetime(2026, 11, 23, tzinfo=UTC)
    budgets = Budgets(lambda: now)
    budgets.add_key(_key("k", 1.0))
    in_flight = [budgets.check("k", None) for _ in range(5)]  # five start before any ends
    assert all(r is None for r in in_flight)
    for _ in in_flight:
        budgets.add("k", None, 0.4)
    assert budgets.check("k", None) is not None
    assert budgets.used_ratio() == [("k", "", 2.0)]  # overshoot = the calls that were in flight
