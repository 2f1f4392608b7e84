"""The limiter interface shared by the memory and Redis backends."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limited scope: `key`/`alias`, `model`/`gpt-4o`, `deployment`/`gpt-4o#0`."""

    scope: str
    name: str
    rpm: int | None
    tpm: int | None

    @property
    def id(self) -> str:
        return f"{self.scope}:{self.name}"


@dataclass(slots=True)
class Usage:
    """What one scope has left after an admission, for the `x-ratelimit-*` headers."""

    limit_requests: int | None
    remaining_requests: int | None
    reset_requests_s: float
    limit_tokens: int | None
    remaining_tokens: int | None
    reset_tokens_s: float


@dataclass(slots=True)
class Admission:
    """An admitted request; `settle` it with the real token count when the call ends."""

    tokens: int
    handles: list[Any] = field(default_factory=list)
    usage: Usage | None = None
    """Of the most specific limited scope (the key's when it has limits)."""


@dataclass(slots=True)
class Denial:
    spec: LimitSpec
    usage: Usage
    retry_after_s: float
    reason: str


class Limiter(Protocol):
    async def acquire(self, specs: list[LimitSpec], tokens: int) -> Admission | Denial:
        """Admit in every scope or in none (no partial charge on a denial)."""

    async def settle(self, admission: Admission, tokens: int) -> None:
        """Replace the up-front token estimate with the real count."""

    async def close(self) -> None: ...


def _fmt_reset(seconds: float) -> str:
    """OpenAI's reset format: `1s`, `6m0s`, `250ms`."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def ratelimit_headers(usage: Usage | None) -> dict[str, str]:
    """OpenAI's `x-ratelimit-*` headers for one scope's usage."""
    if usage is None:
        return {}
    headers: dict[str, str] = {}
    if usage.limit_requests is not None:
        headers["x-ratelimit-limit-requests"] = str(usage.limit_requests)
        headers["x-ratelimit-remaining-requests"] = str(max(0, usage.remaining_requests or 0))
        headers["x-ratelimit-reset-requests"] = _fmt_reset(usage.reset_requests_s)
    if usage.limit_tokens is not None:
        headers["x-ratelimit-limit-tokens"] = str(usage.limit_tokens)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, usage.remaining_tokens or 0))
        headers["x-ratelimit-reset-tokens"] = _fmt_reset(usage.reset_tokens_s)
    return headers
