"""The server-wide config sections: everything except the gateway's providers, models and keys.

Every model forbids unknown keys, so a typo in `vigil.yaml` is reported with its key path instead of
being silently ignored, and is frozen, so the running config can be shared between threads and
swapped as a whole on reload (`vigil.config.manager`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from vigil.alerts.config import (
    AlertmanagerTarget,
    AlertRule,
    InhibitRule,
    ReceiverConfig,
    RouteConfig,
    default_inhibit_rules,
)
from vigil.config.durations import Duration, at_least, parse_duration
from vigil.jsonlog import MASK

RetentionDuration = Annotated[Duration, at_least(timedelta(hours=1))]
"""A retention period; anything below an hour would delete data faster than checks run."""

Period = Literal["daily", "monthly"]


def mask_url_password(text: str) -> str:
    """`redis://:pw@host/0` -> `redis://:********@host/0`; other strings unchanged."""
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password:
        return text
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


class Section(BaseModel):
    """Base of every config model: unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Like pydantic's, with URL passwords (`redis://:pw@host`) masked: reprs reach logs."""
        for name, value in super().__repr_args__():
            yield name, mask_url_password(value) if isinstance(value, str) else value


def doc_default(text: str) -> dict[str, Any]:
    """`json_schema_extra` for fields whose effective default is computed, for the docs table."""
    return {"doc_default": text}


class ServerConfig(Section):
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(default=4000, ge=1, le=65535, description="TCP port of the one HTTP server.")
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the admin API and UI. When unset, a random token is "
        "generated at startup and printed once.",
        json_schema_extra=doc_default("generated at startup"),
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Minimum level of log records written."
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="`json` (one object per line) for machines, `text` for people."
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="Largest request body accepted (gateway and ingest); larger bodies get 413.",
    )


class StoreConfig(Section):
    backend: Literal["duckdb", "clickhouse"] = Field(
        default="duckdb",
        description="`duckdb`: one embedded file, for one replica. `clickhouse`: shared by "
        "several replicas.",
    )
    path: str = Field(
        default="./vigil-data/vigil.duckdb",
        description="DuckDB database file (backend `duckdb`); its directory is created if needed.",
    )
    url: str | None = Field(
        default=None,
        description="ClickHouse URL, e.g. `http://user:pass@host:8123/vigil`; required when "
        "backend is `clickhouse`.",
    )


class LimitsBackendConfig(Section):
    """Where rate-limit and budget counters live; shorthand `memory` or a `redis://` URL."""

    backend: Literal["memory", "redis"] = Field(
        default="memory",
        description="`memory`: counters in this process. `redis`: exact across replicas.",
    )
    url: str | None = Field(
        default=None,
        description="Redis URL, e.g. `redis://127.0.0.1:6379/0`; required when backend is `redis`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """Accept `limits_backend: memory` and `limits_backend: redis://host:6379/0`."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("{"):  # a JSON object from VIGIL_LIMITS_BACKEND
            return json.loads(text)
        if text.startswith(("redis://", "rediss://", "unix://")):
            return {"backend": "redis", "url": text}
        return {"backend": text}


class PipelineConfig(Section):
    queue_max_records: int = Field(
        default=200_000, ge=1, description="Records held in memory before ingest pushes back."
    )
    high_water_ratio: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Queue fill ratio above which ingest answers 429/503 with `retry-after`.",
    )
    batch_max_records: int = Field(
        default=20_000, ge=1, description="Most records written in one store transaction."
    )
    flush_interval: Duration = Field(
        default=parse_duration("200ms"),
        description="Longest gateway telemetry waits before its batch is committed, so also the "
        "most a `kill -9` can lose (ingest writes, which wait for their commit, go at once).",
    )
    retry_after: Duration = Field(
        default=parse_duration("1s"),
        description="`retry-after` sent to ingest clients while the queue is above high water.",
    )


class RetentionConfig(Section):
    """How long each data class is kept; at least 1h each."""

    logs: RetentionDuration = Field(default=parse_duration("30d"), description="Log records.")
    spans: RetentionDuration = Field(default=parse_duration("30d"), description="Trace spans.")
    llm_calls: RetentionDuration = Field(
        default=parse_duration("90d"), description="LLM calls (gateway, ingest and OTLP)."
    )
    inference: RetentionDuration = Field(
        default=parse_duration("90d"), description="ML predictions, labels and feedback."
    )
    alert_history: RetentionDuration = Field(
        default=parse_duration("365d"), description="Alert state changes and notifications."
    )
    audit: RetentionDuration = Field(default=parse_duration("365d"), description="Admin audit log.")
    check_interval: Duration = Field(
        default=parse_duration("1h"), description="How often expired rows are deleted."
    )


class TeamBudget(Section):
    budget_usd: float = Field(ge=0, description="Spend allowed per period, in US dollars.")
    period: Period = Field(default="monthly", description="When the spend counter resets.")


class BudgetsConfig(Section):
    teams: dict[str, TeamBudget] = Field(
        default_factory=dict,
        description="Budget per team name; keys join teams through their `team`.",
    )


class DriftOverride(Section):
    """Replace the automatic drift method and/or its default threshold for one feature."""

    method: (
        Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "hellinger"] | None
    ) = Field(default=None, description="Drift method; unset: chosen automatically.")
    threshold: float | None = Field(
        default=None, gt=0, description="Threshold; unset: the method's default."
    )


class MLModelConfig(Section):
    task: Literal["binary", "multiclass", "regression"] = Field(
        description="What the model predicts; selects the performance metrics."
    )
    features: dict[str, Literal["numerical", "categorical", "text", "embedding"]] = Field(
        default_factory=dict,
        description="Feature name to kind; selects the drift test. Empty: inferred from data.",
    )
    reference: str | None = Field(
        default=None,
        description="CSV or Parquet file with reference data that drift is measured against.",
    )
    label_delay: Duration | None = Field(
        default=None, description="How late labels usually arrive; performance waits for them."
    )
    positive_class: str | None = Field(
        default=None, description="The positive label of a `binary` model."
    )
    drift: dict[str, DriftOverride] = Field(
        default_factory=dict,
        description="Per-feature drift method and threshold, replacing the automatic choice.",
    )


class PromptDriftConfig(Section):
    """Drift of what users ask LLM models: captured prompts embedded through the gateway
    (docs/monitors.md#prompt-drift). Off by default: every embedded prompt is a paid call."""

    enabled: bool = Field(
        default=False,
        description="Embed a sample of each watched model's captured prompts and test them for "
        "drift (needs `capture` on for those models).",
    )
    embedding_model: str | None = Field(
        default=None,
        description="Public model name (a key of `models`) serving `/v1/embeddings` that embeds "
        "the prompts; required when enabled.",
    )
    models: list[str] = Field(
        default_factory=list,
        description="LLM models to watch; empty: every model with captured request bodies in the "
        "window (the embedding model excepted).",
    )
    sample: int = Field(
        default=200,
        ge=10,
        le=5000,
        description="Most prompts embedded per window and model (the baseline takes this many "
        "per baseline window); bounds the embedding cost.",
    )
    baseline: Literal["previous"] = Field(
        default="previous",
        description="What the last window's prompts are compared with: the `monitors.windows` "
        "windows before it.",
    )


class MonitorsConfig(Section):
    """Windows, baselines and thresholds of the monitors (docs/monitors.md)."""

    enabled: bool = Field(default=True, description="Run drift and quality monitors.")
    interval: Duration = Field(
        default=parse_duration("5m"), description="How often monitors evaluate."
    )
    window: Duration = Field(
        default=parse_duration("1h"),
        description="Length of a time window; windows are aligned to multiples of it (UTC).",
    )
    window_size: int | None = Field(
        default=None,
        ge=10,
        description="When set, windows are consecutive chunks of this many predictions instead of "
        "time periods.",
    )
    windows: int = Field(
        default=4,
        ge=1,
        le=500,
        description="Most recent windows checked for drift and data quality in each run (the "
        "current, still open window included).",
    )
    performance_lookback: Duration = Field(
        default=parse_duration("7d"),
        description="How far back predictions are joined with their (late) labels for "
        "performance, estimated performance and concept drift.",
    )
    baseline: Literal["reference", "previous"] = Field(
        default="reference",
        description="What a window is compared with: the model's reference dataset, or the "
        "window before it (rolling).",
    )
    min_rows: int = Field(
        default=30, ge=1, description="Windows with fewer rows are reported but not tested."
    )
    drift_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Dataset drift when at least this share of features drifted.",
    )
    volume_tolerance: float = Field(
        default=0.5,
        gt=0,
        description="Prediction volume anomaly when a closed window's count differs from the "
        "median of the earlier windows by more than this fraction.",
    )
    performance_tolerance: float = Field(
        default=0.05,
        ge=0,
        description="A window's performance (realized or estimated) is flagged when it is worse "
        "than the reference's by more than this (absolute for rates and AUC, relative for errors).",
    )
    concept_delta: float = Field(
        default=0.05,
        ge=0,
        description="Page-Hinkley magnitude tolerance: rises of the excess error stream smaller "
        "than this are ignored (concept drift).",
    )
    concept_threshold: float = Field(
        default=50.0,
        gt=0,
        description="Page-Hinkley alarm threshold (lambda) on the cumulative excess error.",
    )
    max_examples: int = Field(
        default=5, ge=0, le=100, description="Examples kept per data-quality issue."
    )
    prompt_drift: PromptDriftConfig = Field(
        default_factory=PromptDriftConfig,
        description="Drift of LLM prompts, on embeddings obtained through the gateway.",
    )


class AlertsConfig(Section):
    """Alert rules, routing, receivers, inhibition and Alertmanagers (docs/alerts.md)."""

    enabled: bool = Field(default=True, description="Evaluate alert rules.")
    evaluation_interval: Duration = Field(
        default=parse_duration("15s"), description="How often rules are evaluated."
    )
    default_rules: bool = Field(
        default=True, description="Load the built-in rules (error ratio, latency, budget, ...)."
    )
    disabled_defaults: list[str] = Field(
        default_factory=list, description="Names of built-in rules to leave out."
    )
    rules: list[AlertRule] = Field(
        default_factory=list, description="Alert rules (a rule named like a built-in replaces it)."
    )
    receivers: list[ReceiverConfig] = Field(
        default_factory=list, description="Notification receivers (webhooks, Slack)."
    )
    route: RouteConfig = Field(
        default_factory=RouteConfig, description="Routing tree from alerts to receivers."
    )
    inhibit_rules: list[InhibitRule] = Field(
        default_factory=default_inhibit_rules,
        json_schema_extra=doc_default("critical mutes warning (same model, provider)"),
        description="Mute alerts while a matching source alert fires (default: a critical alert "
        "mutes the warnings of the same model and provider).",
    )
    alertmanagers: list[AlertmanagerTarget] = Field(
        default_factory=list, description="Alertmanagers receiving every alert (API v2)."
    )
    external_url: str = Field(
        default="http://127.0.0.1:4000",
        description="Vigil's URL as users reach it, for links in notifications.",
    )


class MetricsConfig(Section):
    bearer_token: SecretStr | None = Field(
        default=None, description="Token required to scrape `/metrics`; unset: open."
    )
    per_key_labels: bool = Field(
        default=False,
        description="Add a virtual-key label to gateway metrics (one series per key).",
    )


class StatsConfig(Section):
    rollup_widths: list[Annotated[Duration, at_least(timedelta(minutes=1))]] = Field(
        default_factory=lambda: [parse_duration(w) for w in ("1m", "5m", "15m", "2h", "12h", "1d")],
        description="Bucket widths kept pre-aggregated (exact, per model, provider, deployment, "
        "key, team and source) so `/api/v1/stats` answers them without scanning every call; "
        "the defaults are the UI's. Empty: none.",
    )
    rollup_interval: Duration = Field(
        default=parse_duration("10s"),
        description="How often rollups take in new and changed calls.",
    )


class UIUser(Section):
    name: str = Field(min_length=1, description="Login name.")
    password: SecretStr = Field(description="Password (use `env:NAME`).")
    role: Literal["admin", "viewer"] = Field(
        default="admin", description="`viewer` may read every page but change nothing."
    )


class UIConfig(Section):
    users: list[UIUser] = Field(
        default_factory=list,
        description="Web UI logins besides the admin token (which always logs in as admin).",
    )
    session_ttl: Duration = Field(
        default=parse_duration("12h"), description="How long a UI session lasts."
    )


class ReportsConfig(Section):
    schedule: list[Literal["daily", "weekly"]] = Field(
        default_factory=list,
        description="Reports generated when their period ends (UTC midnight; weekly on Monday).",
    )
    out_dir: str | None = Field(default=None, description="Directory scheduled reports go to.")
    webhook_url: SecretStr | None = Field(
        default=None, description="URL the report JSON summary and HTML are POSTed to."
    )
    pdf: bool = Field(default=False, description="Also render a PDF (needs Chromium).")


class CaptureConfig(Section):
    """Bodies kept with each gateway call; off by default because they hold user data."""

    enabled: bool = Field(
        default=False,
        description="Store request and response bodies of gateway calls (see per-model `capture`).",
    )
    max_bytes: int = Field(
        default=16384,
        ge=256,
        le=1_048_576,
        description="Largest body kept per call and direction, in UTF-8 bytes; longer ones are "
        "cut and marked truncated.",
    )


PROBE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class ProbeConfig(Section):
    """One synthetic probe: a small chat request sent through the gateway on a schedule, so a
    broken route, provider or key is noticed before users notice it (docs/alerts.md)."""

    name: str = Field(
        pattern=PROBE_NAME,
        max_length=100,
        description="Unique name: letters, digits, `_`, `.`, `-`; the `probe` label of its "
        "metrics and alerts.",
    )
    model: str = Field(description="Public model name (a key of `models`) the probe calls.")
    interval: Annotated[Duration, at_least(timedelta(milliseconds=100))] = Field(
        default=parse_duration("60s"),
        description="Time between the starts of two runs; a run never overlaps the previous one.",
    )
    timeout: Annotated[Duration, at_least(timedelta(milliseconds=100))] = Field(
        default=parse_duration("10s"),
        description="A run that has no complete answer by then fails with `timeout`.",
    )
    prompt: str = Field(
        default="Reply with the single word: pong",
        min_length=1,
        description="The user message sent.",
    )
    max_tokens: int = Field(
        default=16, ge=1, le=4096, description="`max_tokens` of the request (keeps probes cheap)."
    )
    stream: bool = Field(
        default=False,
        description="Stream the answer, which also measures the time to first token.",
    )
    expect: str | None = Field(
        default=None,
        description="Regular expression the answer must contain (`re.search`; a plain word is a "
        "substring match); unset: any answer passes.",
    )

    @field_validator("expect")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class SyntheticConfig(Section):
    """Synthetic probes, run in-process through the gateway (docs/alerts.md#synthetic-probes)."""

    probes: list[ProbeConfig] = Field(
        default_factory=list,
        description="Probes; names are unique and each `model` must be defined in `models`.",
    )
