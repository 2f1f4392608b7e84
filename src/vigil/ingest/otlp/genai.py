"""Spans that follow the OpenTelemetry GenAI conventions (`gen_ai.*`) as LLM calls.

An app instrumented with any OTel GenAI instrumentation (OpenLLMetry, OpenInference exporters,
the `opentelemetry-instrumentation-openai-v2` package...) then shows up in Vigil's LLM views and
metrics without going through the gateway. Both the current attribute names and the older ones
(`gen_ai.system`, `gen_ai.usage.prompt_tokens`) are read.
"""

from __future__ import annotations

from typing import Any

from vigil.records import CallRecord, Span

NOT_CALLS = frozenset({"execute_tool", "invoke_agent", "create_agent"})
"""Operations that name a model but are not one model call (their child spans are)."""


def _int(attrs: dict[str, Any], *names: str) -> int:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(int(value), 0)
    return 0


def _str(attrs: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return str(value)
    return None


def is_llm_call(attrs: dict[str, Any]) -> bool:
    if not any(key.startswith("gen_ai.") for key in attrs):
        return False
    if attrs.get("gen_ai.operation.name") in NOT_CALLS:
        return False
    return _str(attrs, "gen_ai.request.model", "gen_ai.response.model") is not None


def to_call(span: Span, attrs: dict[str, Any]) -> CallRecord:
    """The LLM call a GenAI span describes; cost is left at 0 for the caller to price."""
    model = _str(attrs, "gen_ai.request.model", "gen_ai.response.model") or ""
    failed = span.status_code == "error" or "error.type" in attrs
    status = _int(attrs, "http.response.status_code") or (500 if failed else 200)
    metadata: dict[str, Any] = {
        k: attrs[k]
        for k in ("gen_ai.operation.name", "gen_ai.response.finish_reasons", "server.address")
        if k in attrs
    }
    metadata["span_name"] = span.name
    if span.service:
        metadata["service"] = span.service
    return CallRecord(
        id=span.trace_id + span.span_id,  # stable: a re-sent span is recognized as a duplicate
        ts=span.ts,
        model=model,
        provider=_str(attrs, "gen_ai.provider.name", "gen_ai.system") or "",
        deployment=_str(attrs, "gen_ai.response.model") or model,
        source="otlp",
        user=_str(attrs, "user.id", "enduser.id", "gen_ai.user.id"),
        status_code=status,
        error_type=_str(attrs, "error.type") if failed else None,
        input_tokens=_int(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        output_tokens=_int(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        cached_input_tokens=_int(
            attrs, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cached_input_tokens"
        ),
        duration_s=span.duration_s,
        stream=bool(attrs.get("gen_ai.request.stream", False)),
        trace_id=span.trace_id,
        span_id=span.span_id,
        request_id=_str(attrs, "gen_ai.response.id"),
        metadata=metadata or None,
    )
