"""Vigil's Prometheus metrics (names are contractual: design.md §2).

Each app owns its own `CollectorRegistry`, so several Vigil apps (tests, benches) can live in one
process without clashing in prometheus-client's global registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

FLUSH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class VigilMetrics:
    """The metric objects of one Vigil process, bound to one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
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
