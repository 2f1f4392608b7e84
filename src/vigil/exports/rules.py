"""Prometheus recording rules and Vigil's default alert set, in PromQL.

`vigil export prometheus-rules DIR` writes them as one rule file. The recording rules name the
aggregates dashboards and alerts share (per model/provider error ratios, 429 ratios, latency
percentiles from the histogram buckets), so every alert reads one precomputed series.

Errors here are HTTP 5xx (upstream failures and timeouts answer 500/502/503/504); 429s are counted
on their own because "the provider throttles us" calls for a different fix than "the provider is
down". Until the alerts issue defines rules in `vigil.yaml`, the default set lives in code.
`tests/promtool/` proves with `promtool test rules` that each alert fires and resolves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BY = "model, provider"


def _rate(selector: str, window: str, by: str = BY) -> str:
    return f"sum by ({by}) (rate({selector}[{window}]))"


def _ratio(numerator: str, window: str) -> str:
    return f"{_rate(numerator, window)} / {_rate('vigil_requests_total', window)}"


def _quantile(q: float, metric: str, window: str) -> str:
    return f"histogram_quantile({q}, {_rate(metric + '_bucket', window, BY + ', le')})"


RECORDING_RULES: dict[str, str] = {
    "vigil:requests:rate1m": _rate("vigil_requests_total", "1m"),
    "vigil:requests:rate5m": _rate("vigil_requests_total", "5m"),
    "vigil:request_errors:ratio_rate1m": _ratio('vigil_requests_total{status_code=~"5.."}', "1m"),
    "vigil:request_errors:ratio_rate5m": _ratio('vigil_requests_total{status_code=~"5.."}', "5m"),
    "vigil:requests_429:ratio_rate5m": _ratio('vigil_requests_total{status_code="429"}', "5m"),
    "vigil:requests_429:ratio_rate1h": _ratio('vigil_requests_total{status_code="429"}', "1h"),
    "vigil:request_duration_seconds:p50_5m": _quantile(0.5, "vigil_request_duration_seconds", "5m"),
    "vigil:request_duration_seconds:p95_5m": _quantile(
        0.95, "vigil_request_duration_seconds", "5m"
    ),
    "vigil:request_duration_seconds:p99_5m": _quantile(
        0.99, "vigil_request_duration_seconds", "5m"
    ),
    "vigil:time_to_first_token_seconds:p95_5m": _quantile(
        0.95, "vigil_time_to_first_token_seconds", "5m"
    ),
    "vigil:tokens:rate5m": _rate("vigil_tokens_total", "5m", BY + ", type"),
    "vigil:cost_usd:rate1h": _rate("vigil_cost_usd_total", "1h"),
}
"""Record name -> PromQL (names follow Prometheus' `level:metric:operations` convention)."""


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule."""

    name: str
    expr: str
    severity: str
    summary: str
    description: str
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_prometheus(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, **self.labels}
        rule["annotations"] = {"summary": self.summary, "description": self.description}
        return rule


_ON = "{{ $labels.model }} ({{ $labels.provider }})"

DEFAULT_ALERTS: tuple[AlertRule, ...] = (
    AlertRule(
        "VigilErrorRatioCritical",
        "vigil:request_errors:ratio_rate1m > 0.05",
        "critical",
        f"More than 5% of LLM requests fail with 5xx on {_ON}",
        "The 1-minute 5xx ratio has stayed above 5% for 1 minute.",
        for_="1m",
    ),
    AlertRule(
        "VigilErrorRatioWarning",
        "vigil:request_errors:ratio_rate5m > 0.01",
        "warning",
        f"More than 1% of LLM requests fail with 5xx on {_ON}",
        "The 5-minute 5xx ratio has stayed above 1% for 5 minutes.",
        for_="5m",
    ),
    AlertRule(
        "VigilLatencyP95High",
        "vigil:request_duration_seconds:p95_5m > 2",
        "critical",
        f"P95 LLM request latency above 2s on {_ON}",
        "P95 of vigil_request_duration_seconds over 5 minutes has stayed above 2s for 5 minutes.",
        for_="5m",
    ),
    AlertRule(
        "VigilRateLimitedRising",
        "vigil:requests_429:ratio_rate5m > 0.02"
        " and vigil:requests_429:ratio_rate5m > 1.5 * vigil:requests_429:ratio_rate1h",
        "warning",
        f"429 responses rising on {_ON}",
        "Over 2% of requests got 429 in the last 5 minutes, 1.5x the hourly ratio.",
        for_="5m",
    ),
    AlertRule(
        "VigilBudgetAlmostSpent",
        "vigil_budget_used_ratio > 0.8",
        "warning",
        "Budget of {{ $labels.key }}{{ $labels.team }} over 80% spent",
        "Requests will be refused with 429 once the budget of the period is spent.",
    ),
)


def rule_file() -> dict[str, Any]:
    """The rule file (Prometheus YAML structure) with the recording rules and default alerts."""
    return {
        "groups": [
            {
                "name": "vigil-recording",
                "rules": [{"record": n, "expr": e} for n, e in RECORDING_RULES.items()],
            },
            {
                "name": "vigil-alerts",
                "rules": [alert.to_prometheus() for alert in DEFAULT_ALERTS],
            },
        ]
    }
