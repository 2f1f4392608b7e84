"""`POST /api/v1/events`: typed events in, acknowledged only after their batch is committed.

Each event is validated on its own: a bad one is rejected with its index and reason and the good
ones are stored, so bad input never poisons a batch (design.md §4); `?atomic=true` stores nothing
unless every event is valid. Events whose id was already stored are acknowledged again without
being stored twice, so clients can retry a batch whose answer they never got.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.bodies import read_decoded_body
from vigil.ingest.fastpath import validate_batch
from vigil.ingest.parse import JSON_TYPES, Given, decode_items, rejection, validate
from vigil.ingest.schema import feature_issues
from vigil.ingest.state import IngestState, ingest_state
from vigil.ingest.write import commit_once, count_accepted
from vigil.records import CallRecord, Label, Prediction, Record

router = APIRouter(tags=["ingest"])

_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["kind"],
                        "properties": {
                            "kind": {
                                "type": "string",
                                "enum": ["llm_call", "prediction", "label", "feedback", "metric"],
                            },
                            "id": {"type": "string"},
                            "ts": {"type": "string", "format": "date-time"},
                        },
                    },
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


def _enrich(
    vigil: Any, state: IngestState, index: int, fields: Given, record: Record
) -> str | None:
    """Fill what the server computes; returns a rejection reason, or None when the event is fine."""
    config = vigil.config
    if isinstance(record, CallRecord):
        if "source" not in fields:
            record.source = "ingest"
        if "cost_usd" not in fields:
            record.cost_usd = state.prices(config).cost(
                record.model,
                record.deployment,
                record.input_tokens,
                record.output_tokens,
                record.cached_input_tokens,
            )
    elif isinstance(record, Prediction):
        if not record.model:
            return "model: a prediction needs the name of its model"
        schema = state.registry.get(config, record.model, with_reference=False)
        if schema is None:
            return _unknown_model(state, config, record.model)
        issues = feature_issues(schema.features, record.features)
        if issues:
            record.schema_issues = orjson.dumps(issues).decode()
    elif isinstance(record, Label):
        if not record.prediction_id:
            return "prediction_id: a label needs the id of the prediction it belongs to"
        if record.model and state.registry.get(config, record.model, False) is None:
            return _unknown_model(state, config, record.model)
    return None


def _unknown_model(state: IngestState, config: Any, model: str) -> str | None:
    # With no model declared at all, any name is accepted (quick start); once the registry is in
    # use, a name outside it is a typo or an undeclared model, and storing it would hide that.
    if state.registry.is_empty(config):
        return None
    return (
        f"model: unknown ML model {model!r}; declare it under ml_models in vigil.yaml or with "
        f"PUT /api/v1/ml-models/{model}"
    )


@router.post("/api/v1/events", dependencies=[Depends(require_admin)], openapi_extra=_EVENTS_BODY)
async def ingest_events(
    request: Request,
    atomic: bool = Query(False, description="Store nothing unless every event is valid."),
) -> dict[str, Any]:
    """Store a batch of `llm_call`, `prediction`, `label`, `feedback` and `metric` events.

    Body: a JSON array (or `{"events": [...]}`) of `{"kind": ..., <fields>}`, or NDJSON (one
    event per line, `application/x-ndjson`); `Content-Encoding: gzip` accepted. Answers
    `{"accepted", "duplicates", "flagged", "rejected": [{"index", "kind", "reason"}]}` once the
    accepted events are committed; with `?atomic=true`, 422 and nothing stored if any is rejected.
    503 with `retry-after` when the write pipeline is over its high-water mark.
    """
    vigil = request.app.state.vigil
    limit = vigil.config.server.max_body_bytes
    body = await read_decoded_body(request, limit)
    content_type = request.headers.get("content-type", "")
    received = datetime.now(UTC)
    good = None
    if content_type.split(";", 1)[0].strip().lower() in (*JSON_TYPES, ""):
        good = validate_batch(body, received)  # a whole valid array in one pass, or None
    rejected: list[dict[str, Any]] = []
    if good is None:
        items, rejected = decode_items(body, content_type)
        good, invalid = validate(items, frozenset(r["index"] for r in rejected), received)
        rejected.extend(invalid)
    count = len(good) + len(rejected)
    state = ingest_state(vigil)
    records: list[Record] = []
    client_ids: list[bool] = []
    for index, fields, record in good:
        why = _enrich(vigil, state, index, fields, record)
        if why is not None:
            rejected.append(rejection(index, record.KIND, why))
            continue
        records.append(record)
        client_ids.append("id" in fields)
    rejected.sort(key=lambda r: r["index"])
    for rej in rejected:
        vigil.metrics.ingest_rejected.labels(str(rej["kind"]), "invalid").inc()
    if atomic and rejected:
        raise APIError(
            422,
            "rejected_events",
            f"{len(rejected)} of {count} events are invalid; nothing was stored (atomic)",
            {"rejected": rejected},
        )
    duplicate = await commit_once(vigil, records, client_ids)
    stored = [r for r, dup in zip(records, duplicate, strict=True) if not dup]
    count_accepted(vigil, stored)
    flagged = sum(1 for r in stored if isinstance(r, Prediction) and r.schema_issues)
    return {
        "accepted": len(records),
        "duplicates": len(records) - len(stored),
        "flagged": flagged,
        "rejected": rejected,
    }
