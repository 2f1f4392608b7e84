"""OTLP/HTTP wire rules (OTLP spec, "OTLP/HTTP"): encodings, responses and errors.

- Requests are binary protobuf (`application/x-protobuf`) or JSON (`application/json`, ids in hex,
  enums as integers, unknown fields ignored), optionally gzip-compressed; the response uses the
  request's encoding.
- Success is 200 with an `Export*ServiceResponse`, whose `partial_success` counts the items that
  were rejected and says why, while the others are stored.
- Failures are a `google.rpc.Status` in the request's encoding: 400 for a malformed request (not
  retryable), 415 for an unknown content type, 413 for an oversized body, 401 without the admin
  token, and 503 with `Retry-After` when the write pipeline is over high-water (retryable).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from fastapi import Request
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2  # type: ignore[import-untyped]
from starlette.responses import Response

from vigil.api.errors import APIError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = (PROTOBUF, "application/protobuf", "application/vnd.google.protobuf")

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})

_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def encoding_of(request: Request) -> str:
    """`PROTOBUF` or `JSON` from the request's content type; 415 for anything else."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in _PROTOBUF_TYPES:
        return PROTOBUF
    if media == JSON:
        return JSON
    raise APIError(
        415,
        "unsupported_media_type",
        f"content-type {media or '(none)'!r} is not supported; OTLP/HTTP takes "
        f"{PROTOBUF} or {JSON}",
    )


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP JSON writes trace and span ids in hex; protobuf's JSON mapping wants base64."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    node[key] = ""  # invalid id: the item is rejected, the request is not
            elif isinstance(value, dict | list):
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _hex_ids_to_base64(item)
    return node


def parse(body: bytes, encoding: str, message_cls: type[Message]) -> Any:
    """The export request in `body`; 400 with the decoder's reason when it is malformed."""
    message = message_cls()
    try:
        if encoding == PROTOBUF:
            message.ParseFromString(body)
        else:
            data = orjson.loads(body)
            if not isinstance(data, dict):
                raise APIError(400, "invalid_json", "OTLP JSON body must be an object")
            json_format.ParseDict(
                _hex_ids_to_base64(data),
                message,
                ignore_unknown_fields=True,
                max_recursion_depth=64,
            )
    except DecodeError as exc:
        raise APIError(400, "invalid_protobuf", f"body is not a valid protobuf: {exc}") from None
    except orjson.JSONDecodeError as exc:
        raise APIError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    except (json_format.ParseError, binascii.Error, ValueError, TypeError) as exc:
        raise APIError(400, "invalid_request", f"body is not a valid OTLP message: {exc}") from None
    return message


def respond(message: Message, encoding: str) -> Response:
    if encoding == PROTOBUF:
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    body = json_format.MessageToJson(message, indent=None)
    return Response(body.encode(), media_type=JSON)


def error_response(exc: APIError, encoding: str) -> Response:
    """An APIError as the OTLP spec's `google.rpc.Status` body."""
    code = _GRPC_CODES.get(exc.status, code_pb2.UNKNOWN)
    status = status_pb2.Status(code=code, message=exc.message)
    headers = dict(exc.headers or {})
    if encoding == PROTOBUF:
        return Response(
            status.SerializeToString(), exc.status, headers=headers, media_type=PROTOBUF
        )
    body = orjson.dumps({"code": code, "message": exc.message})
    return Response(body, exc.status, headers=headers, media_type=JSON)
