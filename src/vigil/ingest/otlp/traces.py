"""OTLP `ExportTraceServiceRequest` -> `Span` records (and LLM calls for GenAI spans)."""

from __future__ import annotations

from typing import Any

from vigil.ingest.otlp.convert import attributes, hex_id, service_name, timestamp
from vigil.ingest.otlp.genai import is_llm_call, to_call
from vigil.records import CallRecord, Span

KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS = ("unset", "ok", "error")


def _events(span: Any) -> list[dict[str, Any]] | None:
    if not span.events:
        return None
    return [
        {
            "name": e.name,
            "ts": timestamp(e.time_unix_nano).isoformat(),
            "attributes": attributes(e.attributes) or None,
        }
        for e in span.events
    ]


def convert(request: Any) -> tuple[list[Span], list[CallRecord], int, str]:
    """Spans, the LLM calls among them, and the count and first reason of rejected spans."""
    spans: list[Span] = []
    calls: list[CallRecord] = []
    rejected = 0
    reason = ""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        service = service_name(resource)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for raw in scope_spans.spans:
                trace_id = hex_id(raw.trace_id, 16)
                span_id = hex_id(raw.span_id, 8)
                if trace_id is None or span_id is None:
                    rejected += 1
                    reason = reason or "span with an invalid trace_id (16 bytes) or span_id (8)"
                    continue
                if raw.end_time_unix_nano and raw.end_time_unix_nano < raw.start_time_unix_nano:
                    rejected += 1
                    reason = reason or f"span {span_id} ends before it starts"
                    continue
                attrs = attributes(raw.attributes)
                duration = 0.0
                if raw.end_time_unix_nano:
                    duration = (raw.end_time_unix_nano - raw.start_time_unix_nano) / 1e9
                span = Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=hex_id(raw.parent_span_id, 8),
                    name=raw.name,
                    kind=KINDS[raw.kind] if 0 <= raw.kind < len(KINDS) else "unspecified",
                    service=service,
                    ts=timestamp(raw.start_time_unix_nano),
                    duration_s=duration,
                    status_code=STATUS[raw.status.code] if raw.status.code < 3 else "unset",
                    status_message=raw.status.message or None,
                    attributes=attrs or None,
                    events=_events(raw),
                    resource={**resource, "otel.scope.name": scope} if scope else resource or None,
                )
                spans.append(span)
                if is_llm_call(attrs):
                    calls.append(to_call(span, attrs))
    return spans, calls, rejected, reason
