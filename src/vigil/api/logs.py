"""`GET /api/v1/logs`: stored log lines (OTLP and Loki push), newest first, keyset-paginated.

Filters are what people type into Loki or Grafana first: a case-insensitive substring of the
line, level, service, trace id, time range, and label matchers (`label=env:prod`, repeatable,
matched against the line's attributes or Loki labels). Each line links to its trace.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from vigil.api.auth import require_admin
from vigil.api.pagination import (
    bad_parameter,
    decode_cursor,
    encode_cursor,
    iso,
    json_value,
    parse_time,
)

router = APIRouter(tags=["logs"], dependencies=[Depends(require_admin)])


def _label_filter(matcher: str) -> tuple[str, list[Any]]:
    key, sep, value = matcher.partition(":")
    if not sep or not key:
        raise bad_parameter("label", "label filters are key:value, e.g. label=env:prod", matcher)
    path = "$." + orjson.dumps(key).decode()  # quoted, so keys with dots work
    return "json_extract_string(attributes, ?) = ?", [path, value]


@router.get("/api/v1/logs")
async def list_logs(
    request: Request,
    query: str | None = Query(None, description="Case-insensitive substring of the line."),
    level: str | None = Query(None, description="Level, or several comma-separated."),
    service: str | None = Query(None),
    trace_id: str | None = Query(None),
    label: list[str] = Query(default_factory=list, description="key:value, repeatable."),
    since: str | None = Query(None, description="ISO 8601 time or a duration before now."),
    until: str | None = Query(None, description="ISO 8601 time or a duration before now."),
    limit: int = Query(100, ge=1, le=5000),
    cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
) -> dict[str, Any]:
    """Log lines matching every filter given, newest first."""
    where: list[str] = []
    params: list[Any] = []
    if query:
        where.append("contains(lower(body), lower(?))")
        params.append(query)
    if level:
        levels = [lv.strip().lower() for lv in level.split(",") if lv.strip()]
        where.append(f"lower(level) IN ({', '.join('?' * len(levels))})")
        params.extend(levels)
    if service:
        where.append("service = ?")
        params.append(service)
    if trace_id:
        where.append("trace_id = ?")
        params.append(trace_id.lower())
    for matcher in label:
        clause, values = _label_filter(matcher)
        where.append(clause)
        params.extend(values)
    lo, hi = parse_time("since", since), parse_time("until", until)
    if lo is not None:
        where.append("ts >= ?")
        params.append(lo)
    if hi is not None:
        where.append("ts < ?")
        params.append(hi)
    after = decode_cursor(cursor)
    if after is not None:
        where.append("(ts < ? OR (ts = ? AND id < ?))")
        params.extend([after[0], after[0], after[1]])
    sql = (
        "SELECT id, ts, level, service, body, trace_id, span_id, attributes FROM logs "
        f"WHERE {' AND '.join(where) or 'TRUE'} ORDER BY ts DESC, id DESC LIMIT ?"
    )
    store = request.app.state.vigil.store
    rows = await asyncio.to_thread(store.fetch, sql, [*params, limit + 1])
    page = rows[:limit]
    logs = [
        {
            "id": r[0],
            "ts": iso(r[1]),
            "level": r[2],
            "service": r[3],
            "body": r[4],
            "trace_id": r[5],
            "span_id": r[6],
            "attributes": json_value(r[7]),
            "trace": f"/api/v1/traces/{r[5]}" if r[5] else None,
        }
        for r in page
    ]
    next_cursor = encode_cursor(page[-1][1], page[-1][0]) if len(rows) > limit else None
    return {"logs": logs, "next_cursor": next_cursor}
