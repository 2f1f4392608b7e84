"""The embedded store: one DuckDB file, schema managed by `vigil.store.migrations`.

One connection per process; the pipeline's writer thread writes on its own cursor and readers get a
fresh cursor per call, so reads never wait for a group commit (DuckDB's MVCC).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from vigil.records import Record, columns
from vigil.store.arrow import to_arrow
from vigil.store.base import PreparedBatch, StoreError
from vigil.store.changes import ALL_TIME, ChangeLog
from vigil.store.migrations import LATEST_VERSION, META_DDL, pending

_RETENTION_TABLES = frozenset(
    {
        "llm_calls",
        "predictions",
        "labels",
        "feedback",
        "spans",
        "logs",
        "alert_history",
        "alert_deliveries",
        "audit_log",
        "business_metrics",
        "monitor_runs",
        "monitor_results",
    }
)


CHECKPOINT_THRESHOLD = "128MB"


def _naive_utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def _epoch_us(ts: datetime) -> int:
    return (_naive_utc(ts) - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBStore:
    """A Vigil store in one DuckDB file (created, and migrated to the latest schema, on open)."""

    def __init__(self, path: str | Path, *, target_version: int = LATEST_VERSION) -> None:
        self.path = str(path)
        self.changes = ChangeLog()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._con.execute("SET TimeZone = 'UTC'")
        # Group commits of a few thousand rows go to the WAL; checkpointing every 16 MB (the
        # default) would rewrite row groups several times a second under load (bench/pipeline.py).
        self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        self._writer = self._con.cursor()
        self._lock = threading.Lock()
        self._insert_sql: dict[type[Record], str] = {}
        self.schema_version = self._migrate(target_version)

    # -- schema ---------------------------------------------------------------------------------
    def _read_version(self) -> int:
        self._con.execute(META_DDL)
        row = self._con.execute(
            "SELECT value FROM vigil_meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, target: int) -> int:
        current = self._read_version()
        for migration in pending(current, target):  # raises SchemaTooNewError
            self._con.execute("BEGIN TRANSACTION")
            try:
                for statement in migration.statements:
                    self._con.execute(statement)
                self._con.execute(
                    "INSERT OR REPLACE INTO vigil_meta VALUES ('schema_version', ?)",
                    [str(migration.version)],
                )
                self._con.execute("COMMIT")
            except duckdb.Error as exc:
                self._con.execute("ROLLBACK")
                raise StoreError(
                    f"migration to schema version {migration.version} failed: {exc}"
                ) from exc
            current = migration.version
        return current

    # -- writes (pipeline writer thread only) ---------------------------------------------------
    def _insert_statement(self, record_type: type[Record]) -> str:
        sql = self._insert_sql.get(record_type)
        if sql is None:
            cols = ", ".join(_quote(c) for c in columns(record_type))
            sql = f"INSERT INTO {_quote(record_type.TABLE)} ({cols}) SELECT {cols} FROM __batch"
            self._insert_sql[record_type] = sql
        return sql

    def prepare(self, batches: Mapping[type[Record], Sequence[Record]]) -> PreparedBatch:
        return [(rt, to_arrow(rt, recs)) for rt, recs in batches.items() if recs]

    def write(self, batches: Mapping[type[Record], Sequence[Record]]) -> None:
        self.commit(self.prepare(batches))

    def commit(self, prepared: PreparedBatch) -> None:
        tables = prepared
        if not tables:
            return
        cur = self._writer
        with self._lock:
            cur.execute("BEGIN TRANSACTION")
            try:
                for record_type, table in tables:
                    cur.register("__batch", table)
                    try:
                        cur.execute(self._insert_statement(record_type))
                    finally:
                        cur.unregister("__batch")
                cur.execute("COMMIT")
            except duckdb.Error as exc:
                cur.execute("ROLLBACK")
                raise StoreError(f"write failed: {exc}") from exc
        for record_type, table in tables:
            span = pc.min_max(table.column("ts"))
            low, high = span["min"].value, span["max"].value
            if low is None:
                self.changes.note(record_type.TABLE, ALL_TIME)
            else:
                self.changes.note(record_type.TABLE, low, high + 1)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock:
            self._writer.execute(sql, list(params))

    def transaction(
        self, statements: Sequence[tuple[str, Sequence[Any]]], tables: Mapping[str, Any] = {}
    ) -> None:
        cur = self._writer
        with self._lock:
            for name, table in tables.items():
                cur.register(name, table)
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    for sql, params in statements:
                        cur.execute(sql, list(params))
                    cur.execute("COMMIT")
                except duckdb.Error as exc:
                    cur.execute("ROLLBACK")
                    raise StoreError(f"write failed: {exc}") from exc
            finally:
                for name in tables:
                    cur.unregister(name)

    def delete_older_than(self, table: str, cutoff: datetime) -> int:
        if table not in _RETENTION_TABLES:
            raise ValueError(f"unknown table {table!r}")
        with self._lock:
            row = self._writer.execute(
                f"DELETE FROM {_quote(table)} WHERE ts < ?", [_naive_utc(cutoff)]
            ).fetchone()
        self.changes.note(table, ALL_TIME, _epoch_us(cutoff))
        return int(row[0]) if row else 0

    # -- reads (any thread) ---------------------------------------------------------------------
    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._con.cursor()
        try:
            return cur.execute(sql, list(params)).fetchall()
        finally:
            cur.close()

    def fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        cur = self._con.cursor()
        try:
            return cur.sql(sql, params=list(params)).to_arrow_table()
        finally:
            cur.close()

    def close(self) -> None:
        with self._lock:
            self._writer.close()
            self._con.close()
