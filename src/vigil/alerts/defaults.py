"""The rules a new install gets; each can be turned off (`alerts.disabled_defaults`, or all with
`alerts.default_rules: false`) or replaced by a config rule of the same name.

The call-signal rules mean the same as the PromQL default set of `vigil.exports.rules`: errors are
5xx answers (timeouts answer 504), ratios over the window, one alert per model and provider.
"""

from __future__ import annotations

from typing import Any

from vigil.alerts.config import AlertRule

_ON = "{{ $labels.model }} ({{ $labels.provider }})"

_DEFAULTS: tuple[dict[str, Any], ...] = (
    {
        "name": "VigilErrorRatioCritical",
        "signal": "error_ratio",
        "window": "1m",
        "threshold": 0.05,
        "for": "1m",
        "severity": "critical",
        "annotations": {
            "summary": f"More than 5% of LLM requests fail with 5xx on {_ON}",
            "description": "The 1-minute 5xx ratio is {{ $value }} (over 5% for 1 minute).",
        },
    },
    {
        "name": "VigilErrorRatioWarning",
        "signal": "error_ratio",
        "window": "5m",
        "threshold": 0.01,
        "for": "5m",
        "severity": "warning",
        "annotations": {
            "summary": f"More than 1% of LLM requests fail with 5xx on {_ON}",
            "description": "The 5-minute 5xx ratio is {{ $value }} (over 1% for 5 minutes).",
        },
    },
    {
        "name": "VigilLatencyP95High",
        "signal": "latency_p95",
        "window": "5m",
        "threshold": 2.0,
        "for": "5m",
        "severity": "critical",
        "annotations": {"summary": f"P95 LLM request latency {{{{ $value }}}}s on {_ON}"},
    },
    {
        "name": "VigilRateLimited",
        "signal": "error_ratio",
        "error_class": "429",
        "window": "5m",
        "threshold": 0.10,
        "for": "5m",
        "severity": "warning",
        "annotations": {"summary": f"More than 10% of LLM requests get 429 on {_ON}"},
    },
    {
        "name": "VigilAccuracyLow",
        "signal": "performance",
        "metric": "accuracy",
        "window": "1h",
        "group_by": ["model"],
        "op": "<",
        "threshold": 0.9,
        "severity": "warning",
        "annotations": {"summary": "Accuracy of {{ $labels.model }} is {{ $value }} (< 90%)"},
    },
    {
        "name": "VigilDatasetDrift",
        "signal": "drift_share",
        "window": "1h",
        "group_by": ["model"],
        "op": ">=",
        "threshold": 0.5,
        "severity": "warning",
        "annotations": {"summary": "Dataset drift on {{ $labels.model }}: share {{ $value }}"},
    },
    {
        "name": "VigilBudgetAlmostSpent",
        "signal": "budget_used",
        "threshold": 0.8,
        "severity": "warning",
        "annotations": {"summary": "Budget of {{ $labels.key }}{{ $labels.team }} over 80% spent"},
    },
    {
        "name": "VigilModelVersionChanged",
        "signal": "model_versions",
        "window": "1h",
        "threshold": 1,
        "severity": "info",
        "annotations": {"summary": "{{ $labels.model }} served {{ $value }} versions in 1h"},
    },
    {
        "name": "VigilConfigReloaded",
        "signal": "config_reloads",
        "window": "5m",
        "threshold": 0,
        "severity": "info",
        "annotations": {"summary": "The configuration was reloaded"},
    },
)

DEFAULT_RULES: tuple[AlertRule, ...] = tuple(AlertRule.model_validate(d) for d in _DEFAULTS)


def effective_rules(
    config_rules: list[AlertRule],
    api_rules: list[AlertRule],
    default_rules: bool,
    disabled_defaults: list[str],
) -> list[tuple[str, AlertRule]]:
    """(source, rule) for every enabled rule: defaults, then config, then API; later names win."""
    rules: dict[str, tuple[str, AlertRule]] = {}
    if default_rules:
        for rule in DEFAULT_RULES:
            if rule.name not in disabled_defaults:
                rules[rule.name] = ("default", rule)
    for source, group in (("config", config_rules), ("api", api_rules)):
        for rule in group:
            rules[rule.name] = (source, rule)
    return [(source, rule) for source, rule in rules.values() if rule.enabled]
