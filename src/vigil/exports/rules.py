"""Prometheus recording rules and Vigil's default alert set, in PromQL.

`vigil export prometheus-rules DIR` writes them as one rule file. The recording rules name the
aggregates dashboards and alerts share (per model/provider error ratios, 429 ratios, latency
percentiles from the histogram buckets), so every alert reads one precomputed series.

Errors here are HTTP 5xx (upstream failures and timeouts answer 500/502/503/504); 429s are counted
on their own because "the provider throttles us" calls for a different fix than "the provider is
down". Rules written in `vigil.yaml` (`alerts.rules`) are exported too when PromQL can say the same
(`config_alerts`); tests/test_alerts_parity.py runs both evaluators on the same series.
`tests/promtool/` proves with `promtool test rules` that each alert fires and resolves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.alerts.config import CALL_SIGNALS, PROBE_LABELS, PROBE_SIGNALS
from vigil.alerts.config import AlertRule as ConfigRule
from vigil.config.durations import format_duration

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


def rule_file(config_rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The rule file (Prometheus YAML structure): recording rules, default alerts and, when
    given, the alerts exported from `alerts.rules` (`config_alerts`)."""
    groups: dict[str, Any] = {
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
    if config_rules:
        groups["groups"].append({"name": "vigil-config-alerts", "rules": config_rules})
    return groups


# --- config rules -> PromQL -----------------------------------------------------------------
# A rule from `alerts.rules` is exported when its signal has a Prometheus metric and every label
# it filters or groups on is a label of that metric. The meaning is the same, with two
# documented approximations: percentiles come from histogram buckets (Vigil's are exact), and
# monitor and probe signals read the gauges as scraped (Vigil reads the stored results, so its
# `probe_success` average is over runs, PromQL's over scrapes of the last run's gauge).

_CLASS_MATCHERS = {
    "5xx": 'status_code=~"5.."',  # timeouts answer 504: in both
    "4xx": 'status_code=~"4..",status_code!="429"',
    "429": 'status_code="429"',
    "total": 'status_code=~"4..|5.."',
}
_COUNTER_RATES = {
    "request_rate": ("vigil_requests_total", ""),
    "input_token_rate": ("vigil_tokens_total", 'type="input"'),
    "output_token_rate": ("vigil_tokens_total", 'type="output"'),
    "cost_rate": ("vigil_cost_usd_total", ""),
}
_HISTOGRAMS = {
    "latency_p50": ("vigil_request_duration_seconds", 0.5),
    "latency_p95": ("vigil_request_duration_seconds", 0.95),
    "latency_p99": ("vigil_request_duration_seconds", 0.99),
    "ttft_p50": ("vigil_time_to_first_token_seconds", 0.5),
    "ttft_p95": ("vigil_time_to_first_token_seconds", 0.95),
}
_MODEL, _FEATURE = {"model": "model"}, {"feature": "feature"}
_GAUGES: dict[str, tuple[str, dict[str, str]]] = {
    # signal -> (metric, Vigil label -> Prometheus label)
    "drift_score": ("vigil_drift_score", {**_MODEL, **_FEATURE, "metric": "method"}),
    "drift_share": ("vigil_dataset_drift_share", _MODEL),
    "performance": ("vigil_model_performance", {**_MODEL, "metric": "metric"}),
    "estimated_performance": ("vigil_model_performance_estimated", {**_MODEL, "metric": "metric"}),
    "data_quality_issues": ("vigil_data_quality_issues", {**_MODEL, **_FEATURE, "metric": "check"}),
    "llm_quality": ("vigil_llm_quality", {**_MODEL, "metric": "signal"}),
    "budget_used": ("vigil_budget_used_ratio", {"key": "key", "team": "team"}),
}
_PROBE_GAUGES = {
    # stored probe metric -> the gauge of the last run (Vigil label names are Prometheus')
    "success": "vigil_probe_success",
    "duration_s": "vigil_probe_duration_seconds",
    "ttft_s": "vigil_probe_ttft_seconds",
}
_OVER_TIME = {"last": "last_over_time", "avg": "avg_over_time", "max": "max_over_time",
              "min": "min_over_time"}  # fmt: skip
_ACROSS = {"last": "max", "avg": "avg", "max": "max", "min": "min"}  # as signals._COMBINE


class NotExpressible(ValueError):
    """The rule has no PromQL equivalent (the message says why)."""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _selector(metric: str, filters: dict[str, str], *extra: str) -> str:
    parts = [e for e in extra if e] + [f"{k}={_quote(v)}" for k, v in sorted(filters.items())]
    return metric + ("{" + ",".join(parts) + "}" if parts else "")


def _sum(by: list[str], inner: str, op: str = "sum") -> str:
    return f"{op} by ({', '.join(by)}) ({inner})"


def _call_expr(rule: ConfigRule) -> str:
    """The condition (`value op threshold`, guarded like `min_requests`) of a call rule."""
    by, f = list(rule.dimensions), rule.filters
    bad = sorted((set(by) | set(f)) - {"model", "provider"})
    if bad:
        raise NotExpressible(f"Prometheus metrics have no label {', '.join(bad)}")
    w = format_duration(rule.window)
    s = rule.signal
    requests = _sum(by, f"rate({_selector('vigil_requests_total', f)}[{w}])")
    if s == "error_ratio":
        if rule.error_class not in _CLASS_MATCHERS:
            raise NotExpressible("timeouts are not a label of vigil_requests_total")
        errors = _selector("vigil_requests_total", f, _CLASS_MATCHERS[rule.error_class])
        expr = f"({_sum(by, f'rate({errors}[{w}])')} or {requests} * 0) / {requests}"
    elif s in _COUNTER_RATES:
        metric, extra = _COUNTER_RATES[s]
        expr = _sum(by, f"rate({_selector(metric, f, extra)}[{w}])")
    elif s == "latency_avg":
        total, count = (
            _selector(f"vigil_request_duration_seconds_{p}", f) for p in ("sum", "count")
        )
        expr = f"{_sum(by, f'rate({total}[{w}])')} / {_sum(by, f'rate({count}[{w}])')}"
    else:
        metric, q = _HISTOGRAMS[s]
        buckets = _selector(metric + "_bucket", f)
        expr = f"histogram_quantile({q}, {_sum([*by, 'le'], f'rate({buckets}[{w}])')})"
    condition = f"{expr} {rule.op} {rule.threshold!r}"
    if rule.min_requests > 1 or rule.op in ("<", "<=", "=="):  # Vigil skips empty windows
        calls = _sum(by, f"increase({_selector('vigil_requests_total', f)}[{w}])")
        condition += f" and on ({', '.join(by)}) {calls} >= {max(rule.min_requests, 1)}"
    return condition


def _gauge(rule: ConfigRule) -> tuple[str, dict[str, str]]:
    if rule.signal in PROBE_SIGNALS:
        return _PROBE_GAUGES[rule.probe_metric], {label: label for label in PROBE_LABELS}
    return _GAUGES[rule.signal]


def _gauge_expr(rule: ConfigRule) -> str:
    metric, names = _gauge(rule)
    explicit = rule.group_by is not None
    by = [d for d in rule.dimensions if d in names or explicit]
    bad = sorted({d for d in [*by, *rule.filters] if d not in names})
    if bad:
        raise NotExpressible(f"{metric} has no label {', '.join(bad)}")
    f = {names[k]: v for k, v in rule.filters.items()}
    if rule.metric is not None and "metric" in names:
        f[names["metric"]] = rule.metric
    sel = _selector(metric, f)
    if rule.signal == "budget_used":  # a live gauge, like Sources.budgets
        expr = _sum([names[d] for d in by], sel, "max")
    else:
        inner = f"{_OVER_TIME[rule.aggregation]}({sel}[{format_duration(rule.window)}])"
        expr = _sum([names[d] for d in by], inner, _ACROSS[rule.aggregation])
    return f"{expr} {rule.op} {rule.threshold!r}"


def config_alert(rule: ConfigRule) -> dict[str, Any]:
    """A Prometheus alerting rule meaning the same as `rule`, or `NotExpressible`."""
    if rule.signal in CALL_SIGNALS:
        expr = _call_expr(rule)
    elif rule.signal in _GAUGES or rule.signal in PROBE_SIGNALS:
        expr = _gauge_expr(rule)
    else:
        raise NotExpressible(f"signal {rule.signal} has no Prometheus metric")
    out: dict[str, Any] = {"alert": rule.name, "expr": expr}
    if rule.for_:
        out["for"] = format_duration(rule.for_)
    if rule.keep_firing_for:
        out["keep_firing_for"] = format_duration(rule.keep_firing_for)
    out["labels"] = {**rule.labels, "severity": rule.severity}
    if rule.annotations:
        out["annotations"] = dict(rule.annotations)
    return out


def config_alerts(rules: list[ConfigRule]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(exported Prometheus rules, rule name -> why it was left out) for enabled config rules."""
    exported, skipped = [], {}
    for rule in rules:
        if not rule.enabled:
            continue
        try:
            exported.append(config_alert(rule))
        except NotExpressible as exc:
            skipped[rule.name] = str(exc)
    return exported, skipped
