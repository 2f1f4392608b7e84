"""Business metrics (events of kind `metric`: click-through, conversion...) watched like any signal.

Per (name, model), the last `monitors.window` (sliding, ending now) is compared with the aligned
windows of the same length before it: the mean, the point count, the relative change of the mean
against the baseline windows' mean, and an anomaly verdict when the window's mean lies more than
three standard deviations of the baseline windows' means away (at least three baseline windows). The
results are exported as `vigil_business_metric{name,model,stat}`, so alert rules can use them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from vigil.config.sections import MonitorsConfig
from vigil.monitors.results import MonitorResult, MonitorRun, Outcome
from vigil.store.base import Store

Z_LIMIT = 3.0
BUSINESS_MODEL = "_business"
"""The run's `model` for metrics logged without a model."""


def evaluate_business(store: Store, cfg: MonitorsConfig, now: datetime) -> list[Outcome]:
    """One outcome per model (`_business` for metrics without one) with a metric in the window."""
    started = time.perf_counter()
    end = now.astimezone(UTC).replace(tzinfo=None)
    start = end - cfg.window
    base_start = start - cfg.window * cfg.windows
    step_s = cfg.window.total_seconds()
    rows = store.fetch(
        "SELECT name, coalesce(model, ''), "
        "CASE WHEN ts >= ? THEN -1 ELSE floor(epoch(? - ts) / ?) END AS bucket, "
        "avg(value), count(*) FROM business_metrics WHERE ts >= ? AND ts < ? "
        "GROUP BY ALL ORDER BY 1, 2, 3",
        [start, start, step_s, base_start, end],
    )
    series: dict[tuple[str, str], dict[int, tuple[float, int]]] = {}
    for name, model, bucket, mean, count in rows:
        series.setdefault((name, model), {})[int(bucket)] = (float(mean), int(count))
    outcomes: dict[str, Outcome] = {}
    for (name, model), buckets in series.items():
        current = buckets.get(-1)
        if current is None:
            continue
        key = model or BUSINESS_MODEL
        outcome = outcomes.get(key)
        if outcome is None:
            outcome = outcomes[key] = Outcome(MonitorRun(model=key, kind="business", ts=now))
        mean, count = current
        history = np.array([m for b, (m, _) in buckets.items() if b >= 0])
        base_mean = float(history.mean()) if history.size else None
        change = (mean - base_mean) / abs(base_mean) if base_mean else None
        z = None
        if history.size >= 3 and history.std(ddof=1) > 0:
            z = (mean - base_mean) / float(history.std(ddof=1)) if base_mean is not None else None
        anomaly = z is not None and abs(z) > Z_LIMIT
        common: dict[str, Any] = {
            "window_start": start,
            "window_end": end,
            "feature": name,
            "current_size": count,
            "reference_size": int(history.size),
        }
        stats = {"mean": mean, "count": float(count), "change": change, "anomaly": float(anomaly)}
        for stat, value in stats.items():
            outcome.results.append(
                MonitorResult.make(
                    monitor="business",
                    metric=stat,
                    value=value,
                    reference_value=base_mean if stat == "mean" else None,
                    threshold=Z_LIMIT if stat == "anomaly" else None,
                    flagged=anomaly and stat in ("mean", "anomaly"),
                    details={"z": z},
                    **common,
                )
            )
        outcome.summary[name] = {
            "mean": mean,
            "baseline_mean": base_mean,
            "change": change,
            "z": z,
            "anomaly": anomaly,
        }
    for outcome in outcomes.values():
        outcome.run.duration_s = time.perf_counter() - started
    return list(outcomes.values())
