"""Label values with a hard cap on how many distinct ones a metric may see.

Per-key labels are opt-in (`metrics.per_key_labels`) because every virtual key becomes a series:
a deployment with thousands of keys would otherwise swamp Prometheus. `CappedLabel` keeps the first
`limit` distinct values and folds every later one into `OTHER`, so the series count is bounded
whatever the traffic.
"""

from __future__ import annotations

import threading

OTHER = "__other__"
"""The label value every value past the cap is folded into."""

NONE = "__none__"
"""The label value for calls without a key (Prometheus drops empty label values)."""


class CappedLabel:
    """Maps raw values to label values: the first `limit` distinct ones kept, the rest `OTHER`.

    The membership test on the hot path takes no lock (a set lookup); only admitting a new value
    does, so concurrent callers never admit more than `limit` values.
    """

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return NONE
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER

    @property
    def admitted(self) -> int:
        """How many distinct values have their own series."""
        return len(self._seen)
