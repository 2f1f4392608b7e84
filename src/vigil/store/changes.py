"""Which time ranges of which tables changed since a point in the store's history.

Every committed batch and every deletion is noted with a sequence number and the lowest and
highest `ts` it touched. A reader that computed something from a time range at sequence S can ask
what changed after S and reuse the part of its result that no change touched (see
`vigil.api.stats_cache` and `vigil.api.stats_rollups`). Notes are taken after the commit, so a
change noted at or before S was visible to anything that read after taking S: the answer errs only
towards "changed".
"""

from __future__ import annotations

import threading
from collections import deque

ALL_TIME = -(2**63)
"""The low end of a change that may touch any earlier time (deletions by age, unknown writes)."""

END_OF_TIME = 2**63 - 1
"""The high end of a change that may touch any later time."""

MAX_NOTES = 65_536
"""Notes kept; a reader older than the oldest note is told that everything changed."""


class ChangeLog:
    def __init__(self, max_notes: int = MAX_NOTES) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._notes: deque[tuple[int, str, int, int]] = deque(maxlen=max_notes)

    @property
    def seq(self) -> int:
        """The sequence number of the newest note (0: nothing changed since start)."""
        return self._seq

    def note(self, table: str, low_us: int, high_us: int = END_OF_TIME) -> None:
        """Rows of `table` with `low_us <= ts < high_us` (epoch microseconds) changed."""
        with self._lock:
            self._seq += 1
            self._notes.append((self._seq, table, low_us, high_us))

    def changed_ranges(self, table: str, seq: int) -> list[tuple[int, int]]:
        """The `[low, high)` ranges of `ts` (epoch µs) of `table` changed after `seq`."""
        with self._lock:
            if seq >= self._seq:
                return []
            if not self._notes or self._notes[0][0] > seq + 1:
                # the notes after `seq` were dropped: assume anything changed
                return [(ALL_TIME, END_OF_TIME)]
            out: list[tuple[int, int]] = []
            for note_seq, note_table, low, high in reversed(self._notes):
                if note_seq <= seq:
                    break
                if note_table == table:
                    out.append((low, high))
            return out

    def changed_since(self, table: str, seq: int) -> int | None:
        """The lowest `ts` (epoch µs) of `table` changed after `seq`; None when nothing did."""
        ranges = self.changed_ranges(table, seq)
        return min(low for low, _ in ranges) if ranges else None
