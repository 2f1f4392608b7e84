"""Query parameters shared by the trace and log APIs: time bounds and keyset cursors.

Keyset pagination (`next_cursor` = the sort key of the last row) instead of offsets, so paging
through logs that keep arriving neither skips nor repeats rows, and deep pages cost no more than
the first one.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import orjson

from vigil.api.errors import APIError
from vigil.config.durations import parse_duration


def bad_parameter(param: str, message: str, value: Any = None) -> APIError:
    return APIError(400, "invalid_parameter", message, {"param": param, "value": value})


def parse_time(param: str, value: str | None) -> datetime | None:
    """ISO 8601 (naive means UTC), or a duration meaning that long before now (`15m`, `24h`);
    returned as naive UTC, the store's timestamp type."""
    if value is None or value == "":
        return None
    try:
        return (datetime.now(UTC) - parse_duration(value)).replace(tzinfo=None)
    except ValueError:
        pass
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_parameter(
            param, f"{param} must be an ISO 8601 time or a duration before now (24h)", value
        ) from None
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def parse_seconds(param: str, value: str | None) -> float | None:
    """Seconds as a number (`1.5`) or a duration (`250ms`, `2s`)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_duration(value).total_seconds()
    except ValueError:
        raise bad_parameter(
            param, f"{param} must be seconds or a duration (250ms)", value
        ) from None


def encode_cursor(ts: datetime, key: str) -> str:
    raw = orjson.dumps([ts.isoformat(), key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        ts_text, key = orjson.loads(raw)
        return datetime.fromisoformat(ts_text), str(key)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise bad_parameter("cursor", "cursor is not one this API returned", value) from None


def json_value(text: Any) -> Any:
    """A JSON column as Python (DuckDB returns JSON columns as text)."""
    if text is None or not isinstance(text, str):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def iso(ts: datetime) -> str:
    """A stored (naive UTC) timestamp as ISO 8601 with its zone."""
    return ts.replace(tzinfo=UTC).isoformat()
