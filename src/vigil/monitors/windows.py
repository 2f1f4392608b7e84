"""Windows: how a stream of predictions is cut into the chunks monitors compare.

A window is either a time period aligned to multiples of its length (UTC epoch), so the same hour is
the same window in every run, or a run of consecutive predictions of a fixed count. The newest
window is usually still open: it is checked too, and marked `closed=False`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

US = np.int64(1_000_000)


@dataclass(frozen=True, slots=True)
class Window:
    """Half-open [start, end) of one chunk, and the row positions (into a frame) that fall in it."""

    start: datetime
    end: datetime
    rows: np.ndarray
    closed: bool

    @property
    def size(self) -> int:
        return int(self.rows.size)


def to_datetime(us: int | np.integer) -> datetime:
    """Microseconds since the epoch (naive UTC in the store) -> aware UTC datetime."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def to_us(ts: datetime) -> int:
    aware = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return int((aware - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def time_windows(ts_us: np.ndarray, length: timedelta, now: datetime, count: int) -> list[Window]:
    """The `count` most recent aligned windows up to `now` (oldest first), empty ones included.

    `ts_us` must be sorted ascending (microseconds since the epoch).
    """
    step = max(int(length / timedelta(microseconds=1)), 1)
    now_us = to_us(now)
    current = now_us // step * step
    starts = current - step * np.arange(count - 1, -1, -1, dtype=np.int64)
    lo = np.searchsorted(ts_us, starts, side="left")
    hi = np.searchsorted(ts_us, starts + step, side="left")
    return [
        Window(
            to_datetime(s),
            to_datetime(s + step),
            np.arange(a, b),
            closed=bool(s + step <= now_us),
        )
        for s, a, b in zip(starts.tolist(), lo.tolist(), hi.tolist(), strict=True)
    ]


def count_windows(ts_us: np.ndarray, size: int, count: int) -> list[Window]:
    """The `count` most recent chunks of `size` consecutive rows (oldest first).

    Chunks are counted back from the newest row, so every chunk is full (closed) except the oldest
    when fewer rows exist; they slide forward as predictions arrive.
    """
    n = int(ts_us.size)
    out: list[Window] = []
    for k in range(count - 1, -1, -1):
        hi = n - k * size
        lo = max(hi - size, 0)
        if hi <= 0:
            continue
        rows = np.arange(lo, hi)
        out.append(
            Window(to_datetime(ts_us[lo]), to_datetime(ts_us[hi - 1] + 1), rows, rows.size == size)
        )
    return out


def split(
    ts_us: np.ndarray, *, length: timedelta, size: int | None, now: datetime, count: int
) -> list[Window]:
    """Windows by count when `size` is set, else by time."""
    if size:
        return count_windows(ts_us, size, count)
    return time_windows(ts_us, length, now, count)
