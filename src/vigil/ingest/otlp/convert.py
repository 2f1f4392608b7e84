"""OTLP common types to plain Python: attributes, ids, timestamps."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def any_value(value: Any) -> Any:
    """An `AnyValue` as JSON-ready Python (bytes as base64 text)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in pairs}


def timestamp(unix_nano: int) -> datetime:
    """OTLP's nanoseconds since the epoch as an aware UTC datetime (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=unix_nano // 1000)


def hex_id(raw: bytes, size: int) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex; None when absent or invalid."""
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()


def service_name(resource_attrs: dict[str, Any]) -> str | None:
    name = resource_attrs.get("service.name")
    return str(name) if name is not None else None
