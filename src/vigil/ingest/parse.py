"""From a request body to validated records: JSON array or NDJSON in, records and rejections out.

Validation is per event (a bad one is rejected with its index and reason, the others go on), but
done a kind at a time with one `list[...]` validator: pydantic validates a list of 1,000 events in
about half the time of 1,000 single calls. Only a group holding a bad event is re-validated one by
one, to find which.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from vigil.api.errors import APIError
from vigil.records import BusinessMetric, CallRecord, Feedback, Label, Prediction, Record

EVENT_TYPES: dict[str, type[Record]] = {
    t.KIND: t for t in (CallRecord, Prediction, Label, Feedback, BusinessMetric)
}
_ONE: dict[str, TypeAdapter[Any]] = {kind: TypeAdapter(t) for kind, t in EVENT_TYPES.items()}
_MANY: dict[str, TypeAdapter[Any]] = {
    kind: TypeAdapter(list[t])  # type: ignore[valid-type]
    for kind, t in EVENT_TYPES.items()
}
SERVER_FIELDS = frozenset({"schema_issues"})
"""Fields Vigil computes itself; a client's value is ignored."""


@dataclass(slots=True)
class Valid:
    """The events that passed validation, in batch order, one list per property."""

    indexes: list[int] = field(default_factory=list)
    """Each record's position in the batch."""
    records: list[Record] = field(default_factory=list)
    client_ids: list[bool] = field(default_factory=list)
    """Whether the event carried its own id (only those can repeat an earlier one)."""
    unpriced: list[CallRecord] = field(default_factory=list)
    """LLM calls that came without `cost_usd`, to be priced from the price table."""

    def add(self, index: int, record: Record, given: Container[str]) -> None:
        """One valid event, whose fields were `given` (the server fills some of the others)."""
        self.indexes.append(index)
        self.records.append(record)
        self.client_ids.append("id" in given)
        if isinstance(record, CallRecord):
            if "source" not in given:
                record.source = "ingest"
            if "cost_usd" not in given:
                self.unpriced.append(record)


JSON_TYPES = ("application/json", "text/json")
NDJSON_TYPES = (
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/jsonlines",
)


def reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def rejection(index: int, kind: Any, why: str) -> dict[str, Any]:
    return {"index": index, "kind": kind if isinstance(kind, str) else None, "reason": why}


def decode_items(body: bytes, content_type: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """The raw events of a body, and the NDJSON lines that were not JSON (as rejections)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in NDJSON_TYPES:
        return _ndjson(body)
    if media and media not in JSON_TYPES:
        raise APIError(
            415,
            "unsupported_media_type",
            f"content-type {media!r} is not supported; send application/json (an array of "
            "events) or application/x-ndjson (one event per line)",
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if not media and b"\n" in body.strip():
            return _ndjson(body)  # no content type: accept NDJSON by its shape
        raise APIError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        payload = payload["events"]
    if not isinstance(payload, list):
        raise APIError(
            400, "invalid_request", 'body must be a JSON array of events or {"events": [...]}'
        )
    return payload, []


def _ndjson(body: bytes) -> tuple[list[Any], list[dict[str, Any]]]:
    items: list[Any] = []
    rejected: list[dict[str, Any]] = []
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            rejected.append(rejection(len(items), None, f"line is not valid JSON: {exc}"))
            items.append(None)  # keeps indexes equal to event positions
    return items, rejected


def validate(
    items: list[Any], skip: frozenset[int] = frozenset(), received: datetime | None = None
) -> tuple[Valid, list[dict[str, Any]]]:
    """Validate events one by one; returns the good ones, and rejections.

    `received` (default: now) is the time given to events that carry none.
    """
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    rejected: list[dict[str, Any]] = []
    received = received or datetime.now(UTC)
    for index, item in enumerate(items):
        if index in skip:
            continue
        if not isinstance(item, dict):
            rejected.append(rejection(index, None, "event must be a JSON object"))
            continue
        fields = dict(item)
        kind = fields.pop("kind", None)
        if not isinstance(kind, str) or kind not in EVENT_TYPES:
            why = f"kind must be one of {sorted(EVENT_TYPES)}, got {kind!r}"
            rejected.append(rejection(index, kind, why))
            continue
        for name in SERVER_FIELDS & fields.keys():
            del fields[name]
        if "ts" not in fields:
            fields["ts"] = received  # an event without a time happened when it arrived
        groups[kind].append((index, fields))
    good: list[tuple[int, dict[str, Any], Record]] = []
    for kind, members in groups.items():
        try:
            records = _MANY[kind].validate_python([fields for _, fields in members])
        except ValidationError:
            for index, fields in members:
                try:
                    good.append((index, fields, _ONE[kind].validate_python(fields)))
                except ValidationError as exc:
                    rejected.append(rejection(index, kind, reason(exc)))
        else:
            good.extend(
                (index, fields, record)
                for (index, fields), record in zip(members, records, strict=True)
            )
    valid = Valid()
    for index, fields, record in sorted(good, key=lambda event: event[0]):
        valid.add(index, record, fields)
    return valid, rejected
