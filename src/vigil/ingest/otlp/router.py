"""`POST /v1/traces`, `/v1/logs`, `/v1/metrics`: the OTLP/HTTP receivers.

Like `/api/v1/events`, they answer only once what they accepted is committed, and they take the
admin token (`Authorization: Bearer ...`, e.g. `OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20
<token>`); errors follow the OTLP spec instead of Vigil's error shape (see `wire`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from starlette.responses import Response

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.bodies import read_decoded_body
from vigil.ingest.otlp import logs, metrics, traces, wire
from vigil.ingest.state import ingest_state
from vigil.ingest.write import commit, commit_once, count_accepted
from vigil.records import Record

router = APIRouter(tags=["otlp"])


def _doc(resource_key: str) -> dict[str, Any]:
    """OpenAPI request body: the OTLP JSON envelope (protobuf also accepted)."""
    schema = {
        "type": "object",
        "properties": {resource_key: {"type": "array", "items": {"type": "object"}}},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


Handler = Callable[[Any, Any], Awaitable[Message]]


async def _export(request: Request, message_cls: type[Message], handle: Handler) -> Response:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    encoding = wire.PROTOBUF if "protobuf" in media else wire.JSON  # for errors before parsing
    vigil = request.app.state.vigil
    try:
        await require_admin(request)
        encoding = wire.encoding_of(request)
        body = await read_decoded_body(request, vigil.config.server.max_body_bytes)
        message = wire.parse(body, encoding, message_cls)
        result = await handle(vigil, message)
    except APIError as exc:
        return wire.error_response(exc, encoding)
    return wire.respond(result, encoding)


def _count_rejected(vigil: Any, kind: str, rejected: int) -> None:
    if rejected:
        vigil.metrics.ingest_rejected.labels(kind, "invalid").inc(rejected)


async def _traces(vigil: Any, message: Any) -> Message:
    spans, calls, rejected, reason = traces.convert(message)
    prices = ingest_state(vigil).prices(vigil.config)
    for call in calls:
        call.cost_usd = prices.cost(
            call.model,
            call.deployment,
            call.input_tokens,
            call.output_tokens,
            call.cached_input_tokens,
        )
    records: list[Record] = [*spans, *calls]
    duplicate = await commit_once(vigil, records)
    count_accepted(vigil, [r for r, dup in zip(records, duplicate, strict=True) if not dup])
    _count_rejected(vigil, "span", rejected)
    response = trace_pb.ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = reason
    return response


async def _logs(vigil: Any, message: Any) -> Message:
    records, rejected, reason = logs.convert(message)
    await commit(vigil, records)
    count_accepted(vigil, records)
    _count_rejected(vigil, "log", rejected)
    response = logs_pb.ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = reason
    return response


async def _metrics(vigil: Any, message: Any) -> Message:
    points, rejected, reason = metrics.convert(message)
    await commit(vigil, points)
    count_accepted(vigil, points)
    _count_rejected(vigil, "metric", rejected)
    response = metrics_pb.ExportMetricsServiceResponse()
    if rejected:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = reason
    return response


@router.post("/v1/traces", openapi_extra=_doc("resourceSpans"))
async def otlp_traces(request: Request) -> Response:
    """OTLP/HTTP traces; GenAI spans (`gen_ai.*`) are also stored as LLM calls."""
    return await _export(request, trace_pb.ExportTraceServiceRequest, _traces)


@router.post("/v1/logs", openapi_extra=_doc("resourceLogs"))
async def otlp_logs(request: Request) -> Response:
    """OTLP/HTTP logs."""
    return await _export(request, logs_pb.ExportLogsServiceRequest, _logs)


@router.post("/v1/metrics", openapi_extra=_doc("resourceMetrics"))
async def otlp_metrics(request: Request) -> Response:
    """OTLP/HTTP metrics, stored as business-metric points."""
    return await _export(request, metrics_pb.ExportMetricsServiceRequest, _metrics)
