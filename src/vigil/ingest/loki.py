"""`POST /loki/api/v1/push`: the Loki push API, so promtail, Alloy or any Loki client ship logs.

Two encodings, as Loki takes them: JSON (`{"streams": [{"stream": {labels}, "values": [[ns, line,
{metadata}?]]}]}`, optionally gzip) and snappy-compressed protobuf (`application/x-protobuf`, the
default of promtail and Alloy). Stream labels and structured metadata become the line's attributes;
`level`/`detected_level`, `service_name`/`service`/`app`/`job` and `trace_id` fill the level,
service and trace link. Answers 204 once committed, like Loki.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import cramjam
import orjson
from fastapi import APIRouter, Depends, Request
from google.protobuf.message import DecodeError
from starlette.responses import Response

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.bodies import read_decoded_body, too_large
from vigil.ingest.loki_proto import PushRequest, parse_labels
from vigil.ingest.write import commit, count_accepted
from vigil.records import LogRecord

router = APIRouter(tags=["ingest"])

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LEVEL_LABELS = ("level", "detected_level", "severity", "lvl")
SERVICE_LABELS = ("service_name", "service", "app", "job")
TRACE_KEYS = ("trace_id", "traceID", "traceId")

_PUSH_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["streams"],
                    "properties": {"streams": {"type": "array", "items": {"type": "object"}}},
                }
            },
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def require_push_auth(request: Request) -> None:
    """The admin token as a bearer token, or as the password of HTTP Basic auth (any user name):
    the two ways promtail, Alloy and Loki client libraries send credentials."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise APIError(401, "unauthorized", "malformed basic credentials") from None
        expected: str = request.app.state.vigil.admin_token
        if not hmac.compare_digest(password.encode(), expected.encode()):
            raise APIError(401, "unauthorized", "invalid token")
        return
    await require_admin(request)


def _bad(message: str) -> APIError:
    return APIError(400, "invalid_push", message)


def _record(labels: dict[str, str], ts: datetime, line: str, meta: dict[str, str]) -> LogRecord:
    attrs = {**labels, **meta}
    level = next((attrs[k] for k in LEVEL_LABELS if attrs.get(k)), "info")
    service = next((labels[k] for k in SERVICE_LABELS if labels.get(k)), None)
    trace_id = next((attrs[k].lower() for k in TRACE_KEYS if attrs.get(k)), None)
    return LogRecord(
        ts=ts,
        level=level.lower(),
        service=service,
        body=line,
        trace_id=trace_id,
        span_id=meta.get("span_id") or meta.get("spanID"),
        attributes=attrs or None,
    )


def _from_json(body: bytes) -> list[LogRecord]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise APIError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    streams = payload.get("streams") if isinstance(payload, dict) else None
    if not isinstance(streams, list):
        raise _bad('body must be {"streams": [{"stream": {...}, "values": [[ns, line], ...]}]}')
    records: list[LogRecord] = []
    for i, stream in enumerate(streams):
        labels = stream.get("stream") if isinstance(stream, dict) else None
        values = stream.get("values") if isinstance(stream, dict) else None
        if not isinstance(labels, dict) or not isinstance(values, list):
            raise _bad(f"streams[{i}] needs a `stream` object and a `values` array")
        labels = {str(k): str(v) for k, v in labels.items()}
        for j, value in enumerate(values):
            where = f"streams[{i}].values[{j}]"
            if not isinstance(value, list) or len(value) not in (2, 3):
                raise _bad(f'{where} must be ["<unix ns>", "<line>"(, {{metadata}})]')
            ns, line = value[0], value[1]
            meta = value[2] if len(value) == 3 else {}
            if not isinstance(line, str) or not isinstance(meta, dict):
                raise _bad(f"{where}: the line must be a string and metadata an object")
            try:
                nanos = int(ns)
            except (TypeError, ValueError):
                raise _bad(f"{where}: timestamp must be unix nanoseconds, got {ns!r}") from None
            ts = _EPOCH + timedelta(microseconds=nanos // 1000)
            meta = {str(k): str(v) for k, v in meta.items()}
            records.append(_record(labels, ts, line, meta))
    return records


def _from_protobuf(body: bytes, limit: int) -> list[LogRecord]:
    try:
        if cramjam.snappy.decompress_raw_len(body) > limit:
            raise too_large(limit)
        raw = bytes(cramjam.snappy.decompress_raw(body))
        push = PushRequest.FromString(raw)
    except cramjam.DecompressionError as exc:
        raise _bad(f"body is not snappy-compressed (block format): {exc}") from None
    except DecodeError as exc:
        raise APIError(400, "invalid_protobuf", f"body is not a Loki PushRequest: {exc}") from None
    records: list[LogRecord] = []
    for i, stream in enumerate(push.streams):
        try:
            labels = parse_labels(stream.labels)
        except ValueError as exc:
            raise _bad(f"streams[{i}]: {exc}") from None
        for entry in stream.entries:
            ts = entry.timestamp.ToDatetime(tzinfo=UTC)
            meta = {pair.name: pair.value for pair in entry.structuredMetadata}
            records.append(_record(labels, ts, entry.line, meta))
    return records


@router.post(
    "/loki/api/v1/push",
    status_code=204,
    dependencies=[Depends(require_push_auth)],
    openapi_extra=_PUSH_DOC,
)
async def loki_push(request: Request) -> Response:
    """Loki push (JSON or snappy protobuf); 204 once the lines are committed."""
    vigil: Any = request.app.state.vigil
    limit = vigil.config.server.max_body_bytes
    body = await read_decoded_body(request, limit)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        records = _from_protobuf(body, limit)
    elif media in ("application/json", ""):
        records = _from_json(body)
    else:
        raise APIError(
            415,
            "unsupported_media_type",
            f"content-type {media!r} is not supported; Loki push takes application/json or "
            "application/x-protobuf (snappy)",
        )
    await commit(vigil, records)
    count_accepted(vigil, records)
    return Response(status_code=204)
