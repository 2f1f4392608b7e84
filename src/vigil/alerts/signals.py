"""Rules -> their signal's current values, with as few queries as possible.

Call signals reuse `vigil.api.stats_queries.MEASURES` (the same numbers as `/api/v1/stats`). All
call rules with the same window share ONE query: `GROUP BY GROUPING SETS` over every label set the
rules need (their `group_by` plus their filter labels), so 1,000 rules cost a handful of scans.
A filter on label L is applied to the rows of the set that includes L; since L is then fixed, that
row is exactly the rule's group restricted to the filter, percentiles included.
Monitor and probe signals read the newest results in `monitor_results` the same way (one query per
window for both).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.alerts.config import (
    CALL_LABELS,
    CALL_SIGNALS,
    MONITOR_SIGNALS,
    PROBE_SIGNALS,
    AlertRule,
)
from vigil.alerts.state import Sample
from vigil.api.stats_queries import GROUP_COLUMNS, MEASURES, measures
from vigil.monitors.results import PROBE_RUN_PREFIX

Fetch = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
_Row = tuple[dict[str, str], dict[str, Any], dict[tuple[str, ...], dict[str, str]]]
"""One grouped row: its labels, its measures, and its labels projected per `group_by` (cached:
hundreds of rules read the same row)."""


@dataclass
class Sources:
    """What signals read besides the store: in-memory budgets and config reload times."""

    budgets: Callable[[], list[tuple[str, str, float]]] = list
    reloads: list[datetime] = field(default_factory=list)


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


_RATES = {
    "request_rate": "requests",
    "input_token_rate": "input_tokens",
    "output_token_rate": "output_tokens",
    "cost_rate": "cost_usd",
}
_DISTRIBUTIONS = {
    "latency_avg": ("latency_s", "avg"),
    "latency_p50": ("latency_s", "p50"),
    "latency_p95": ("latency_s", "p95"),
    "latency_p99": ("latency_s", "p99"),
    "ttft_p50": ("ttft_s", "p50"),
    "ttft_p95": ("ttft_s", "p95"),
}


def _call_value(rule: AlertRule, m: dict[str, Any]) -> float | None:
    s = rule.signal
    if s == "error_ratio":
        if not m["requests"]:
            return None
        rates = m["error_rate"]
        if rule.error_class == "5xx":  # timeouts answer 504: a 5xx to clients and to PromQL
            return float(rates["5xx"] + rates["timeout"])
        return float(rates[rule.error_class])
    if s in _RATES:
        return float(m[_RATES[s]] / m["_seconds"])
    column, stat = _DISTRIBUTIONS[s]
    value = m[column][stat]
    return None if value is None else float(value)


def _label_set(rule: AlertRule) -> tuple[str, ...]:
    wanted = set(rule.dimensions) | set(rule.filters)
    return tuple(label for label in CALL_LABELS if label in wanted)


def call_sql(label_sets: Sequence[tuple[str, ...]]) -> tuple[str, list[str]]:
    """One query over `llm_calls` for all label sets (GROUPING SETS) of one window."""
    cols = [label for label in CALL_LABELS if any(label in s for s in label_sets)]
    sets = ", ".join("(" + ", ".join(GROUP_COLUMNS[c] for c in s) + ")" for s in label_sets)
    select = [f"{GROUP_COLUMNS[c]} AS {c}" for c in cols]
    gid = f"GROUPING({', '.join(GROUP_COLUMNS[c] for c in cols)})" if cols else "0"
    sql = (
        f"SELECT {', '.join([*select, f'{gid} AS gid', MEASURES])} FROM llm_calls "
        f"WHERE ts >= ? AND ts < ? GROUP BY GROUPING SETS ({sets})"
    )
    return sql, cols


def _grouping_id(cols: list[str], label_set: tuple[str, ...]) -> int:
    """DuckDB's GROUPING(): bit set (first column = highest bit) for each column NOT grouped."""
    gid = 0
    for col in cols:
        gid = (gid << 1) | (0 if col in label_set else 1)
    return gid


def _call_samples(
    fetch: Fetch, rules: list[AlertRule], window: timedelta, now: datetime
) -> dict[str, list[Sample]]:
    label_sets = sorted({_label_set(r) for r in rules})
    sql, cols = call_sql(label_sets)
    rows = fetch(sql, [_naive(now - window), _naive(now)])
    by_set: dict[int, list[_Row]] = defaultdict(list)
    seconds = window.total_seconds()
    n = len(cols)
    for row in rows:
        labels = {c: "" if v is None else str(v) for c, v in zip(cols, row[:n], strict=True)}
        m = measures(row[n + 1 :], seconds)
        m["_seconds"] = seconds
        by_set[int(row[n])].append((labels, m, {}))
    # rows of a label set indexed by the values of the filter labels rules use on it, so a
    # filtered rule reads its few rows instead of scanning the set (1,000 rules x 1,500 rows)
    indexed: dict[tuple[int, tuple[str, ...]], dict[tuple[str, ...], list[_Row]]] = {}
    out: dict[str, list[Sample]] = {}
    for rule in rules:
        gid = _grouping_id(cols, _label_set(rule))
        rows_of_set = by_set.get(gid, [])
        if rule.filters:
            keys = tuple(sorted(rule.filters))
            index = indexed.get((gid, keys))
            if index is None:
                index = indexed[(gid, keys)] = defaultdict(list)
                for item in rows_of_set:
                    index[tuple(item[0][k] for k in keys)].append(item)
            rows_of_set = index.get(tuple(rule.filters[k] for k in keys), [])
        samples = []
        dims = rule.dimensions
        for labels, m, projected in rows_of_set:
            if m["requests"] < rule.min_requests:
                continue
            value = _call_value(rule, m)
            if value is not None:
                series = projected.get(dims)
                if series is None:
                    series = projected[dims] = {k: labels[k] for k in dims}
                samples.append(Sample(series, value))
        out[rule.name] = samples
    return out


MONITOR_SQL = """
SELECT model, monitor, coalesce(metric, '') AS metric, coalesce(feature, '') AS feature,
       arg_max(value, ts) AS last, avg(value), max(value), min(value)
FROM monitor_results WHERE ts >= ? AND ts <= ? AND value IS NOT NULL AND monitor IN ({monitors})
GROUP BY ALL
"""
_AGG_INDEX = {"last": 4, "avg": 5, "max": 6, "min": 7}
_COMBINE: dict[str, Callable[[list[float]], float]] = {
    "last": max,
    "max": max,
    "min": min,
    "avg": lambda v: sum(v) / len(v),
}


def _monitor_samples(
    fetch: Fetch, rules: list[AlertRule], window: timedelta, now: datetime
) -> dict[str, list[Sample]]:
    monitors = sorted({m for r in rules for m in MONITOR_SIGNALS[r.signal]})
    sql = MONITOR_SQL.format(monitors=", ".join("?" for _ in monitors))
    rows = fetch(sql, [_naive(now - window), _naive(now), *monitors])
    out: dict[str, list[Sample]] = {}
    for rule in rules:
        wanted = MONITOR_SIGNALS[rule.signal]
        groups: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for row in rows:
            model, monitor, metric, feature = row[:4]
            if monitor not in wanted:
                continue
            if rule.signal in PROBE_SIGNALS:  # probe results: model = probe:NAME, feature = model
                if metric != rule.probe_metric:
                    continue
                labels = {"probe": model.removeprefix(PROBE_RUN_PREFIX), "model": feature}
            else:
                if rule.signal == "business_metric":  # business results: feature = metric name
                    metric, feature = feature, metric
                if rule.metric is not None and metric != rule.metric:
                    continue
                labels = {"model": model, "feature": feature, "metric": metric}
            if any(labels.get(k) != v for k, v in rule.filters.items()):
                continue
            key = tuple(labels[d] for d in rule.dimensions)
            groups[key].append(float(row[_AGG_INDEX[rule.aggregation]]))
        combine = _COMBINE[rule.aggregation]
        out[rule.name] = [
            Sample(dict(zip(rule.dimensions, key, strict=True)), combine(values))
            for key, values in groups.items()
        ]
    return out


def _other_samples(fetch: Fetch, rule: AlertRule, now: datetime, sources: Sources) -> list[Sample]:
    if rule.signal == "budget_used":
        samples = []
        for key, team, ratio in sources.budgets():
            labels = {"key": key, "team": team}
            if all(labels.get(k) == v for k, v in rule.filters.items()):
                samples.append(Sample({d: labels[d] for d in rule.dimensions}, ratio))
        return samples
    if rule.signal == "config_reloads":
        count = sum(1 for ts in sources.reloads if now - rule.window < ts <= now)
        return [Sample({}, float(count))]
    rows = fetch(
        "SELECT model, count(DISTINCT model_version) FROM predictions "
        "WHERE ts >= ? AND ts < ? AND model_version IS NOT NULL GROUP BY model",
        [_naive(now - rule.window), _naive(now)],
    )
    return [
        Sample({"model": m}, float(n))
        for m, n in rows
        if all({"model": m}.get(k) == v for k, v in rule.filters.items())
    ]


def evaluate_signals(
    fetch: Fetch, rules: list[AlertRule], now: datetime, sources: Sources
) -> dict[str, list[Sample]]:
    """Rule name -> its samples now; call and monitor rules batched per window."""
    calls: dict[timedelta, list[AlertRule]] = defaultdict(list)
    monitor: dict[timedelta, list[AlertRule]] = defaultdict(list)
    out: dict[str, list[Sample]] = {}
    for rule in rules:
        if rule.signal in CALL_SIGNALS:
            calls[rule.window].append(rule)
        elif rule.signal in MONITOR_SIGNALS:
            monitor[rule.window].append(rule)
        else:
            out[rule.name] = _other_samples(fetch, rule, now, sources)
    for window, group in calls.items():
        out.update(_call_samples(fetch, group, window, now))
    for window, group in monitor.items():
        out.update(_monitor_samples(fetch, group, window, now))
    return out
