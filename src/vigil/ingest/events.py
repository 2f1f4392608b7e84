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
from vigil.ingest.parse import JSON_TYPES, Valid, decode_items, rejection, validate
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


def _price(state: IngestState, config: Any, calls: list[CallRecord]) -> None:
    """The cost of LLM calls that came without one, from the gateway's price table."""
    prices = state.prices(config)
    for call in calls:
        tokens = (call.input_tokens, call.output_tokens, call.cached_input_tokens)
        call.cost_usd = prices.cost(call.model, call.deployment, *tokens)


def _check(state: IngestState, config: Any, record: Record) -> str | None:
    """Checks against the model registry (flagging a prediction's schema issues); returns a
    rejection reason, or None when the event is fine."""
    if isinstance(record, Prediction):
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


def _registry_checks(
    state: IngestState, config: Any, valid: Valid, rejected: list[dict[str, Any]]
) -> Valid:
    """`valid` less the predictions and labels the registry rejects (added to `rejected`)."""
    kept = Valid(unpriced=valid.unpriced)
    for index, record, client_id in zip(
        valid.indexes, valid.records, valid.client_ids, strict=True
    ):
        why = _check(state, config, record)
        if why is None:
            kept.indexes.append(index)
            kept.records.append(record)
            kept.client_ids.append(client_id)
        else:
            rejected.append(rejection(index, record.KIND, why))
    return kept


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
    valid = None
    if content_type.split(";", 1)[0].strip().lower() in (*JSON_TYPES, ""):
        valid = validate_batch(body, received)  # a whole valid array in one pass, or None
    rejected: list[dict[str, Any]] = []
    if valid is None:
        items, rejected = decode_items(body, content_type)
        valid, invalid = validate(items, frozenset(r["index"] for r in rejected), received)
        rejected.extend(invalid)
    count = len(valid.records) + len(rejected)
    state = ingest_state(vigil)
    if valid.unpriced:
        _price(state, vigil.config, valid.unpriced)
    kinds = set(map(type, valid.records))
    if Prediction in kinds or Label in kinds:
        valid = _registry_checks(state, vigil.config, valid, rejected)
    records = valid.records
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
    duplicate = await commit_once(vigil, records, valid.client_ids)
    stored = records
    if True in duplicate:
        stored = [r for r, dup in zip(records, duplicate, strict=True) if not dup]
    count_accepted(vigil, stored)
    flagged = 0
    if Prediction in kinds:
        flagged = sum(1 for r in stored if isinstance(r, Prediction) and r.schema_issues)
    return {
        "accepted": len(records),
        "duplicates": len(records) - len(stored),
        "flagged": flagged,
        "rejected": rejected,
    }
