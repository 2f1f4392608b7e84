"""Structured logs: one JSON object per line on stderr, with secrets masked.

Masking happens in the formatter, after the message is rendered, so nothing can slip a bearer token
or an API key into a log line through an argument, an exception or uvicorn's own loggers.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_SECRET_PATTERNS = (
    # "Authorization: Bearer xyz", "authorization=Basic xyz", "'x-api-key': 'xyz'"
    re.compile(
        r"(?i)((?:authorization|x-api-key|api[_-]?key|admin[_-]?token|token|password|secret)"
        r"[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?)([^\s\"',;}]+)"
    ),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]{4,})"),
    # provider and Vigil key shapes anywhere in text
    re.compile(r"()\b((?:sk|vk|pk|rk|vigil)-[A-Za-z0-9_-]{8,})"),
)

MASK = "********"

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def mask_secrets(text: str) -> str:
    """Replace anything that looks like a credential in `text` with a mask."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class JSONFormatter(logging.Formatter):
    """Render a record as one masked JSON line: ts, level, logger, msg, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key != "color_message":
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(payload, default=str).decode()
        return mask_secrets(line)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, masked the same way."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route Vigil's and uvicorn's loggers to stderr through one masking formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
