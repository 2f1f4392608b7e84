"""The DuckDB store: migrations, round trips of every record type, retention deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from vigil.records import (
    RECORD_TYPES,
    BusinessMetric,
    CallRecord,
    Feedback,
    Label,
    LogRecord,
    Prediction,
    Span,
)
from vigil.store import DuckDBStore, SchemaTooNewError
from vigil.store.migrations import LATEST_VERSION


def test_new_file_gets_latest_schema(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "data" / "v.duckdb")
    assert store.schema_version == LATEST_VERSION
    tables = {r[0] for r in store.fetch("SELECT table_name FROM information_schema.tables")}
    assert {
        "llm_calls",
        "predictions",
        "labels",
        "feedback",
        "spans",
        "logs",
        "alert_history",
        "audit_log",
    } <= tables
    store.close()


def test_previous_version_file_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old = DuckDBStore(path, target_version=LATEST_VERSION - 1)
    assert old.schema_version == LATEST_VERSION - 1
    old._con.execute(  # a row written by the previous version, with its columns only
        "INSERT INTO llm_calls (id, ts, model, input_tokens) VALUES ('old-1', now(), 'gpt-x', 7)"
    )
    old.close()

    store = DuckDBStore(path)
    assert store.schema_version == LATEST_VERSION
    assert store.fetch("SELECT id, input_tokens, cached_input_tokens FROM llm_calls") == [
        ("old-1", 7, 0)
    ]
    store.write({CallRecord: [CallRecord(id="new-1", model="gpt-x", cached_input_tokens=3)]})
    assert store.fetch("SELECT count(*) FROM llm_calls") == [(2,)]
    store.close()


def test_newer_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    DuckDBStore(path).close()
    con = duckdb.connect(str(path))
    con.execute(
        "UPDATE vigil_meta SET value = ? WHERE key = 'schema_version'", [str(LATEST_VERSION + 1)]
    )
    con.close()
    with pytest.raises(
        SchemaTooNewError, match=rf"version {LATEST_VERSION + 1} is newer.*upgrade Vigil"
    ):
        DuckDBStore(path)
    # The refused file is untouched.
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM vigil_meta").fetchone() == (str(LATEST_VERSION + 1),)
    con.close()


def test_every_record_type_round_trips(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "v.duckdb")
    ts = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
    records = {
        CallRecord: [CallRecord(id="c", ts=ts, model="m", input_tokens=3, metadata={"k": [1, 2]})],
        Prediction: [
            Prediction(id="p", ts=ts, model="churn", features={"a": 1.5, "b": "x"}, prediction=1)
        ],
        Label: [Label(id="l", ts=ts, prediction_id="p", label=1)],
        Feedback: [Feedback(id="f", ts=ts, call_id="c", score=0.5, comment="ok")],
        Span: [
            Span(
                trace_id="t",
                span_id="s",
                name="chat",
                ts=ts,
                attributes={"gen_ai.system": "openai"},
            )
        ],
        LogRecord: [LogRecord(id="g", ts=ts, body="hello", trace_id="t")],
        BusinessMetric: [
            BusinessMetric(id="b", ts=ts, name="ctr", value=0.1, labels={"page": "home"})
        ],
    }
    assert set(records) == set(RECORD_TYPES)
    store.write(records)
    assert store.fetch("SELECT ts, metadata->'k' FROM llm_calls") == [
        (ts.replace(tzinfo=None), "[1,2]")
    ]
    assert store.fetch("SELECT features->>'b', prediction FROM predictions") == [("x", "1")]
    assert store.fetch("SELECT attributes->>'gen_ai.system' FROM spans") == [("openai",)]
    store.close()


def test_delete_older_than_keeps_younger_rows(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "v.duckdb")
    now = datetime(2026, 11, 23, tzinfo=UTC)
    store.write({LogRecord: [LogRecord(id=str(d), ts=now - timedelta(days=d)) for d in range(40)]})
    assert store.delete_older_than("logs", now - timedelta(days=30)) == 9
    assert store.fetch("SELECT min(id::INT), max(id::INT) FROM logs") == [(0, 30)]
    with pytest.raises(ValueError):
        store.delete_older_than("vigil_meta", now)
    store.close()


def test_migration_versions_strictly_increase() -> None:
    from vigil.store.migrations import MIGRATIONS

    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions)), versions
