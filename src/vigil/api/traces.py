"""`GET /api/v1/traces` and `GET /api/v1/traces/{trace_id}`: stored spans as traces.

The list answers "which requests were slow, failed, or used this model" (one row per trace, newest
first, keyset-paginated); the detail is the span tree with durations and the GenAI attributes
pulled up front, the way Jaeger, Phoenix and Langfuse show a trace.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.api.pagination import (
    decode_cursor,
    encode_cursor,
    iso,
    json_value,
    parse_seconds,
    parse_time,
)

router = APIRouter(tags=["traces"], dependencies=[Depends(require_admin)])

MODEL_EXPR = "coalesce(attributes->>'gen_ai.request.model', attributes->>'gen_ai.response.model')"

_SPAN_COLUMNS = (
    "span_id, parent_span_id, name, kind, service, ts, duration_s, status_code, status_message, "
    "attributes, events, resource"
)


async def _fetch(request: Request, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    store = request.app.state.vigil.store
    rows: list[tuple[Any, ...]] = await asyncio.to_thread(store.fetch, sql, params)
    return rows


def _span(row: tuple[Any, ...]) -> dict[str, Any]:
    (span_id, parent, name, kind, service, ts, duration, status, message, attrs, events, res) = row
    attributes = json_value(attrs) or {}
    return {
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "service": service,
        "start": iso(ts),
        "duration_s": duration,
        "status": {"code": status, "message": message},
        "gen_ai": {k: v for k, v in attributes.items() if k.startswith("gen_ai.")} or None,
        "attributes": attributes,
        "events": json_value(events),
        "resource": json_value(res),
        "children": [],
    }


def build_tree(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nest spans under their parents; spans whose parent is missing become roots."""
    by_id = {s["span_id"]: s for s in spans}
    roots = []
    for span in spans:
        parent = by_id.get(span["parent_span_id"]) if span["parent_span_id"] else None
        if parent is None or parent is span:
            roots.append(span)
        else:
            parent["children"].append(span)
    return roots


@router.get("/api/v1/traces/{trace_id}")
async def get_trace(request: Request, trace_id: str) -> dict[str, Any]:
    """One trace as a span tree (children ordered by start), with its total duration."""
    rows = await _fetch(
        request,
        f"SELECT {_SPAN_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY ts, span_id",
        [trace_id.lower()],
    )
    if not rows:
        raise APIError(404, "not_found", f"no spans stored for trace {trace_id!r}")
    spans: dict[str, dict[str, Any]] = {}
    for row in rows:
        spans.setdefault(row[0], _span(row))  # a span re-sent by an exporter is shown once
    start = min(r[5] for r in rows)
    end = max(r[5].timestamp() + (r[6] or 0.0) for r in rows)
    return {
        "trace_id": trace_id.lower(),
        "start": iso(start),
        "duration_s": round(end - start.timestamp(), 9),
        "span_count": len(spans),
        "services": sorted({s["service"] for s in spans.values() if s["service"]}),
        "logs": f"/api/v1/logs?trace_id={trace_id.lower()}",
        "spans": build_tree(list(spans.values())),
    }


@router.get("/api/v1/traces")
async def list_traces(
    request: Request,
    service: str | None = Query(None, description="Only traces with a span of this service."),
    model: str | None = Query(None, description="Only traces with a GenAI span of this model."),
    min_duration: str | None = Query(None, description="Seconds or a duration (`500ms`)."),
    since: str | None = Query(None, description="ISO 8601 time or a duration before now."),
    until: str | None = Query(None, description="ISO 8601 time or a duration before now."),
    limit: int = Query(50, ge=1, le=1000),
    cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
) -> dict[str, Any]:
    """Traces, newest first: start, duration, root span, services, models, errors."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    lo, hi = parse_time("since", since), parse_time("until", until)
    if lo is not None:
        where.append("ts >= ?")
        params.append(lo)
    if hi is not None:
        where.append("ts < ?")
        params.append(hi)
    having: list[str] = ["TRUE"]
    hparams: list[Any] = []
    if service:
        having.append("bool_or(service = ?)")
        hparams.append(service)
    if model:
        having.append(f"bool_or({MODEL_EXPR} = ?)")
        hparams.append(model)
    seconds = parse_seconds("min_duration", min_duration)
    if seconds is not None:
        having.append("max(epoch(ts) + duration_s) - epoch(min(ts)) >= ?")
        hparams.append(seconds)
    after = decode_cursor(cursor)
    if after is not None:
        having.append("(min(ts) < ? OR (min(ts) = ? AND trace_id < ?))")
        hparams.extend([after[0], after[0], after[1]])
    sql = f"""
        SELECT trace_id, min(ts) AS start,
               max(epoch(ts) + duration_s) - epoch(min(ts)) AS duration_s,
               count(DISTINCT span_id) AS spans,
               count(DISTINCT span_id) FILTER (WHERE status_code = 'error') AS errors,
               arg_min(name, ts) AS root,
               list(DISTINCT service) FILTER (WHERE service IS NOT NULL) AS services,
               list(DISTINCT {MODEL_EXPR}) FILTER (WHERE {MODEL_EXPR} IS NOT NULL) AS models
        FROM spans WHERE {" AND ".join(where)}
        GROUP BY trace_id HAVING {" AND ".join(having)}
        ORDER BY start DESC, trace_id DESC LIMIT ?"""
    rows = await _fetch(request, sql, [*params, *hparams, limit + 1])
    page = rows[:limit]
    traces = [
        {
            "trace_id": r[0],
            "start": iso(r[1]),
            "duration_s": round(r[2], 9),
            "span_count": r[3],
            "error_count": r[4],
            "root_name": r[5],
            "services": sorted(r[6]),
            "models": sorted(r[7]),
        }
        for r in page
    ]
    next_cursor = encode_cursor(page[-1][1], page[-1][0]) if len(rows) > limit else None
    return {"traces": traces, "next_cursor": next_cursor}
