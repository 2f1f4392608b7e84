"""Vigil's Prometheus metrics (names are contractual: design.md §2).

Each app owns its own `CollectorRegistry`, so several Vigil apps (tests, benches) can live in one
process without clashing in prometheus-client's global registry.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

from vigil import __version__
from vigil.metrics.labels import CappedLabel
from vigil.records import CallRecord

FLUSH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY_BUCKETS = (
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    7.5,
    10.0,
    15.0,
    20.0,
    30.0,
    45.0,
    60.0,
    90.0,
    120.0,
    180.0,
    300.0,
    600.0,
)
"""LLM calls take tens of milliseconds to minutes."""
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
MAX_KEY_LABELS = 100
"""Distinct virtual keys that get their own series when per-key labels are on; the rest share
the `__other__` series (see `vigil.metrics.labels`)."""


class BatchHistogram(Histogram):
    """A `Histogram` that can also take many observations at once (one bucket update per bucket
    touched, one sum update), as ingest's 1,000-event batches do."""

    def observe_many(self, amounts: Sequence[float]) -> None:
        """The same counts and sum as `observe` on each amount in turn."""
        if not amounts:
            return
        self._raise_if_not_observable()  # type: ignore[no-untyped-call]
        total = sum(amounts)
        self._sum.inc(total)
        if total != total:  # a NaN, which `observe` counts in no bucket
            amounts = [a for a in amounts if a == a]
        ordered = sorted(amounts)
        below = 0  # amounts counted in lower buckets
        for bound, bucket in zip(self._upper_bounds, self._buckets, strict=True):
            upto = bisect_right(ordered, bound, below)
            if upto > below:
                bucket.inc(upto - below)
                below = upto


_MODEL_PROVIDER = attrgetter("model", "provider")
_STATUS = attrgetter("status_code")
_DURATION = attrgetter("duration_s")
_TTFT = attrgetter("ttft_s")
_COST = attrgetter("cost_usd")
_TOKENS = (
    ("input", attrgetter("input_tokens")),
    ("output", attrgetter("output_tokens")),
    ("cached_input", attrgetter("cached_input_tokens")),
)


@dataclass(slots=True)
class _CallSeries:
    """The children of one (model, provider) in every LLM metric, looked up once: `labels()`
    costs a tuple, a lock and a dict lookup each time, six times per gateway call."""

    requests: dict[int, Any]
    duration: Any
    ttft: Any
    tokens: tuple[tuple[Callable[[CallRecord], int], Any], ...]
    cost: Any


class VigilMetrics:
    """The metric objects of one Vigil process, bound to one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._call_series: dict[tuple[str, str], _CallSeries] = {}
        r = self.registry
        self.pipeline_queue_depth = Gauge(
            "vigil_pipeline_queue_depth", "Records waiting in the write pipeline.", registry=r
        )
        self.pipeline_flush_seconds = Histogram(
            "vigil_pipeline_flush_seconds",
            "Time to write and commit one group-commit batch.",
            buckets=FLUSH_BUCKETS,
            registry=r,
        )
        self.pipeline_committed = Counter(
            "vigil_pipeline_committed_records",
            "Records committed to the store, by table.",
            ["table"],
            registry=r,
        )
        self.pipeline_dropped = Counter(
            "vigil_pipeline_dropped_records",
            "Records dropped by the pipeline, by reason (queue_full, write_error).",
            ["reason"],
            registry=r,
        )
        self.ingest_events = Counter(
            "vigil_ingest_events", "Events accepted by ingest, by kind.", ["kind"], registry=r
        )
        self.ingest_rejected = Counter(
            "vigil_ingest_rejected",
            "Events rejected by ingest, by kind and reason.",
            ["kind", "reason"],
            registry=r,
        )
        self.retention_deleted = Counter(
            "vigil_retention_deleted_rows",
            "Rows deleted by the retention job, by table.",
            ["table"],
            registry=r,
        )
        self._llm(r)
        self._ml(r)
        self._probes(r)
        self.alerts_firing = Gauge(
            "vigil_alerts_firing", "Alerts firing now, by severity.", ["severity"], registry=r
        )
        self._per_key(r)
        Info("vigil_build", "The running Vigil version.", registry=r).info({"version": __version__})
        ProcessCollector(registry=r)  # process_* (CPU, memory, fds) for the "Vigil" dashboard

    def _llm(self, r: CollectorRegistry) -> None:
        mp = ["model", "provider"]
        self.requests = Counter(
            "vigil_requests",
            "LLM requests (gateway and ingested), by model, provider and HTTP status code.",
            ["model", "provider", "status_code"],
            registry=r,
        )
        self.request_duration = BatchHistogram(
            "vigil_request_duration_seconds",
            "End-to-end LLM request duration in seconds.",
            mp,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = BatchHistogram(
            "vigil_time_to_first_token_seconds",
            "Time to the first streamed token in seconds (streaming requests).",
            mp,
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "vigil_tokens",
            "Tokens processed, by type (input, output, cached_input).",
            ["model", "provider", "type"],
            registry=r,
        )
        self.cost = Counter(
            "vigil_cost_usd", "Cost in US dollars from the price table.", mp, registry=r
        )
        self.rate_limited = Counter(
            "vigil_rate_limited",
            "Requests refused with 429, by scope (key, model, upstream).",
            ["model", "scope"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "vigil_upstream_errors",
            "Failed upstream attempts, by provider and error type.",
            ["provider", "error_type"],
            registry=r,
        )
        self.retries = Counter(
            "vigil_retries", "Upstream attempts retried, by model.", ["model"], registry=r
        )
        self.fallbacks = Counter(
            "vigil_fallbacks",
            "Requests served by a fallback model, by model.",
            ["model"],
            registry=r,
        )
        self.budget_used_ratio = Gauge(
            "vigil_budget_used_ratio",
            "Share of the current budget period spent, per key or team (one label empty).",
            ["key", "team"],
            registry=r,
        )

    def _ml(self, r: CollectorRegistry) -> None:
        self.predictions = Counter(
            "vigil_predictions", "Predictions received, by model.", ["model"], registry=r
        )
        self.drift_score = Gauge(
            "vigil_drift_score",
            "Latest drift statistic per feature (p-value or distance, see method).",
            ["model", "feature", "method"],
            registry=r,
        )
        self.drift_detected = Gauge(
            "vigil_drift_detected",
            "1 when the latest drift check flagged the feature, else 0.",
            ["model", "feature"],
            registry=r,
        )
        self.dataset_drift_share = Gauge(
            "vigil_dataset_drift_share",
            "Share of a model's features flagged as drifted.",
            ["model"],
            registry=r,
        )
        self.model_performance = Gauge(
            "vigil_model_performance",
            "Realized model performance from labels, by metric.",
            ["model", "metric"],
            registry=r,
        )
        self.model_performance_estimated = Gauge(
            "vigil_model_performance_estimated",
            "Estimated model performance without labels (CBPE), by metric.",
            ["model", "metric"],
            registry=r,
        )
        self.data_quality_issues = Gauge(
            "vigil_data_quality_issues",
            "Data-quality issues in the latest window, by feature and check.",
            ["model", "feature", "check"],
            registry=r,
        )
        self.concept_drift_detected = Gauge(
            "vigil_concept_drift_detected",
            "1 when the error stream of the model's labelled predictions changed (concept drift).",
            ["model"],
            registry=r,
        )
        self.label_coverage = Gauge(
            "vigil_label_coverage",
            "Share of the latest window's predictions that have a label.",
            ["model"],
            registry=r,
        )
        self.business_metric = Gauge(
            "vigil_business_metric",
            "Business metric of the latest window, by name, model and stat (mean, count, "
            "change, anomaly).",
            ["name", "model", "stat"],
            registry=r,
        )
        self.monitor_runs = Counter(
            "vigil_monitor_runs",
            "Monitor runs, by kind and status.",
            ["kind", "status"],
            registry=r,
        )
        self.llm_quality = Gauge(
            "vigil_llm_quality",
            "LLM quality signals (feedback score, refusal rate, ...), by model and signal.",
            ["model", "signal"],
            registry=r,
        )

    def _probes(self, r: CollectorRegistry) -> None:
        """Synthetic probes (`vigil.probes`): gauges of the last run, as Prometheus' blackbox
        exporter reports `probe_success` and `probe_duration_seconds`."""

        def last_run(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, ["probe", "model"], registry=r)

        self.probe_success = last_run(
            "vigil_probe_success", "1 if the last run of the synthetic probe succeeded, else 0."
        )
        self.probe_duration = last_run(
            "vigil_probe_duration_seconds",
            "Duration of the last run of the synthetic probe in seconds (failed runs included).",
        )
        self.probe_ttft = last_run(
            "vigil_probe_ttft_seconds",
            "Time to first token of the last streaming probe run that got one, in seconds.",
        )
        self.probe_runs = Counter(
            "vigil_probe_runs",
            "Synthetic probe runs, by result (success or the error type).",
            ["probe", "model", "result"],
            registry=r,
        )

    def _per_key(self, r: CollectorRegistry) -> None:
        """Per-key series, separate metrics so the contractual label sets never change."""
        self.per_key_labels = False
        self.key_label = CappedLabel(MAX_KEY_LABELS)
        self.key_requests = Counter(
            "vigil_key_requests",
            "LLM requests per virtual key (opt-in: metrics.per_key_labels; keys capped).",
            ["key", "model", "status_code"],
            registry=r,
        )
        self.key_tokens = Counter(
            "vigil_key_tokens",
            "Tokens per virtual key and type (opt-in: metrics.per_key_labels; keys capped).",
            ["key", "model", "type"],
            registry=r,
        )
        self.key_cost = Counter(
            "vigil_key_cost_usd",
            "Cost in US dollars per virtual key (opt-in: metrics.per_key_labels; keys capped).",
            ["key", "model"],
            registry=r,
        )

    def configure(self, *, per_key_labels: bool, max_key_labels: int = MAX_KEY_LABELS) -> None:
        """Apply `metrics.*` config (start-up and reload); existing per-key series stay."""
        self.per_key_labels = per_key_labels
        if max_key_labels != self.key_label.limit:
            self.key_label = CappedLabel(max_key_labels)

    def observe_key_call(self, call: CallRecord) -> None:
        """Count one call in the per-key metrics (the key label is capped)."""
        key, model = self.key_label(call.key_id), call.model
        self.key_requests.labels(key, model, str(call.status_code)).inc()
        if call.input_tokens:
            self.key_tokens.labels(key, model, "input").inc(call.input_tokens)
        if call.output_tokens:
            self.key_tokens.labels(key, model, "output").inc(call.output_tokens)
        if call.cached_input_tokens:
            self.key_tokens.labels(key, model, "cached_input").inc(call.cached_input_tokens)
        if call.cost_usd:
            self.key_cost.labels(key, model).inc(call.cost_usd)

    def _series(self, model: str, provider: str) -> _CallSeries:
        series = self._call_series.get((model, provider))
        if series is None:
            series = _CallSeries(
                requests={},
                duration=self.request_duration.labels(model, provider),
                ttft=self.ttft.labels(model, provider),
                tokens=tuple(
                    (getter, self.tokens.labels(model, provider, kind)) for kind, getter in _TOKENS
                ),
                cost=self.cost.labels(model, provider),
            )
            self._call_series[(model, provider)] = series
        return series

    def _requests(self, series: _CallSeries, model: str, provider: str, status: int) -> Any:
        child = series.requests.get(status)
        if child is None:
            child = series.requests[status] = self.requests.labels(model, provider, str(status))
        return child

    def observe_call(self, call: CallRecord) -> None:
        """Count one LLM call (the gateway's, per request) in every LLM metric."""
        model, provider = call.model, call.provider
        series = self._series(model, provider)
        self._requests(series, model, provider, call.status_code).inc()
        series.duration.observe(call.duration_s)
        if call.ttft_s is not None:
            series.ttft.observe(call.ttft_s)
        for getter, child in series.tokens:
            n = getter(call)
            if n:
                child.inc(n)
        if call.cost_usd:
            series.cost.inc(call.cost_usd)
        if self.per_key_labels:
            self.observe_key_call(call)

    def observe_calls(self, calls: Sequence[CallRecord]) -> None:
        """Count LLM calls, from the gateway or from ingest, in every LLM metric.

        Batches look each label set up once per (model, provider) instead of six times per call,
        which was half of ingest's CPU time at 1,000-event batches.
        """
        if self.per_key_labels:
            for call in calls:
                self.observe_key_call(call)
        keys = list(map(_MODEL_PROVIDER, calls))
        if len(set(keys)) == 1:
            self._observe_group(*keys[0], calls)
            return
        groups: dict[tuple[str, str], list[CallRecord]] = defaultdict(list)
        for key, call in zip(keys, calls, strict=True):
            groups[key].append(call)
        for (model, provider), group in groups.items():
            self._observe_group(model, provider, group)

    def _observe_group(self, model: str, provider: str, group: Sequence[CallRecord]) -> None:
        # Column by column through C-level map/sum/Counter, and each histogram's buckets counted
        # once per group: per-call observations were most of ingest's metrics time.
        series = self._series(model, provider)
        statuses = list(map(_STATUS, group))
        counts = {statuses[0]: len(statuses)} if len(set(statuses)) == 1 else Tally(statuses)
        for status, n in counts.items():
            self._requests(series, model, provider, status).inc(n)
        series.duration.observe_many(list(map(_DURATION, group)))
        ttfts = [t for t in map(_TTFT, group) if t is not None]
        if ttfts:
            series.ttft.observe_many(ttfts)
        for getter, child in series.tokens:
            n = sum(map(getter, group))
            if n:
                child.inc(n)
        cost = sum(map(_COST, group))
        if cost:
            series.cost.inc(cost)
