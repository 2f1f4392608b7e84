"""Fuzzing the ingest and query endpoints: schemathesis from the OpenAPI schema, hypothesis for
event batches and OTLP messages. Whatever comes in: no 5xx, and nothing stored that was not
acknowledged (the row counts equal the accepted, non-duplicate events)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from schemathesis.checks import not_a_server_error

from conftest import VigilProcess

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
INGEST_PATHS = r"^/(api/v1/(events|traces|logs|ml-models)|v1/(traces|logs|metrics)|loki/)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    # Retention would delete fuzzed events with old timestamps at each restart; keep everything.
    keep = {c: "36500d" for c in ("logs", "spans", "llm_calls", "inference")}
    proc = VigilProcess(Path(tmp_path_factory.mktemp("fuzz")), {"retention": keep}).start()
    yield proc
    proc.kill()


def test_openapi_operations_never_fail_with_5xx(server: VigilProcess) -> None:
    """Every ingest and query operation, cases generated from the served OpenAPI schema."""
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [
        result.ok() for result in schema.include(path_regex=INGEST_PATHS).get_all_operations()
    ]
    assert len(operations) >= 10, [op.label for op in operations]
    for operation in operations:

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=server.url, headers=server.headers)
            case.validate_response(response, checks=[not_a_server_error])

        run()


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = [
    "id", "ts", "model", "features", "prediction", "score", "label", "prediction_id",
    "input_tokens", "output_tokens", "cost_usd", "call_id", "trace_id", "comment", "name",
    "value", "status_code", "stream",
]  # fmt: skip
_events = st.lists(
    st.dictionaries(
        st.sampled_from(_FIELDS), _json | st.sampled_from(["2026-11-01T00:00:00Z", "m", "x"])
    ).flatmap(
        lambda fields: st.sampled_from(
            ["llm_call", "prediction", "label", "feedback", "metric", "span", None]
        ).map(lambda kind: {**fields, "kind": kind} if kind else fields)
    ),
    max_size=6,
)

_TABLES = {
    "llm_call": "llm_calls",
    "prediction": "predictions",
    "label": "labels",
    "feedback": "feedback",
    "metric": "business_metrics",
}


def test_random_event_batches(server: VigilProcess) -> None:
    before = _count(server, list(_TABLES.values()))
    stored = {"n": 0}

    @FUZZ
    @given(batch=_events, atomic=st.booleans())
    def run(batch: list[dict[str, Any]], atomic: bool) -> None:
        resp = httpx.post(
            server.url + "/api/v1/events",
            params={"atomic": str(atomic).lower()},
            json=batch,
            headers=server.headers,
        )
        assert resp.status_code < 500, resp.text
        if resp.status_code == 200:
            body = resp.json()
            stored["n"] += body["accepted"] - body["duplicates"]
            assert body["accepted"] + len(body["rejected"]) == len(batch)
        else:
            assert atomic and resp.status_code == 422

    run()
    assert _count(server, list(_TABLES.values())) - before == stored["n"]


_ids = st.binary(min_size=0, max_size=17)
_span = st.builds(
    dict,
    trace_id=_ids,
    span_id=_ids,
    parent_span_id=_ids,
    name=st.text(max_size=20),
    kind=st.integers(0, 5),
    start_time_unix_nano=st.integers(0, 2**63 - 1),
    end_time_unix_nano=st.integers(0, 2**63 - 1),
)


def test_random_otlp_traces(server: VigilProcess) -> None:
    before = _count(server, ["spans"])
    stored = {"n": 0}

    @FUZZ
    @given(spans=st.lists(_span, max_size=5), attrs=st.dictionaries(st.text(), st.text()))
    def run(spans: list[dict[str, Any]], attrs: dict[str, str]) -> None:
        request = trace_pb.ExportTraceServiceRequest()
        scope = request.resource_spans.add().scope_spans.add()
        for fields in spans:
            span = scope.spans.add(**fields)
            for key, value in attrs.items():
                span.attributes.add(key=key).value.string_value = value
        resp = httpx.post(
            server.url + "/v1/traces",
            content=request.SerializeToString(),
            headers={**server.headers, "content-type": "application/x-protobuf"},
        )
        assert resp.status_code == 200, resp.content
        answer = trace_pb.ExportTraceServiceResponse.FromString(resp.content)
        stored["n"] += len(spans) - answer.partial_success.rejected_spans

    run()
    assert _count(server, ["spans"]) - before == stored["n"]


@FUZZ
@given(body=st.binary(max_size=200), json=st.booleans())
def test_random_bytes_are_4xx(server: VigilProcess, body: bytes, json: bool) -> None:
    media = "application/json" if json else "application/x-protobuf"
    for path in ("/v1/traces", "/v1/logs", "/v1/metrics", "/loki/api/v1/push", "/api/v1/events"):
        resp = httpx.post(
            server.url + path, content=body, headers={**server.headers, "content-type": media}
        )
        assert resp.status_code < 500, (path, resp.content)


def _count(server: VigilProcess, tables: list[str]) -> int:
    """Rows in `tables` that retention keeps, read after a clean stop (the server owns the file
    while it runs); schemathesis sends timestamps centuries old, which retention may delete at
    any restart."""
    assert server.stop() == 0
    con = duckdb.connect(str(server.store_path), read_only=True)
    keep = "ts >= now()::TIMESTAMP - INTERVAL 36000 DAY"
    try:
        total = 0
        for table in tables:
            row = con.execute(f"SELECT count(*) FROM {table} WHERE {keep}").fetchone()
            total += row[0] if row else 0
        return total
    finally:
        con.close()
        server.start()
