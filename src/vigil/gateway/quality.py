"""LLM quality facts of one answer, recorded in the call's `metadata` for the LLM-quality monitor.

Only what the gateway sees anyway: the finish reason, an empty answer, a refusal (OpenAI's
`message.refusal` or a content filter), and whether JSON was asked for and the answer parses.
Prompts and answers themselves are kept only when capture is on (`vigil.gateway.capture`).
"""

from __future__ import annotations

from typing import Any

import orjson

JSON_FORMATS = frozenset({"json_object", "json_schema"})


def json_requested(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in JSON_FORMATS


def answer_metadata(
    body: dict[str, Any], message: dict[str, Any] | None, finish_reason: str | None
) -> dict[str, Any]:
    """`metadata` for a finished non-streamed answer (`message` is the first choice's)."""
    meta: dict[str, Any] = {}
    if finish_reason:
        meta["finish_reason"] = finish_reason
    if message is None:
        return meta
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    meta["empty_response"] = not text.strip() and not message.get("tool_calls")
    meta["refusal"] = bool(message.get("refusal")) or finish_reason == "content_filter"
    if json_requested(body):
        meta["json_requested"] = True
        try:
            orjson.loads(text)
            meta["json_valid"] = True
        except orjson.JSONDecodeError:
            meta["json_valid"] = False
    return meta


def stream_metadata(
    body: dict[str, Any], finish_reason: str | None, output_tokens: int
) -> dict[str, Any]:
    """`metadata` for a relayed stream whose text is not kept (capture off): what usage tells."""
    meta: dict[str, Any] = {"empty_response": output_tokens == 0}
    if finish_reason:
        meta["finish_reason"] = finish_reason
        meta["refusal"] = finish_reason == "content_filter"
    if json_requested(body):
        meta["json_requested"] = True
    return meta
