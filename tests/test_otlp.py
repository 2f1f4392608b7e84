"""OTLP/HTTP receivers fed by the real OpenTelemetry Python SDK exporters (protobuf and JSON),
read back through the trace and log query APIs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogExporter
from opentelemetry.exporter.otlp.json.http.metric_exporter import (
    OTLPMetricExporter as JsonMetricExporter,
)
from opentelemetry.exporter.otlp.json.http.trace_exporter import (
    OTLPSpanExporter as JsonSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from conftest import VigilProcess

ENCODINGS = ["protobuf", "json"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    """One server for the tests that only read back through the query APIs (start-up is slow)."""
    proc = VigilProcess(Path(tmp_path_factory.mktemp("otlp"))).start()
    yield proc
    proc.kill()


def _exporter_kwargs(proc: VigilProcess, signal: str) -> dict[str, Any]:
    return {"endpoint": f"{proc.url}/v1/{signal}", "headers": proc.headers, "timeout": 10}


def _tracer_provider(proc: VigilProcess, encoding: str, service: str) -> TracerProvider:
    kwargs = _exporter_kwargs(proc, "traces")
    exporter: Any
    if encoding == "protobuf":
        exporter = OTLPSpanExporter(compression=Compression.Gzip, **kwargs)
    else:
        exporter = JsonSpanExporter(**kwargs)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _genai_trace(provider: TracerProvider, model: str) -> str:
    tracer = provider.get_tracer("test-app")
    with tracer.start_as_current_span("handle-request") as root:
        with tracer.start_as_current_span(f"chat {model}") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": model,
                    "gen_ai.response.model": model + "-2024-07-18",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 80,
                    "gen_ai.response.id": "chatcmpl-1",
                }
            )
        with tracer.start_as_current_span("lookup") as failing:
            failing.set_status(Status(StatusCode.ERROR, "boom"))
        return format(root.get_span_context().trace_id, "032x")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_traces_from_the_sdk_exporter(server: VigilProcess, encoding: str) -> None:
    vigil = server
    provider = _tracer_provider(vigil, encoding, "shop-" + encoding)
    trace_ids = [_genai_trace(provider, "gpt-4o-mini") for _ in range(3)]
    provider.shutdown()

    trace = httpx.get(f"{vigil.url}/api/v1/traces/{trace_ids[0]}", headers=vigil.headers).json()
    assert trace["span_count"] == 3 and trace["services"] == ["shop-" + encoding]
    (root,) = trace["spans"]
    assert root["name"] == "handle-request"
    children = {c["name"]: c for c in root["children"]}
    chat = children["chat gpt-4o-mini"]
    assert chat["gen_ai"]["gen_ai.usage.input_tokens"] == 1200
    assert chat["duration_s"] >= 0 and trace["duration_s"] >= chat["duration_s"]
    assert children["lookup"]["status"] == {"code": "error", "message": "boom"}

    listed = httpx.get(
        vigil.url + "/api/v1/traces",
        params={"model": "gpt-4o-mini", "service": "shop-" + encoding, "limit": 2},
        headers=vigil.headers,
    ).json()
    assert len(listed["traces"]) == 2 and listed["next_cursor"]
    first = listed["traces"][0]
    assert first["models"] == ["gpt-4o-mini"] and first["error_count"] == 1
    assert first["root_name"] == "handle-request"
    rest = httpx.get(
        vigil.url + "/api/v1/traces",
        params={
            "model": "gpt-4o-mini",
            "service": "shop-" + encoding,
            "limit": 2,
            "cursor": listed["next_cursor"],
        },
        headers=vigil.headers,
    ).json()
    seen = {t["trace_id"] for t in listed["traces"] + rest["traces"]}
    assert seen == set(trace_ids) and rest["next_cursor"] is None
    none = httpx.get(
        vigil.url + "/api/v1/traces", params={"min_duration": "1h"}, headers=vigil.headers
    ).json()
    assert none["traces"] == []

    # GenAI spans are LLM calls too: counted and priced from the bundled table
    metrics = httpx.get(vigil.url + "/metrics").text
    assert 'vigil_requests_total{model="gpt-4o-mini",provider="openai",status_code="200"}' in (
        metrics
    )
    assert 'vigil_cost_usd_total{model="gpt-4o-mini",provider="openai"}' in metrics


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_logs_link_to_traces(server: VigilProcess, encoding: str) -> None:
    vigil = server
    kwargs = _exporter_kwargs(vigil, "logs")
    exporter: Any = (
        OTLPLogExporter(**kwargs) if encoding == "protobuf" else JsonLogExporter(**kwargs)
    )
    service = "billing-" + encoding
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"vigil.test.otlp.{encoding}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    tracer_provider = TracerProvider()
    with tracer_provider.get_tracer("t").start_as_current_span("pay") as span:
        logger.error("payment FAILED for order %s", 42, extra={"order.id": "42"})
        trace_id = format(span.get_span_context().trace_id, "032x")
    logger.info("all good")
    logger_provider.shutdown()

    def logs(**params: Any) -> list[dict[str, Any]]:
        params = {"service": service, **params}
        resp = httpx.get(vigil.url + "/api/v1/logs", params=params, headers=vigil.headers)
        assert resp.status_code == 200, resp.text
        return list(resp.json()["logs"])

    (line,) = logs(trace_id=trace_id)
    assert line["body"] == "payment FAILED for order 42" and line["level"] == "error"
    assert line["service"] == service and line["trace"] == f"/api/v1/traces/{trace_id}"
    assert [x["body"] for x in logs(query="failed")] == ["payment FAILED for order 42"]
    assert [x["body"] for x in logs(level="info,warn")] == ["all good"]
    assert len(logs(label="order.id:42")) == 1 and len(logs()) == 2
    page = httpx.get(
        vigil.url + "/api/v1/logs", params={"limit": 1, "service": service}, headers=vigil.headers
    ).json()
    assert page["logs"][0]["body"] == "all good" and page["next_cursor"]
    page2 = httpx.get(
        vigil.url + "/api/v1/logs",
        params={"limit": 1, "service": service, "cursor": page["next_cursor"]},
        headers=vigil.headers,
    ).json()
    assert page2["logs"][0]["body"].startswith("payment") and page2["next_cursor"] is None


def test_stored_calls_and_metric_points(vigil: VigilProcess) -> None:
    """GenAI spans land in llm_calls and metrics (both encodings) in business_metrics."""
    provider = _tracer_provider(vigil, "protobuf", "shop")
    trace_id = _genai_trace(provider, "gpt-4o-mini")
    provider.shutdown()
    for encoding in ENCODINGS:
        kwargs = _exporter_kwargs(vigil, "metrics")
        exporter: Any = (
            OTLPMetricExporter(**kwargs) if encoding == "protobuf" else JsonMetricExporter(**kwargs)
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        meters = MeterProvider(
            resource=Resource.create({"service.name": "web"}), metric_readers=[reader]
        )
        meter = meters.get_meter("m")
        meter.create_counter(f"conversions_{encoding}").add(3, {"model": "ranker"})
        meter.create_histogram(f"latency_{encoding}").record(0.25)
        meters.shutdown()
    assert vigil.stop() == 0
    con = duckdb.connect(str(vigil.store_path), read_only=True)
    calls = con.execute(
        "SELECT source, model, deployment, provider, input_tokens, output_tokens, cost_usd > 0, "
        "trace_id, request_id FROM llm_calls"
    ).fetchall()
    points = con.execute("SELECT name, value, model FROM business_metrics ORDER BY name").fetchall()
    con.close()
    assert calls == [
        (
            "otlp",
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "openai",
            1200,
            80,
            True,
            trace_id,
            "chatcmpl-1",
        )
    ]
    assert points == [
        ("conversions_json", 3.0, "ranker"),
        ("conversions_protobuf", 3.0, "ranker"),
        ("latency_json_count", 1.0, None),
        ("latency_json_sum", 0.25, None),
        ("latency_protobuf_count", 1.0, None),
        ("latency_protobuf_sum", 0.25, None),
    ]


def test_partial_success_and_errors(server: VigilProcess) -> None:
    vigil = server
    url = vigil.url + "/v1/traces"
    request = trace_pb.ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    good = spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="ok")
    good.start_time_unix_nano, good.end_time_unix_nano = (
        1_700_000_000_000_000_000,
        1_700_000_001_000_000_000,
    )
    spans.add(trace_id=b"\x00" * 16, span_id=b"\x03" * 8, name="zero trace id")
    proto = {**vigil.headers, "content-type": "application/x-protobuf"}
    resp = httpx.post(url, content=request.SerializeToString(), headers=proto)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/x-protobuf"
    answer = trace_pb.ExportTraceServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_spans == 1
    assert "trace_id" in answer.partial_success.error_message

    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0102030405060708090a0b0c0d0e0f10",
                                "spanId": "0102030405060708",
                                "name": "json",
                                "kind": 2,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000500000000",
                                "unknownField": 1,
                            },
                            {"traceId": "zz", "spanId": "0102030405060708", "name": "bad hex"},
                        ]
                    }
                ]
            }
        ]
    }
    resp = httpx.post(url, json=body, headers=vigil.headers)
    assert resp.status_code == 200
    assert resp.json() == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": resp.json()["partialSuccess"]["errorMessage"],
        }
    }
    trace = httpx.get(
        vigil.url + "/api/v1/traces/0102030405060708090a0b0c0d0e0f10", headers=vigil.headers
    ).json()
    assert trace["spans"][0]["kind"] == "server" and trace["duration_s"] == 0.5

    resp = httpx.post(url, content=b"\xff\xff\xff", headers=proto)
    assert resp.status_code == 400
    assert status_pb2.Status.FromString(resp.content).code == 3  # INVALID_ARGUMENT
    resp = httpx.post(
        url, content=b"{", headers={**vigil.headers, "content-type": "application/json"}
    )
    assert resp.status_code == 400 and resp.json()["code"] == 3
    resp = httpx.post(url, content=b"x", headers={**vigil.headers, "content-type": "text/plain"})
    assert resp.status_code == 415
    resp = httpx.post(url, json=body)
    assert resp.status_code == 401 and resp.json()["code"] == 16
    empty = httpx.post(url, json={}, headers=vigil.headers)
    assert empty.status_code == 200 and empty.json() == {}
    missing = httpx.get(vigil.url + "/api/v1/traces/" + "ab" * 16, headers=vigil.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert httpx.get(vigil.url + "/api/v1/traces").status_code == 401
    bad = httpx.get(vigil.url + "/api/v1/logs?cursor=xyz", headers=vigil.headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"
