"""`POST /api/v1/events`: typed events in, acknowledged only after their batch is committed.

Each event is validated on its own: a bad one is rejected with its index and reason and the good
ones are stored, so bad input never poisons a batch (design.md §4).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import TypeAdapter, ValidationError

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.ingest.body import read_body
from vigil.pipeline import Backpressure, PipelineClosed
from vigil.records import BusinessMetric, CallRecord, Feedback, Label, Prediction, Record

EVENT_TYPES: dict[str, type[Record]] = {
    t.KIND: t for t in (CallRecord, Prediction, Label, Feedback, BusinessMetric)
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {kind: TypeAdapter(t) for kind, t in EVENT_TYPES.items()}

router = APIRouter(tags=["ingest"])


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_events(
    items: list[Any],
) -> tuple[list[Record], list[dict[str, Any]]]:
    """Validate raw events; returns the records and the rejections ({index, kind, reason})."""
    records: list[Record] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append({"index": index, "kind": None, "reason": "event must be an object"})
            continue
        fields = dict(item)
        kind = fields.pop("kind", None)
        adapter = _ADAPTERS.get(kind) if isinstance(kind, str) else None
        if adapter is None:
            reason = f"kind must be one of {sorted(EVENT_TYPES)}, got {kind!r}"
            rejected.append({"index": index, "kind": kind, "reason": reason})
            continue
        try:
            records.append(adapter.validate_python(fields))
        except ValidationError as exc:
            rejected.append({"index": index, "kind": kind, "reason": _reason(exc)})
    return records, rejected


@router.post("/api/v1/events", dependencies=[Depends(require_admin)])
async def ingest_events(request: Request) -> dict[str, Any]:
    """Store a batch of `llm_call`, `prediction`, `label`, `feedback` and `metric` events.

    Body: a JSON array of events, each `{"kind": ..., <fields of the record>}`. Answers
    `{"accepted": N, "rejected": [{"index", "kind", "reason"}]}` once the accepted events are
    committed; 503 with `retry-after` when the write pipeline is over its high-water mark.
    """
    vigil = request.app.state.vigil
    body = await read_body(request, vigil.config.server.max_body_bytes)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise APIError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        payload = payload["events"]
    if not isinstance(payload, list):
        raise APIError(400, "invalid_request", "body must be a JSON array of events")
    records, rejected = parse_events(payload)
    metrics = vigil.metrics
    for rej in rejected:
        metrics.ingest_rejected.labels(str(rej["kind"]), "invalid").inc()
    try:
        await vigil.pipeline.write(records)
    except Backpressure as exc:
        retry = str(max(1, round(exc.retry_after)))
        raise APIError(503, "overloaded", str(exc), headers={"retry-after": retry}) from None
    except PipelineClosed as exc:
        raise APIError(503, "shutting_down", str(exc), headers={"retry-after": "1"}) from None
    for record in records:
        metrics.ingest_events.labels(record.KIND).inc()
        if isinstance(record, CallRecord):
            metrics.observe_call(record)
        elif isinstance(record, Prediction):
            metrics.predictions.labels(record.model).inc()
    return {"accepted": len(records), "rejected": rejected}
