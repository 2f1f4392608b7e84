"""The `alerts:` config models: rules, receivers, the routing tree, inhibition and Alertmanagers.

They live here rather than in `vigil.config.sections` so the alert code owns its vocabulary; the
config package imports them, and `vigil check-config` reports a bad rule with its key path
(`alerts.rules.2.window`). Matchers use Alertmanager's syntax (`severity="critical"`, `=~`, `!~`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from vigil.config.durations import Duration, parse_duration

Severity = Literal["critical", "warning", "info"]
Op = Literal[">", ">=", "<", "<=", "==", "!="]

CALL_SIGNALS = (
    "request_rate",
    "error_ratio",
    "latency_avg",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "ttft_p50",
    "ttft_p95",
    "input_token_rate",
    "output_token_rate",
    "cost_rate",
)
"""Signals computed from stored LLM calls (`llm_calls`) with `vigil.api.stats_queries.MEASURES`."""

PROBE_SIGNALS = {"probe_success": "success", "probe_latency": "duration_s"}
"""Synthetic probe signals -> the metric of their stored results they read by default
(`probe_latency` reads `ttft_s` with `metric: ttft_s`)."""
PROBE_LATENCY_METRICS = ("duration_s", "ttft_s")
PROBE_LABELS = ("probe", "model")

MONITOR_SIGNALS = {
    "drift_score": ("data_drift", "output_drift"),
    "drift_share": ("dataset_drift",),
    "performance": ("performance",),
    "estimated_performance": ("estimated_performance",),
    "data_quality_issues": ("data_quality",),
    "llm_quality": ("llm_quality",),
    "business_metric": ("business",),
    **dict.fromkeys(PROBE_SIGNALS, ("probe",)),
}
"""Signals read from `monitor_results` -> the monitors (or probes) that write them."""

OTHER_SIGNALS = ("budget_used", "model_versions", "config_reloads")
SIGNALS = (*CALL_SIGNALS, *MONITOR_SIGNALS, *OTHER_SIGNALS)
Signal = Literal[
    "request_rate",
    "error_ratio",
    "latency_avg",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "ttft_p50",
    "ttft_p95",
    "input_token_rate",
    "output_token_rate",
    "cost_rate",
    "drift_score",
    "drift_share",
    "performance",
    "estimated_performance",
    "data_quality_issues",
    "llm_quality",
    "business_metric",
    "probe_success",
    "probe_latency",
    "budget_used",
    "model_versions",
    "config_reloads",
]

CALL_LABELS = ("model", "provider", "deployment", "key", "team", "source")
MONITOR_LABELS = ("model", "feature", "metric")
SIGNAL_LABELS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(CALL_SIGNALS, CALL_LABELS),
    **dict.fromkeys(MONITOR_SIGNALS, MONITOR_LABELS),
    **dict.fromkeys(PROBE_SIGNALS, PROBE_LABELS),
    "budget_used": ("key", "team"),
    "model_versions": ("model",),
    "config_reloads": (),
}
"""Labels each signal carries: what `filters` and `group_by` may name."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MATCHER = re.compile(
    r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(.*?))\s*$'
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Matcher(_Model):
    """One label matcher, in Alertmanager's API shape (`isRegex`, `isEqual`)."""

    name: str
    value: str
    is_regex: bool = Field(default=False, alias="isRegex")
    is_equal: bool = Field(default=True, alias="isEqual")

    @model_validator(mode="after")
    def _valid_regex(self) -> Matcher:
        if self.is_regex:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from None
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.name, "")
        hit = re.fullmatch(self.value, got) is not None if self.is_regex else got == self.value
        return hit == self.is_equal

    def __str__(self) -> str:
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
        return f'{self.name}{op[(self.is_regex, self.is_equal)]}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """`severity="critical"`, `model=~"gpt-.*"`, `team!=search` -> a `Matcher`."""
    match = _MATCHER.match(text)
    if not match:
        raise ValueError(f"invalid matcher {text!r}: use name=value, !=, =~ or !~")
    name, op, quoted, bare = match.groups()
    value = quoted.replace('\\"', '"') if quoted is not None else bare
    return Matcher(name=name, value=value, isRegex="~" in op, isEqual=op in ("=", "=~"))


def matches_all(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _parse_matchers(values: list[str]) -> list[str]:
    for value in values:
        parse_matcher(value)
    return values


class AlertRule(_Model):
    """One alert rule: `signal` over `window`, per `group_by` series, compared with `threshold`."""

    name: str = Field(description="Alert name (the `alertname` label).")
    signal: Signal = Field(description="What is measured (docs/alerts.md lists the signals).")
    error_class: Literal["5xx", "4xx", "429", "timeout", "total"] = Field(
        default="5xx", description="For `error_ratio`: which errors count (5xx includes timeouts)."
    )
    metric: str | None = Field(
        default=None,
        description="For performance, LLM quality, data quality and business signals: the metric "
        "(`accuracy`, `refusal_rate`, a check or a business metric name).",
    )
    filters: dict[str, str] = Field(
        default_factory=dict, description="Only series whose labels equal these values."
    )
    group_by: list[str] | None = Field(
        default=None,
        description="One alert per distinct value of these labels (default: model and provider "
        "for call signals, all labels for the others).",
    )
    window: Duration = Field(default=parse_duration("5m"), description="Look-back window.")
    aggregation: Literal["last", "avg", "max", "min"] = Field(
        default="last",
        description="For monitor and probe signals: how results in the window combine "
        "(`probe_success` defaults to `avg`, the share of successful runs).",
        json_schema_extra={"doc_default": "last (avg for probe_success)"},
    )
    op: Op = Field(default=">", description="Comparison of the value with the threshold.")
    threshold: float = Field(description="The alert condition is `value <op> threshold`.")
    for_: Duration = Field(
        default=timedelta(0),
        alias="for",
        description="How long the condition must hold before the alert fires (pending until).",
    )
    keep_firing_for: Duration = Field(
        default=timedelta(0), description="Keep firing this long after the condition clears."
    )
    min_requests: int = Field(
        default=1, ge=0, description="Call signals: skip series with fewer calls in the window."
    )
    severity: Severity = Field(default="warning", description="critical, warning or info.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels.")
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations; `{{ $value }}` and `{{ $labels.model }}` are replaced.",
    )
    enabled: bool = Field(default=True, description="Evaluate this rule.")

    @model_validator(mode="before")
    @classmethod
    def _probe_success_averages(cls, data: Any) -> Any:
        """`probe_success` means the success ratio of the window unless told otherwise."""
        if isinstance(data, dict) and data.get("signal") == "probe_success":
            return {"aggregation": "avg", **data}
        return data

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be letters, digits and underscores, not starting with a digit")
        return value

    @model_validator(mode="after")
    def _labels_exist(self) -> AlertRule:
        known = SIGNAL_LABELS[self.signal]
        for where, names in (("filters", list(self.filters)), ("group_by", self.group_by or [])):
            for label in names:
                if label not in known:
                    allowed = ", ".join(known) or "none"
                    raise ValueError(
                        f"{where}: signal {self.signal} has no label {label!r} (labels: {allowed})"
                    )
        needs_metric = ("performance", "estimated_performance", "llm_quality", "business_metric")
        if self.signal in needs_metric and not self.metric:
            raise ValueError(f"metric is required for signal {self.signal}")
        if self.signal == "probe_success" and self.metric is not None:
            raise ValueError("metric does not apply to signal probe_success")
        if self.signal == "probe_latency" and self.metric not in (None, *PROBE_LATENCY_METRICS):
            allowed = " or ".join(PROBE_LATENCY_METRICS)
            raise ValueError(f"metric of signal probe_latency is {allowed}, not {self.metric!r}")
        return self

    @property
    def probe_metric(self) -> str:
        """For probe signals: the metric of the stored probe results this rule reads."""
        return self.metric or PROBE_SIGNALS[self.signal]

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The labels each alert of the rule carries."""
        if self.group_by is not None:
            return tuple(self.group_by)
        if self.signal in CALL_SIGNALS:
            return ("model", "provider")
        return SIGNAL_LABELS[self.signal]


class ReceiverConfig(_Model):
    """Where notifications go: generic webhooks (Alertmanager format v4) and Slack webhooks.

    URLs are secrets (a Slack or PagerDuty webhook URL is its own credential): write them as
    `env:NAME`; they are masked in reprs, `redacted_dict` and the delivery log.
    """

    name: str = Field(description="Referenced by `route.receiver`.")
    webhook_urls: list[SecretStr] = Field(
        default_factory=list,
        description="POSTed Alertmanager webhook payloads (version 4); secrets (`env:NAME`).",
    )
    slack_urls: list[SecretStr] = Field(
        default_factory=list,
        description="Slack-compatible incoming webhook URLs; secrets (`env:NAME`).",
    )
    send_resolved: bool = Field(default=True, description="Also notify when alerts resolve.")
    timeout: Duration = Field(default=parse_duration("10s"), description="Per attempt.")
    max_attempts: int = Field(default=5, ge=1, le=20, description="Attempts, with backoff.")


class RouteConfig(_Model):
    """A node of the routing tree, as in Alertmanager: the first matching child wins."""

    receiver: str | None = Field(default=None, description="Receiver (inherited when unset).")
    matchers: list[str] = Field(default_factory=list, description='e.g. `severity="critical"`.')
    group_by: list[str] | None = Field(default=None, description="Labels grouping alerts.")
    group_wait: Duration | None = Field(default=None, description="Wait before a new group.")
    group_interval: Duration | None = Field(default=None, description="Between group updates.")
    repeat_interval: Duration | None = Field(default=None, description="Re-notify unchanged.")
    continue_: bool = Field(default=False, alias="continue", description="Try later siblings.")
    routes: list[Any] = Field(
        default_factory=list, description="Child routes (same keys as this one)."
    )

    _check = field_validator("matchers")(_parse_matchers)

    @field_validator("routes")
    @classmethod
    def _children(cls, value: list[Any]) -> list[RouteConfig]:
        """Typed loosely so the config docs generator does not recurse; validated here."""
        return [RouteConfig.model_validate(v) for v in value]


class InhibitRule(_Model):
    """Alerts matching `target_matchers` are muted while one matching `source_matchers` fires."""

    source_matchers: list[str] = Field(description='e.g. `severity="critical"`.')
    target_matchers: list[str] = Field(description='e.g. `severity="warning"`.')
    equal: list[str] = Field(default_factory=list, description="Labels that must be equal.")

    _check_source = field_validator("source_matchers")(_parse_matchers)
    _check_target = field_validator("target_matchers")(_parse_matchers)


class AlertmanagerTarget(_Model):
    """An Alertmanager that receives every alert through its API v2 (`POST /api/v2/alerts`)."""

    url: SecretStr = Field(
        description="Base URL, e.g. http://alertmanager:9093; a secret, as it may carry "
        "credentials (`https://user:pw@am.example`, or `env:NAME`)."
    )
    timeout: Duration = Field(default=parse_duration("10s"), description="Per request.")
    resend_interval: Duration = Field(
        default=parse_duration("1m"), description="Resend firing alerts this often."
    )


def default_inhibit_rules() -> list[InhibitRule]:
    return [
        InhibitRule(
            source_matchers=['severity="critical"'],
            target_matchers=['severity="warning"'],
            equal=["model", "provider"],
        )
    ]
