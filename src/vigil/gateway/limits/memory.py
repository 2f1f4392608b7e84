"""In-process limiter: one sliding window log per scope (exact for a single Vigil process)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from vigil.gateway.limits.base import (
    WINDOW_S,
    Admission,
    Denial,
    LimitSpec,
    Usage,
)


class _Entry:
    __slots__ = ("tokens", "ts")

    def __init__(self, ts: float, tokens: int) -> None:
        self.ts = ts
        self.tokens = tokens


class _Window:
    """Admissions of the last 60 s of one scope, oldest first, with their token sum."""

    __slots__ = ("entries", "tokens")

    def __init__(self) -> None:
        self.entries: deque[_Entry] = deque()
        self.tokens = 0

    def prune(self, now: float) -> None:
        horizon = now - WINDOW_S
        entries = self.entries
        while entries and entries[0].ts <= horizon:
            self.tokens -= entries.popleft().tokens

    def reset_requests(self, now: float) -> float:
        return self.entries[0].ts + WINDOW_S - now if self.entries else 0.0

    def reset_tokens(self, now: float, needed: int, limit: int) -> float:
        """Seconds until enough old tokens leave the window for `needed` more to fit."""
        excess = self.tokens + needed - limit
        if excess <= 0:
            return 0.0
        freed = 0
        for entry in self.entries:
            freed += entry.tokens
            if freed >= excess:
                return entry.ts + WINDOW_S - now
        return WINDOW_S

    def usage(self, spec: LimitSpec, now: float, tokens: int = 0) -> Usage:
        return Usage(
            limit_requests=spec.rpm,
            remaining_requests=None if spec.rpm is None else spec.rpm - len(self.entries),
            reset_requests_s=self.reset_requests(now),
            limit_tokens=spec.tpm,
            remaining_tokens=None if spec.tpm is None else spec.tpm - self.tokens,
            reset_tokens_s=0.0 if spec.tpm is None else self.reset_tokens(now, tokens, spec.tpm),
        )


class MemoryLimiter:
    """Exact sliding-window RPM/TPM in memory; nothing here blocks or allocates much."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def _window(self, spec: LimitSpec) -> _Window:
        window = self._windows.get(spec.id)
        if window is None:
            window = self._windows[spec.id] = _Window()
        return window

    async def acquire(self, specs: list[LimitSpec], tokens: int) -> Admission | Denial:
        return self.acquire_now(specs, tokens)

    def acquire_now(self, specs: list[LimitSpec], tokens: int) -> Admission | Denial:
        now = self._clock()
        windows = []
        for spec in specs:
            if spec.rpm is None and spec.tpm is None:
                continue
            window = self._window(spec)
            window.prune(now)
            if spec.rpm is not None and len(window.entries) >= spec.rpm:
                usage = window.usage(spec, now)
                return Denial(spec, usage, usage.reset_requests_s, "requests")
            if spec.tpm is not None and window.tokens + tokens > spec.tpm:
                usage = window.usage(spec, now, tokens)
                wait = usage.reset_tokens_s if tokens <= spec.tpm else WINDOW_S
                return Denial(spec, usage, wait, "tokens")
            windows.append((spec, window))
        admission = Admission(tokens)
        for _spec, window in windows:
            entry = _Entry(now, tokens)
            window.entries.append(entry)
            window.tokens += tokens
            admission.handles.append((window, entry))
        if windows:
            spec, window = windows[0]
            admission.usage = window.usage(spec, now)
        return admission

    async def settle(self, admission: Admission, tokens: int) -> None:
        delta = tokens - admission.tokens
        if not delta:
            return
        for window, entry in admission.handles:
            if window.entries and entry.ts > self._clock() - WINDOW_S:
                entry.tokens += delta
                window.tokens += delta

    async def close(self) -> None:
        self._windows.clear()
