"""What a monitor run produces, how it is stored, and how it becomes Prometheus metrics.

Every run writes one `monitor_runs` row per model and one `monitor_results` row per (window,
monitor, feature, metric) in a single transaction on the pipeline's writer thread (`run_exclusive`),
so the store keeps one writer and readers see a run completely or not at all. The two record types
live here rather than in `vigil.records` because only monitors produce them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, cast

import orjson

from vigil.metrics import VigilMetrics
from vigil.pipeline import WritePipeline
from vigil.records import new_id, utcnow
from vigil.store.base import Store

CONCEPT_FEATURE = "__concept__"
OUTPUT_FEATURE = "__prediction__"
"""`feature` label values of `vigil_drift_*` for concept drift and drift of the model's output."""
PROBE_RUN_PREFIX = "probe:"
"""Synthetic probe runs (`vigil.probes`) are stored as model `probe:NAME`, kind `probe`, with
results of monitor `probe` whose `feature` is the public model the probe called and whose
`metric` is `success` (1/0), `duration_s` or `ttft_s`. The prefix keeps a probe's runs apart from
the LLM monitor runs of the model it calls."""


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


@dataclass(slots=True)
class MonitorRun:
    """One evaluation of one model (or of the LLM or business signals) by the scheduler."""

    TABLE: ClassVar[str] = "monitor_runs"

    id: str = field(default_factory=new_id)
    ts: datetime = field(default_factory=utcnow)
    model: str = ""
    kind: str = "ml"
    """ml | llm | business | probe"""
    duration_s: float = 0.0
    status: str = "ok"
    """ok | error"""
    error: str | None = None
    summary: str | None = None
    """JSON text: the headline numbers the API lists."""


@dataclass(slots=True)
class MonitorResult:
    """One number a monitor computed for one window, with what it was compared against."""

    TABLE: ClassVar[str] = "monitor_results"

    run_id: str = ""
    ts: datetime = field(default_factory=utcnow)
    model: str = ""
    monitor: str = ""
    """data_drift | dataset_drift | output_drift | data_quality | performance |
    estimated_performance | estimation_error | concept_drift | llm_quality | business | probe"""
    window_start: datetime | None = None
    window_end: datetime | None = None
    feature: str | None = None
    metric: str | None = None
    method: str | None = None
    value: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    reference_value: float | None = None
    flagged: bool = False
    reference_size: int | None = None
    current_size: int | None = None
    details: str | None = None
    """JSON text: examples, sample sizes, alarms."""

    @classmethod
    def make(cls, **kwargs: Any) -> MonitorResult:
        """Build a result: numbers become plain floats (NaN/inf: None), `details` JSON text."""
        for name in ("value", "p_value", "threshold", "reference_value"):
            v = kwargs.get(name)
            kwargs[name] = float(v) if v is not None and math.isfinite(float(v)) else None
        kwargs["details"] = _json(kwargs.get("details"))
        kwargs["flagged"] = bool(kwargs.get("flagged", False))
        return cls(**kwargs)


@dataclass(slots=True)
class Outcome:
    """A run's record and results, before they are stored and exported."""

    run: MonitorRun
    results: list[MonitorResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


async def persist(pipeline: WritePipeline, outcomes: Iterable[Outcome]) -> None:
    """Write runs and results in one transaction on the writer thread."""
    runs: list[MonitorRun] = []
    results: list[MonitorResult] = []
    for outcome in outcomes:
        outcome.run.summary = _json(outcome.summary)
        runs.append(outcome.run)
        for r in outcome.results:
            r.run_id, r.ts, r.model = outcome.run.id, outcome.run.ts, outcome.run.model
        results += outcome.results
    batches = cast(Any, {MonitorRun: runs, MonitorResult: results})

    def write(store: Store) -> None:
        store.write(batches)

    await pipeline.run_exclusive(write)


def export(metrics: VigilMetrics, outcome: Outcome) -> None:
    """Set the gauges from the newest result of each series in the outcome."""
    run = outcome.run
    metrics.monitor_runs.labels(run.kind, run.status).inc()
    model = run.model
    latest: dict[tuple[str, str | None, str | None], MonitorResult] = {}
    for r in outcome.results:  # results are in window order: later ones win
        if r.value is not None:
            latest[(r.monitor, r.feature, r.metric)] = r
    for (monitor, feature, metric), r in latest.items():
        value = cast(float, r.value)
        if monitor in ("data_drift", "output_drift"):
            f = feature or ""
            metrics.drift_score.labels(model, f, r.method or "").set(value)
            metrics.drift_detected.labels(model, f).set(int(r.flagged))
        elif monitor == "dataset_drift":
            metrics.dataset_drift_share.labels(model).set(value)
        elif monitor == "data_quality":
            metrics.data_quality_issues.labels(model, feature or "*", metric or "").set(value)
        elif monitor == "performance" and metric == "label_coverage":
            metrics.label_coverage.labels(model).set(value)
        elif monitor == "performance":
            metrics.model_performance.labels(model, metric or "").set(value)
        elif monitor == "estimated_performance":
            metrics.model_performance_estimated.labels(model, metric or "").set(value)
        elif monitor == "concept_drift":
            metrics.concept_drift_detected.labels(model).set(int(r.flagged))
            metrics.drift_detected.labels(model, CONCEPT_FEATURE).set(int(r.flagged))
        elif monitor == "llm_quality":
            metrics.llm_quality.labels(model, metric or "").set(value)
        elif monitor == "business":
            metrics.business_metric.labels(feature or "", model, metric or "mean").set(value)
