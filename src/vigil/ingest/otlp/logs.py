"""OTLP `ExportLogsServiceRequest` -> `LogRecord`s, linked to their trace when they carry one."""

from __future__ import annotations

from typing import Any

import orjson

from vigil.ingest.otlp.convert import any_value, attributes, hex_id, service_name, timestamp
from vigil.records import LogRecord

_LEVELS = ((4, "trace"), (8, "debug"), (12, "info"), (16, "warn"), (20, "error"), (24, "fatal"))


def level(severity_number: int, severity_text: str) -> str:
    """`severity_text` when the sender set one, else the OTel severity number's range name."""
    if severity_text:
        return severity_text.lower()
    for upper, name in _LEVELS:
        if 0 < severity_number <= upper:
            return name
    return "info"


def body_text(value: Any) -> str:
    body = any_value(value)
    if body is None:
        return ""
    return body if isinstance(body, str) else orjson.dumps(body).decode()


def convert(request: Any) -> tuple[list[LogRecord], int, str]:
    records: list[LogRecord] = []
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        service = service_name(resource)
        for scope_logs in resource_logs.scope_logs:
            for raw in scope_logs.log_records:
                nanos = raw.time_unix_nano or raw.observed_time_unix_nano
                attrs = {**resource, **attributes(raw.attributes)}
                kwargs: dict[str, Any] = {}
                if nanos:
                    kwargs["ts"] = timestamp(nanos)
                records.append(
                    LogRecord(
                        level=level(raw.severity_number, raw.severity_text),
                        service=service,
                        body=body_text(raw.body),
                        trace_id=hex_id(raw.trace_id, 16),
                        span_id=hex_id(raw.span_id, 8),
                        attributes=attrs or None,
                        **kwargs,
                    )
                )
    return records, 0, ""
