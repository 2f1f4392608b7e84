"""Versioned schema migrations for the DuckDB store.

Each migration is a list of statements applied in one transaction together with the version bump,
so a crash mid-migration leaves the file at the previous version. Migrations are append-only: never
edit a released one, add the next version instead. All timestamps are stored as UTC `TIMESTAMP`.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.store.base import SchemaTooNewError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "telemetry tables: llm_calls, predictions, labels, feedback, spans, logs",
        (
            """CREATE TABLE llm_calls (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, model VARCHAR, provider VARCHAR,
                deployment VARCHAR, source VARCHAR, key_id VARCHAR, team VARCHAR, "user" VARCHAR,
                status_code INTEGER, error_type VARCHAR, input_tokens BIGINT, output_tokens BIGINT,
                cost_usd DOUBLE, duration_s DOUBLE, ttft_s DOUBLE, stream BOOLEAN,
                retries INTEGER, fallback_from VARCHAR, trace_id VARCHAR, span_id VARCHAR,
                request_id VARCHAR, metadata JSON)""",
            """CREATE TABLE predictions (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, model VARCHAR NOT NULL,
                model_version VARCHAR, features JSON, prediction JSON, score DOUBLE,
                probabilities JSON)""",
            """CREATE TABLE labels (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, prediction_id VARCHAR NOT NULL,
                model VARCHAR, label JSON)""",
            """CREATE TABLE feedback (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, call_id VARCHAR, trace_id VARCHAR,
                score DOUBLE, comment VARCHAR, "user" VARCHAR)""",
            """CREATE TABLE spans (
                trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, parent_span_id VARCHAR,
                name VARCHAR, kind VARCHAR, service VARCHAR, ts TIMESTAMP NOT NULL,
                duration_s DOUBLE, status_code VARCHAR, status_message VARCHAR, attributes JSON,
                events JSON, resource JSON)""",
            """CREATE TABLE logs (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, level VARCHAR, service VARCHAR,
                body VARCHAR, trace_id VARCHAR, span_id VARCHAR, attributes JSON)""",
        ),
    ),
    Migration(
        2,
        "alert history and audit log; cached input tokens on llm_calls",
        (
            "ALTER TABLE llm_calls ADD COLUMN cached_input_tokens BIGINT DEFAULT 0",
            """CREATE TABLE alert_history (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, rule VARCHAR NOT NULL,
                fingerprint VARCHAR, severity VARCHAR, state VARCHAR NOT NULL,
                value DOUBLE, labels JSON, annotations JSON, event VARCHAR)""",
            """CREATE TABLE audit_log (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, actor VARCHAR, action VARCHAR NOT NULL,
                target VARCHAR, details JSON)""",
        ),
    ),
    Migration(
        3,
        "business metrics (events of kind `metric`)",
        (
            """CREATE TABLE business_metrics (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, name VARCHAR NOT NULL,
                value DOUBLE, model VARCHAR, labels JSON)""",
        ),
    ),
    Migration(
        4,
        "data-quality flags of ingested predictions (schema_issues)",
        ("ALTER TABLE predictions ADD COLUMN schema_issues JSON",),
    ),
    Migration(
        5,
        "monitor runs and their results (drift, quality, performance, estimates, LLM quality)",
        (
            """CREATE TABLE monitor_runs (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, model VARCHAR NOT NULL,
                kind VARCHAR, duration_s DOUBLE, status VARCHAR, error VARCHAR, summary JSON)""",
            """CREATE TABLE monitor_results (
                run_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, model VARCHAR NOT NULL,
                monitor VARCHAR NOT NULL, window_start TIMESTAMP, window_end TIMESTAMP,
                feature VARCHAR, metric VARCHAR, method VARCHAR, value DOUBLE, p_value DOUBLE,
                threshold DOUBLE, reference_value DOUBLE, flagged BOOLEAN,
                reference_size BIGINT, current_size BIGINT, details JSON)""",
            "CREATE INDEX monitor_results_model_ts ON monitor_results (model, ts)",
        ),
    ),
    Migration(
        6,
        "virtual keys of the gateway (hashed)",
        (
            """CREATE TABLE virtual_keys (
                id VARCHAR PRIMARY KEY, alias VARCHAR NOT NULL, key_hash VARCHAR NOT NULL UNIQUE,
                key_prefix VARCHAR, models JSON, rpm BIGINT, tpm BIGINT, budget_usd DOUBLE,
                budget_period VARCHAR, team VARCHAR, created_at TIMESTAMP NOT NULL,
                revoked_at TIMESTAMP)""",
        ),
    ),
    Migration(
        7,
        "alerts: evaluator state (restart survival), silences, delivery log, API-defined rules",
        (
            """CREATE TABLE alert_state (
                rule VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, state VARCHAR NOT NULL,
                labels JSON, annotations JSON, value DOUBLE, active_at TIMESTAMP NOT NULL,
                last_true_at TIMESTAMP NOT NULL, fired_at TIMESTAMP, resolved_at TIMESTAMP,
                notified_at TIMESTAMP)""",
            """CREATE TABLE alert_silences (
                id VARCHAR PRIMARY KEY, matchers JSON NOT NULL, starts_at TIMESTAMP NOT NULL,
                ends_at TIMESTAMP NOT NULL, created_by VARCHAR, comment VARCHAR,
                updated_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE alert_deliveries (
                id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, receiver VARCHAR NOT NULL,
                kind VARCHAR NOT NULL, url VARCHAR, ok BOOLEAN NOT NULL, attempts INTEGER,
                status INTEGER, error VARCHAR, group_key VARCHAR, alerts JSON)""",
            """CREATE TABLE alert_rules (
                name VARCHAR PRIMARY KEY, definition JSON NOT NULL,
                updated_at TIMESTAMP NOT NULL)""",
        ),
    ),
    Migration(
        8,
        "captured request and response bodies of LLM calls",
        (
            "ALTER TABLE llm_calls ADD COLUMN request_body VARCHAR",
            "ALTER TABLE llm_calls ADD COLUMN response_body VARCHAR",
        ),
    ),
    Migration(
        9,
        "stats rollups: exact per-bucket aggregates of llm_calls (vigil.api.stats_rollups)",
        (
            """CREATE TABLE stats_rollups (
                width_us BIGINT NOT NULL, dim VARCHAR NOT NULL, value VARCHAR,
                bucket BIGINT NOT NULL, requests BIGINT NOT NULL, input_tokens BIGINT,
                output_tokens BIGINT, cached_input_tokens BIGINT, cost_usd DOUBLE,
                timeouts BIGINT, e429 BIGINT, e4xx BIGINT, e5xx BIGINT, latency_avg DOUBLE,
                latency_q DOUBLE[], ttft_q DOUBLE[])""",
            """CREATE TABLE stats_rollup_state (
                width_us BIGINT PRIMARY KEY, low BIGINT NOT NULL, high BIGINT NOT NULL)""",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

META_DDL = "CREATE TABLE IF NOT EXISTS vigil_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"


def pending(current: int, target: int = LATEST_VERSION) -> list[Migration]:
    """Migrations to apply to go from `current` to `target`; refuses files newer than the code."""
    if current > LATEST_VERSION:
        raise SchemaTooNewError(
            f"store schema version {current} is newer than this Vigil understands "
            f"(latest {LATEST_VERSION}); upgrade Vigil or point store.path at another file"
        )
    return [m for m in MIGRATIONS if current < m.version <= target]
