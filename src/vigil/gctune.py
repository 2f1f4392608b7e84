"""Garbage-collector settings for a long-running Vigil process.

CPython's default thresholds (700 net allocations for a young collection) were chosen for small
scripts. A Vigil server holds large, long-lived object graphs (alert states, key rings, config,
caches) and allocates many short-lived objects per request and per alert cycle, so the default
runs full collections over that whole graph several times a second under load. Measured with
`bench/alerts.py` (1,000 rules, 15,000 alerts): a cycle's P50 fell from 986 ms to 703 ms with
these settings. Reference cycles are still collected, only in larger batches; `gc.freeze()` moves
what start-up built into the permanent generation so collections stop re-scanning it.
"""

from __future__ import annotations

import atexit
import gc

THRESHOLDS = (100_000, 50, 100)
"""Young-generation allocations, then young and middle collections between older ones."""


def tune_gc(*, freeze: bool = True) -> None:
    """Apply `THRESHOLDS`; with `freeze`, exempt everything alive now from future collections."""
    gc.set_threshold(*THRESHOLDS)
    if freeze:
        gc.collect()
        gc.freeze()
        atexit.register(_release)


def _release() -> None:
    """Let the frozen objects be collected before the interpreter ends: native bindings
    (DuckDB's) report objects still alive at exit as leaks."""
    gc.unfreeze()
    gc.collect()
