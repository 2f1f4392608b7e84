"""The daily and weekly report's data: one period and the one before it, read through the API.

Reading through the HTTP API (and not the DuckDB file) means `vigil report` works while the
server holds the store, and gives exactly the figures the stats API and the UI show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
Fetch = Callable[[str, dict[str, str]], Any]
"""GET an API path with query parameters and return its JSON (None for 404)."""


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @property
    def query(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


def windows(period: str, until: datetime | None = None) -> tuple[Window, Window]:
    """The period ending at `until` (default now) and the same length before it."""
    end = (until or datetime.now(UTC)).astimezone(UTC)
    length = PERIODS[period]
    return Window(end - length, end), Window(end - 2 * length, end - length)


def _totals(fetch: Fetch, w: Window) -> dict[str, Any]:
    body = fetch("/api/v1/stats", {**w.query, "group_by": ""})
    s = body["series"][0] if body["series"] else None
    if s is None:
        return {"requests": 0, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0,
                "errors": 0, "errors_5xx": 0, "rate_limited": 0, "error_rate": 0.0,
                "p50_s": None, "p95_s": None, "p99_s": None}  # fmt: skip
    return {
        "requests": s["requests"][0],
        "cost_usd": s["cost_usd"][0],
        "input_tokens": s["input_tokens"][0],
        "output_tokens": s["output_tokens"][0],
        "errors": s["errors"]["total"][0],
        "errors_5xx": s["errors"]["5xx"][0],
        "rate_limited": s["errors"]["429"][0],
        "error_rate": s["error_rate"]["total"][0],
        "p50_s": s["latency_s"]["p50"][0],
        "p95_s": s["latency_s"]["p95"][0],
        "p99_s": s["latency_s"]["p99"][0],
    }


def gather(fetch: Fetch, period: str, until: datetime | None = None) -> dict[str, Any]:
    """Everything the report shows, each figure with the previous period's."""
    current, previous = windows(period, until)
    bucket = "1h" if period == "daily" else "6h"
    series = fetch("/api/v1/stats", {**current.query, "group_by": "", "bucket": bucket})
    models = fetch("/api/v1/stats/models", current.query)
    monitors = fetch("/api/v1/monitors", {}) or {"models": []}
    ml = []
    for run in monitors.get("models", []):
        if run.get("kind") != "ml":
            continue
        summary = run.get("summary") or {}
        drift = summary.get("drift") or {}
        detail = fetch(f"/api/v1/monitors/{run['model']}", {}) or {"monitors": {}}
        groups = detail.get("monitors", {})
        ml.append(
            {
                "model": run["model"],
                "drift_share": drift.get("drift_share"),
                "drifted": [r["feature"] for r in groups.get("data_drift", []) if r.get("flagged")],
                "quality_issues": summary.get("quality_issues", 0),
                "quality_checks": summary.get("quality_checks_flagged", []),
                "performance": [
                    {"metric": r["metric"], "value": r["value"], "kind": kind}
                    for kind in ("performance", "estimated_performance")
                    for r in groups.get(kind, [])[-4:]
                    if r.get("metric") and r.get("value") is not None
                ],
            }
        )
    features = fetch("/api/v1/ui/features", {}) or {}
    alerts: list[dict[str, Any]] = []
    if features.get("alerts_history"):
        hist = fetch("/api/v1/alerts/history", current.query) or []
        alerts = hist if isinstance(hist, list) else hist.get("history") or hist.get("items") or []
    return {
        "period": period,
        "current": {"since": current.since.isoformat(), "until": current.until.isoformat()},
        "previous": {"since": previous.since.isoformat(), "until": previous.until.isoformat()},
        "totals": _totals(fetch, current),
        "previous_totals": _totals(fetch, previous),
        "series": series["series"][0] if series["series"] else None,
        "models": models["models"],
        "ml": ml,
        "alerts": alerts,
        "alerts_available": bool(features.get("alerts_history")),
        "generated_at": datetime.now(UTC).isoformat(),
    }
