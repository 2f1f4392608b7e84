"""The typed records every stage exchanges (design.md §1).

Stages never pass dicts to each other: the gateway emits a `CallRecord`, ingest validates JSON into
these records, the pipeline batches them and the store writes one table per record type. They are
plain slotted dataclasses so the gateway can build one per request for a few hundred nanoseconds;
validation happens once, at the ingest boundary (`vigil.ingest`), with pydantic over these same
classes.

Field order is column order in the store (see `vigil.store.migrations`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeAlias

from pydantic import ConfigDict

JSONValue: TypeAlias = Any
"""Free-form JSON (features, attributes, metadata); stored as a JSON text column."""


_ids = random.Random()  # seeded from os.urandom once; fork-safe enough for a single process
_VALIDATION = ConfigDict(extra="forbid")
"""How pydantic validates these dataclasses at the ingest boundary: unknown fields are errors."""


def new_id() -> str:
    """A random 128-bit id (hex) for records that arrive without one.

    Ids need uniqueness, not secrecy: Python's PRNG gives that without a system call per id
    (os.urandom was 6% of the gateway's time under load; see docs/performance.md).
    """
    return f"{_ids.getrandbits(128):032x}"


def new_ids(n: int) -> list[str]:
    """`n` ids like `new_id`'s, drawn at once for a batch (about a sixth of the time per id)."""
    text = _ids.randbytes(16 * n).hex()
    return [text[i : i + 32] for i in range(0, 32 * n, 32)]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class CallRecord:
    """One LLM call: from the gateway, from `llm_call` ingest events or from GenAI OTLP spans."""

    TABLE: ClassVar[str] = "llm_calls"
    KIND: ClassVar[str] = "llm_call"
    __pydantic_config__ = _VALIDATION

    id: str = field(default_factory=new_id)
    ts: datetime = field(default_factory=utcnow)
    """When the call started (UTC)."""
    model: str = ""
    """The model name the client asked for."""
    provider: str = ""
    deployment: str = ""
    """The upstream deployment that answered (after routing, retries and fallbacks)."""
    source: str = "gateway"
    """gateway | ingest | otlp"""
    key_id: str | None = None
    team: str | None = None
    user: str | None = None
    status_code: int = 200
    error_type: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost_usd: float = 0.0
    duration_s: float = 0.0
    ttft_s: float | None = None
    stream: bool = False
    retries: int = 0
    fallback_from: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    request_id: str | None = None
    metadata: JSONValue = None
    request_body: str | None = None
    """The request as sent (JSON text), kept only when capture is on; cut to `capture.max_bytes`."""
    response_body: str | None = None
    """The answer (a stream rebuilt as one `chat.completion`), kept like `request_body`."""


@dataclass(slots=True)
class Prediction:
    """One prediction of a classic ML model; labels join it later by `id`."""

    TABLE: ClassVar[str] = "predictions"
    KIND: ClassVar[str] = "prediction"
    __pydantic_config__ = _VALIDATION

    id: str = field(default_factory=new_id)
    ts: datetime = field(default_factory=utcnow)
    model: str = ""
    model_version: str | None = None
    features: JSONValue = None
    prediction: JSONValue = None
    score: float | None = None
    probabilities: JSONValue = None
    schema_issues: str | None = None
    """JSON text of the ways `features` break the model's declared schema; set by ingest."""


@dataclass(slots=True)
class Label:
    """Ground truth for a prediction; may arrive days later and out of order."""

    TABLE: ClassVar[str] = "labels"
    KIND: ClassVar[str] = "label"
    __pydantic_config__ = _VALIDATION

    id: str = field(default_factory=new_id)
    ts: datetime = field(default_factory=utcnow)
    prediction_id: str = ""
    model: str | None = None
    label: JSONValue = None


@dataclass(slots=True)
class Feedback:
    """A user's score or comment on an LLM call or trace."""

    TABLE: ClassVar[str] = "feedback"
    KIND: ClassVar[str] = "feedback"
    __pydantic_config__ = _VALIDATION

    id: str = field(default_factory=new_id)
    ts: datetime = field(default_factory=utcnow)
    call_id: str | None = None
    trace_id: str | None = None
    score: float | None = None
    comment: str | None = None
    user: str | None = None


@dataclass(slots=True)
class Span:
    """One span of a trace (OTLP); GenAI attributes follow the `gen_ai.*` conventions."""

    TABLE: ClassVar[str] = "spans"
    KIND: ClassVar[str] = "span"
    __pydantic_config__ = _VALIDATION

    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str | None = None
    name: str = ""
    kind: str = "internal"
    service: str | None = None
    ts: datetime = field(default_factory=utcnow)
    """Span start (UTC)."""
    duration_s: float = 0.0
    status_code: str = "unset"
    status_message: str | None = None
    attributes: JSONValue = None
    events: JSONValue = None
    resource: JSONValue = None


@dataclass(slots=True)
class LogRecord:
    """One log line (OTLP logs or Loki push); links to its trace when it has one."""

    TABLE: ClassVar[str] = "logs"
    KIND: ClassVar[str] = "log"
    __pydantic_config__ = _VALIDATION

    id: str = field(default_factory=new_id)
    ts: datetime = field(default_factory=utcnow)
    level: str = "info"
    service: str | None = None
    body: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    attributes: JSONValue = None


@dataclass(slots=True)
class BusinessMetric:
    """A business metric point (click-through, conversion...) monitored like any other signal."""

    TABLE: ClassVar[str] = "business_metrics"
    KIND: ClassVar[str] = "metric"
    __pydantic_config__ = _VALIDATION

    id: str = field(default_factory=new_id)
    ts: datetime = field(default_factory=utcnow)
    name: str = ""
    value: float = 0.0
    model: str | None = None
    labels: JSONValue = None


Record: TypeAlias = CallRecord | Prediction | Label | Feedback | Span | LogRecord | BusinessMetric

RECORD_TYPES: tuple[type[Record], ...] = (
    CallRecord,
    Prediction,
    Label,
    Feedback,
    Span,
    LogRecord,
    BusinessMetric,
)

JSON_COLUMNS: frozenset[str] = frozenset(
    {
        "metadata",
        "features",
        "prediction",
        "probabilities",
        "label",
        "attributes",
        "events",
        "resource",
        "labels",
    }
)
"""Fields holding free-form JSON; the store keeps them as JSON text."""


def columns(record_type: type[Record]) -> tuple[str, ...]:
    """Column names of a record type, in store order."""
    return tuple(f.name for f in fields(record_type))
