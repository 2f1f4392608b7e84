"""Grafana dashboards for Vigil's metrics, built from code so every query names a real metric.

`vigil export grafana DIR` writes `DIR/dashboards/*.json` plus file-provisioning YAML
(`DIR/provisioning/dashboards/vigil.yaml`, `DIR/provisioning/datasources/vigil.yaml`). Every
dashboard has a `datasource` variable (any Prometheus), so one import works whatever the
datasource is called. `tests/test_prometheus.py` evaluates every expression below against a real
Prometheus that scraped Vigil.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
M = 'model=~"$model", provider=~"$provider"'
"""The selector of the model/provider variables (both default to All)."""
RI = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    """One panel: a title, its PromQL targets (expr, legend), unit and kind."""

    title: str
    targets: tuple[tuple[str, str], ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12


def _sel(metric: str, sel: str) -> str:
    return f"{metric}{{{sel}}}" if sel else metric


def _q(q: float, metric: str, by: str = "model, provider", sel: str = M) -> tuple[str, str]:
    name = f"p{round(q * 100)}"
    legend = "{{model}} " + name if "model" in by else name
    rate = f"rate({_sel(metric + '_bucket', sel)}[{RI}])"
    return f"histogram_quantile({q}, sum by ({by}, le) ({rate}))", legend


def _rate(metric: str, by: str, sel: str = M, legend: str | None = None) -> tuple[str, str]:
    fmt = legend or " ".join("{{" + b.strip() + "}}" for b in by.split(","))
    return f"sum by ({by}) (rate({_sel(metric, sel)}[{RI}]))", fmt


def _error_ratio(status: str, by: str = "model") -> tuple[str, str]:
    return (
        f'sum by ({by}) (rate(vigil_requests_total{{{M}, status_code=~"{status}"}}[{RI}]))'
        f" / sum by ({by}) (rate(vigil_requests_total{{{M}}}[{RI}]))",
        "{{" + by + "}} " + status.replace(".", "x"),
    )


OVERVIEW = (
    Panel(
        "Requests/s",
        ((f"sum(rate(vigil_requests_total{{{M}}}[{RI}]))", "req/s"),),
        "reqps",
        "stat",
        6,
    ),
    Panel(
        "5xx error ratio",
        (
            (
                f'sum(rate(vigil_requests_total{{{M}, status_code=~"5.."}}[{RI}])) '
                f"/ sum(rate(vigil_requests_total{{{M}}}[{RI}]))",
                "5xx",
            ),
        ),
        "percentunit",
        "stat",
        6,
    ),
    Panel("P95 latency", (_q(0.95, "vigil_request_duration_seconds", "model"),), "s", "stat", 6),
    Panel(
        "Cost (24h)",
        ((f"sum(increase(vigil_cost_usd_total{{{M}}}[1d]))", "USD"),),
        "currencyUSD",
        "stat",
        6,
    ),
    Panel("Traffic by model", (_rate("vigil_requests_total", "model"),), "reqps"),
    Panel(
        "Error ratio by model (5xx, 429)", (_error_ratio("5.."), _error_ratio("429")), "percentunit"
    ),
    Panel("P95 latency by model", (_q(0.95, "vigil_request_duration_seconds", "model"),), "s"),
    Panel(
        "Cost per hour by model",
        ((f"sum by (model) (rate(vigil_cost_usd_total{{{M}}}[{RI}])) * 3600", "{{model}}"),),
        "currencyUSD",
    ),
)

GATEWAY = (
    Panel(
        "Requests/s by status",
        (_rate("vigil_requests_total", "model, provider, status_code"),),
        "reqps",
    ),
    Panel("Tokens/s by type", (_rate("vigil_tokens_total", "model, type"),)),
    Panel(
        "Cost per hour",
        (
            (
                f"sum by (model, provider) (rate(vigil_cost_usd_total{{{M}}}[{RI}])) * 3600",
                "{{model}} {{provider}}",
            ),
        ),
        "currencyUSD",
    ),
    Panel(
        "Latency P50 / P95 / P99",
        tuple(_q(q, "vigil_request_duration_seconds") for q in (0.5, 0.95, 0.99)),
        "s",
    ),
    Panel(
        "Time to first token P50 / P95",
        tuple(_q(q, "vigil_time_to_first_token_seconds") for q in (0.5, 0.95)),
        "s",
    ),
    Panel("429 ratio", (_error_ratio("429", "model"),), "percentunit"),
    Panel(
        "Rate limited by scope",
        (_rate("vigil_rate_limited_total", "model, scope", 'model=~"$model"'),),
        "reqps",
    ),
    Panel(
        "Upstream errors by type",
        (_rate("vigil_upstream_errors_total", "provider, error_type", 'provider=~"$provider"'),),
        "reqps",
    ),
    Panel(
        "Retries and fallbacks",
        (
            _rate("vigil_retries_total", "model", 'model=~"$model"', "retries {{model}}"),
            _rate("vigil_fallbacks_total", "model", 'model=~"$model"', "fallbacks {{model}}"),
        ),
        "reqps",
    ),
    Panel(
        "Budget used",
        (("max by (key, team) (vigil_budget_used_ratio)", "{{key}}{{team}}"),),
        "percentunit",
    ),
    Panel(
        "Requests/s by key (opt-in per-key labels)",
        (
            (
                'topk(10, sum by (key) (rate(vigil_key_requests_total{model=~"$model"}['
                + RI
                + "])))",
                "{{key}}",
            ),
        ),
        "reqps",
    ),
    Panel(
        "Cost per hour by key (opt-in per-key labels)",
        (
            (
                'topk(10, sum by (key) (rate(vigil_key_cost_usd_total{model=~"$model"}['
                + RI
                + "]))) * 3600",
                "{{key}}",
            ),
        ),
        "currencyUSD",
    ),
    Panel(
        "Synthetic probes: last run succeeded",
        (('min by (probe, model) (vigil_probe_success{model=~"$model"})', "{{probe}}"),),
        "percentunit",
    ),
    Panel(
        "Synthetic probes: duration of the last run",
        (('max by (probe, model) (vigil_probe_duration_seconds{model=~"$model"})', "{{probe}}"),),
        "s",
    ),
)

MS = 'model=~"$ml_model"'
ML = (
    Panel("Predictions/s", (_rate("vigil_predictions_total", "model", MS),), "reqps"),
    Panel(
        "Dataset drift share",
        (("max by (model) (vigil_dataset_drift_share{" + MS + "})", "{{model}}"),),
        "percentunit",
    ),
    Panel(
        "Drift score by feature",
        (("vigil_drift_score{" + MS + "}", "{{model}} {{feature}} {{method}}"),),
    ),
    Panel(
        "Features drifted", (("sum by (model) (vigil_drift_detected{" + MS + "})", "{{model}}"),)
    ),
    Panel(
        "Performance (from labels)",
        (("vigil_model_performance{" + MS + "}", "{{model}} {{metric}}"),),
    ),
    Panel(
        "Performance (estimated, no labels)",
        (("vigil_model_performance_estimated{" + MS + "}", "{{model}} {{metric}}"),),
    ),
    Panel(
        "Data quality issues",
        (("sum by (model, check) (vigil_data_quality_issues{" + MS + "})", "{{model}} {{check}}"),),
    ),
    Panel("LLM quality signals", (("vigil_llm_quality", "{{model}} {{signal}}"),)),
)

SELF = (
    Panel("Ingest events/s by kind", (_rate("vigil_ingest_events_total", "kind", ""),), "ops"),
    Panel("Ingest rejected/s", (_rate("vigil_ingest_rejected_total", "kind, reason", ""),), "ops"),
    Panel("Write queue depth", (("max(vigil_pipeline_queue_depth)", "records"),)),
    Panel(
        "Group-commit flush P50 / P99",
        tuple(_q(q, "vigil_pipeline_flush_seconds", "job", "") for q in (0.5, 0.99)),
        "s",
    ),
    Panel(
        "Records committed/s by table",
        (_rate("vigil_pipeline_committed_records_total", "table", ""),),
        "ops",
    ),
    Panel(
        "Records dropped/s", (_rate("vigil_pipeline_dropped_records_total", "reason", ""),), "ops"
    ),
    Panel(
        "Retention deletes/s", (_rate("vigil_retention_deleted_rows_total", "table", ""),), "ops"
    ),
    Panel("Alerts firing", (("sum by (severity) (vigil_alerts_firing)", "{{severity}}"),)),
    Panel(
        "Resident memory",
        (
            (
                "process_resident_memory_bytes and on (instance, job) vigil_build_info",
                "{{instance}}",
            ),
        ),
        "bytes",
    ),
    Panel(
        "CPU",
        (
            (
                "rate(process_cpu_seconds_total[" + RI + "]) and on (instance, job) "
                "vigil_build_info",
                "{{instance}}",
            ),
        ),
        "percentunit",
    ),
)


def _variable(name: str, label: str, metric: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": f"label_values({metric}, {label})", "refId": name},
        "definition": f"label_values({metric}, {label})",
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
        "sort": 1,
    }


def _panel(panel_id: int, p: Panel, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": p.kind,
        "title": p.title,
        "datasource": DS,
        "gridPos": {"h": 4 if p.kind == "stat" else 8, "w": p.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
        if p.kind == "timeseries"
        else {"reduceOptions": {"calcs": ["lastNotNull"]}},
        "targets": [
            {"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(p.targets)
        ],
    }


def dashboard(uid: str, title: str, panels: tuple[Panel, ...], variables: list[Any]) -> Any:
    """A dashboard JSON model (Grafana 9+) with a Prometheus `datasource` variable."""
    out: list[dict[str, Any]] = []
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        if x + p.width > 24:
            x, y, row_h = 0, y + row_h, 0
        out.append(_panel(i, p, x, y))
        x, row_h = x + p.width, max(row_h, out[-1]["gridPos"]["h"])
    ds_var = {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
    }
    return {
        "uid": uid,
        "title": title,
        "tags": ["vigil"],
        "editable": True,
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [ds_var, *variables]},
        "panels": out,
    }


def dashboards() -> dict[str, Any]:
    """File name -> dashboard JSON, the four dashboards Vigil ships."""
    llm = [
        _variable("model", "model", "vigil_requests_total"),
        _variable("provider", "provider", "vigil_requests_total"),
    ]
    ml = [_variable("ml_model", "model", "vigil_predictions_total")]
    return {
        "vigil-overview.json": dashboard("vigil-overview", "Vigil / Overview", OVERVIEW, llm),
        "vigil-llm-gateway.json": dashboard("vigil-gateway", "Vigil / LLM gateway", GATEWAY, llm),
        "vigil-ml-models.json": dashboard("vigil-ml", "Vigil / ML models", ML, ml),
        "vigil-self.json": dashboard("vigil-self", "Vigil / Vigil itself", SELF, []),
    }


def provisioning(dashboards_path: str, prometheus_url: str) -> dict[str, Any]:
    """Relative file path -> YAML structure of Grafana's file provisioning."""
    return {
        "provisioning/dashboards/vigil.yaml": {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "vigil",
                    "folder": "Vigil",
                    "type": "file",
                    "allowUiUpdates": True,
                    "options": {"path": dashboards_path},
                }
            ],
        },
        "provisioning/datasources/vigil.yaml": {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "Prometheus",
                    "type": "prometheus",
                    "access": "proxy",
                    "url": prometheus_url,
                    "isDefault": False,
                }
            ],
        },
    }


def expressions(board: Any) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of a dashboard, for tests and lint."""
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]
