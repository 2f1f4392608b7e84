"""The `Store` protocol every backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeAlias

from vigil.records import Record
from vigil.store.changes import ChangeLog


class StoreError(Exception):
    """A store could not be opened or written."""


class SchemaTooNewError(StoreError):
    """The file was written by a newer Vigil; opening it would risk corrupting it."""


PreparedBatch: TypeAlias = list[tuple[type[Record], Any]]
"""Record batches converted for the backend (Arrow tables), ready to commit."""


class Store(Protocol):
    schema_version: int
    changes: ChangeLog
    """What each commit and deletion touched, for caches of time-bucketed results."""

    def prepare(self, batches: Mapping[type[Record], Sequence[Record]]) -> PreparedBatch:
        """Convert records for insertion; pure CPU work, no store access (any thread)."""

    def commit(self, prepared: PreparedBatch) -> None:
        """Insert prepared batches in one transaction: all of them commit, or none."""

    def write(self, batches: Mapping[type[Record], Sequence[Record]]) -> None:
        """`commit(prepare(batches))`."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one write statement (writer thread only: `WritePipeline.run_exclusive`)."""

    def transaction(
        self, statements: Sequence[tuple[str, Sequence[Any]]], tables: Mapping[str, Any] = {}
    ) -> None:
        """Run write statements in one transaction (writer thread only), with Arrow `tables`
        readable by name in them."""

    def delete_older_than(self, table: str, cutoff: datetime) -> int:
        """Delete rows of `table` whose `ts` is before `cutoff` (UTC); returns rows deleted."""

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query from any thread."""

    def fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a read query from any thread; the result as an Arrow table."""

    def close(self) -> None: ...
