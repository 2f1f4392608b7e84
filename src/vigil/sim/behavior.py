"""Per-request decisions shared by both simulated servers: fault, delays, rate limits.

Each request gets a `Plan` before any byte is written: which failure (if any) it will show, its
time to first token and per-piece delay. The control headers of docs/simulator.md override the
profile's random draws so tests can ask for exactly one behaviour:

    x-sim-fail: 429|500|503|529|drop|slow|timeout|midstream|none
    x-sim-latency-ms: N        time to first token (non-stream: before the body)
    x-sim-token-ms: N          delay between streamed pieces
    x-sim-output-tokens: N     length of the answer, before max_tokens applies
    x-sim-gap-ms: N            idle gap of a slow stream

Rate limits are token buckets (`rpm`, `tpm`), so a 429 from the limiter comes with honest
remaining/reset figures, the way a client's back-off logic expects them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from vigil.sim.profiles import ModelProfile, Profile

FAULTS = frozenset({"429", "500", "503", "529", "drop", "slow", "timeout", "midstream", "none"})
STREAM_ONLY_FAULTS = frozenset({"drop", "slow", "midstream"})
NOMINAL_RPM = 10_000
NOMINAL_TPM = 30_000_000


class TokenBucket:
    """`capacity` tokens refilled continuously over one minute."""

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self.rate = per_minute / 60.0
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_take(self, amount: float) -> bool:
        self._refill()
        if self.level >= amount:
            self.level -= amount
            return True
        return False

    def remaining(self) -> int:
        return max(int(self.level), 0)

    def wait_s(self, amount: float) -> float:
        """Seconds until `amount` tokens will be available."""
        return max(amount - self.level, 0.0) / self.rate

    def reset_s(self) -> float:
        """Seconds until the bucket is full again (OpenAI's `x-ratelimit-reset-*`)."""
        return (self.capacity - self.level) / self.rate


@dataclass(slots=True)
class Limits:
    """What a request sees of its model's rate limits; `retry_after_s` > 0 means refused."""

    limit_requests: int
    remaining_requests: int
    reset_requests_s: float
    limit_tokens: int
    remaining_tokens: int
    reset_tokens_s: float
    retry_after_s: float = 0.0


@dataclass(slots=True)
class Plan:
    """Everything decided about one request before answering it."""

    fault: str | None
    ttft_s: float
    token_s: float
    gap_s: float
    output_tokens: int | None
    """Forced answer length (x-sim-output-tokens), else None: drawn from the request hash."""


@dataclass(slots=True)
class SimState:
    """Mutable state of one simulated server: profile, random source, buckets, key."""

    profile: Profile
    api_key: str | None = None
    rng: random.Random = field(init=False)
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    requests: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.profile.seed)

    def plan(self, model: ModelProfile, headers: Mapping[str, str], stream: bool) -> Plan:
        """Decide the request's fault and delays; control headers win over random draws."""
        self.requests += 1
        rng, scale = self.rng, self.profile.time_scale
        fault = headers.get("x-sim-fail")
        if fault is not None:
            fault = fault.strip().lower()
            if fault not in FAULTS:
                fault = None
        else:
            fault = _draw_fault(model, rng, stream)
        if fault == "none":
            fault = None
        latency = headers.get("x-sim-latency-ms")
        token = headers.get("x-sim-token-ms")
        gap = headers.get("x-sim-gap-ms")
        forced = headers.get("x-sim-output-tokens")
        return Plan(
            fault=fault,
            ttft_s=_ms(latency) if latency else model.ttft.sample_s(rng) * scale,
            token_s=_ms(token) if token else model.token.sample_s(rng) * scale,
            gap_s=_ms(gap) if gap else model.slow_gap.sample_s(rng) * scale,
            output_tokens=max(int(forced), 0) if forced and forced.isdigit() else None,
        )

    def limits(self, model: ModelProfile, tokens: int) -> Limits:
        """Take one request and `tokens` tokens from the model's buckets (if it has limits)."""
        rpm = self._bucket(model, "rpm", model.rpm)
        tpm = self._bucket(model, "tpm", model.tpm)
        retry = 0.0
        if rpm is not None and not rpm.try_take(1):
            retry = max(rpm.wait_s(1), 0.001)
        elif tpm is not None and not tpm.try_take(tokens):
            retry = max(tpm.wait_s(min(tokens, tpm.capacity)), 0.001)
            if rpm is not None:
                rpm.level += 1  # the request did not happen after all
        return Limits(
            limit_requests=model.rpm or NOMINAL_RPM,
            remaining_requests=rpm.remaining() if rpm else NOMINAL_RPM - 1,
            reset_requests_s=rpm.reset_s() if rpm else 0.006,
            limit_tokens=model.tpm or NOMINAL_TPM,
            remaining_tokens=tpm.remaining() if tpm else NOMINAL_TPM - tokens,
            reset_tokens_s=tpm.reset_s() if tpm else 0.0,
            retry_after_s=retry,
        )

    def _bucket(self, model: ModelProfile, kind: str, limit: int | None) -> TokenBucket | None:
        if not limit:
            return None
        key = (model.name, kind)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(limit)
        return bucket


def injected_limits(model: ModelProfile, tokens: int) -> Limits:
    """The figures of an injected 429: nothing left, back in a second."""
    return Limits(
        limit_requests=model.rpm or NOMINAL_RPM,
        remaining_requests=0,
        reset_requests_s=1.0,
        limit_tokens=model.tpm or NOMINAL_TPM,
        remaining_tokens=max((model.tpm or NOMINAL_TPM) - tokens, 0),
        reset_tokens_s=1.0,
        retry_after_s=1.0,
    )


def _draw_fault(model: ModelProfile, rng: random.Random, stream: bool) -> str | None:
    u = rng.random()
    for rate, fault in (
        (model.rate_limit_rate, "429"),
        (model.error_rate, "5xx"),
        (model.drop_rate if stream else 0.0, "drop"),
        (model.slow_rate if stream else 0.0, "slow"),
        (model.midstream_error_rate if stream else 0.0, "midstream"),
    ):
        if u < rate:
            if fault == "5xx":
                return "500" if rng.random() < 0.5 else "503"
            return fault
        u -= rate
    return None


def _ms(raw: str) -> float:
    try:
        return max(float(raw), 0.0) / 1000.0
    except ValueError:
        return 0.0


def duration_text(seconds: float) -> str:
    """OpenAI's reset format: `20ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{max(round(seconds * 1000), 0)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest, 3):g}s"


async def wait_until_closed(transport: asyncio.BaseTransport | None) -> None:
    """Hold a request open until the client goes away (x-sim-fail: timeout)."""
    while transport is not None and not transport.is_closing():  # noqa: ASYNC110 - no event exists
        await asyncio.sleep(0.05)
