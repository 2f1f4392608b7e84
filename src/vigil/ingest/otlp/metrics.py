"""OTLP `ExportMetricsServiceRequest` -> business-metric points.

Gauges and sums become one point per data point; histograms and summaries their `_count` and
`_sum` (enough for rates and means; Prometheus is the place for full distributions). The model
label is read from `gen_ai.request.model` or `model` so points can be monitored per model.
"""

from __future__ import annotations

from typing import Any

from vigil.ingest.otlp.convert import attributes, service_name, timestamp
from vigil.records import BusinessMetric


def _point(name: str, value: float, dp: Any, labels: dict[str, Any]) -> BusinessMetric:
    model = labels.get("gen_ai.request.model") or labels.get("model")
    kwargs: dict[str, Any] = {"ts": timestamp(dp.time_unix_nano)} if dp.time_unix_nano else {}
    return BusinessMetric(
        name=name,
        value=value,
        model=str(model) if model is not None else None,
        labels=labels or None,
        **kwargs,
    )


def _number(dp: Any) -> float | None:
    which = dp.WhichOneof("value")
    if which == "as_double":
        return float(dp.as_double)
    if which == "as_int":
        return float(dp.as_int)
    return None


def convert(request: Any) -> tuple[list[BusinessMetric], int, str]:
    points: list[BusinessMetric] = []
    rejected = 0
    reason = ""
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        service = service_name(resource)
        base = {"service.name": service} if service else {}
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                data = metric.WhichOneof("data")
                if data is None:
                    continue
                for dp in getattr(metric, data).data_points:
                    labels = {**base, **attributes(dp.attributes)}
                    if data in ("gauge", "sum"):
                        value = _number(dp)
                        if value is None:
                            rejected += 1
                            reason = reason or f"data point of {metric.name!r} has no value"
                            continue
                        points.append(_point(metric.name, value, dp, labels))
                    else:  # histogram, exponential_histogram, summary
                        points.append(_point(metric.name + "_count", float(dp.count), dp, labels))
                        points.append(_point(metric.name + "_sum", float(dp.sum), dp, labels))
    return points, rejected, reason
