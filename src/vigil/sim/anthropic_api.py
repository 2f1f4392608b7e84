"""The simulated Anthropic Messages API: `POST /v1/messages` (stream and not), `GET /v1/models`.

Follows Anthropic's API reference: `x-api-key` and `anthropic-version` headers, the `message`
object, the named SSE event sequence (message_start, content_block_start, ping,
content_block_delta..., content_block_stop, message_delta, message_stop), `event: error` frames
mid-stream, `{"type": "error", "error": {...}}` bodies and `anthropic-ratelimit-*` headers.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from vigil.sim.behavior import Limits, Plan, SimState, injected_limits
from vigil.sim.behavior import wait_until_closed as _hold
from vigil.sim.completion import CACHE_MIN_TOKENS, Answer, compose, last_user_text, pick_tool
from vigil.sim.profiles import ModelProfile
from vigil.sim.sse import SSE_HEADERS, PacedWriter, abort, event_frame
from vigil.sim.tokens import content_text, count_chat_tokens, count_tokens, request_digest

STATE_KEY = web.AppKey("sim_state", SimState)
_NOT_HASHED = frozenset({"stream", "metadata"})
_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_MESSAGES = {500: "Internal server error", 503: "Service unavailable", 529: "Overloaded"}


def _request_id() -> str:
    return "req_" + os.urandom(12).hex()


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error in Anthropic's shape `{"type": "error", "error": {type, message}}`."""
    body = {
        "type": "error",
        "error": {"type": _ERRORS.get(status, "api_error"), "message": message},
    }
    rid = _request_id()
    all_headers = {"request-id": rid, "x-request-id": rid, **(headers or {})}
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=all_headers
    )


def _reset_at(seconds: float) -> str:
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def limit_headers(limits: Limits) -> dict[str, str]:
    rid = _request_id()
    return {
        "request-id": rid,
        "x-request-id": rid,
        "anthropic-ratelimit-requests-limit": str(limits.limit_requests),
        "anthropic-ratelimit-requests-remaining": str(limits.remaining_requests),
        "anthropic-ratelimit-requests-reset": _reset_at(limits.reset_requests_s),
        "anthropic-ratelimit-tokens-limit": str(limits.limit_tokens),
        "anthropic-ratelimit-tokens-remaining": str(limits.remaining_tokens),
        "anthropic-ratelimit-tokens-reset": _reset_at(limits.reset_tokens_s),
    }


def rate_limited(limits: Limits) -> web.Response:
    headers = limit_headers(limits)
    headers["retry-after"] = str(max(int(limits.retry_after_s + 0.999), 1))
    return error(429, "Number of requests has exceeded your rate limit.", headers)


def _api_key(request: web.Request) -> str:
    """`x-api-key`, or a bearer token (newer SDKs send `Authorization: Bearer` for API keys)."""
    key = request.headers.get("x-api-key", "").strip()
    if not key:
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    return key


def _validate(request: web.Request, state: SimState, body: Any) -> web.Response | None:
    key = _api_key(request)
    if not key:
        return error(401, "x-api-key header is required")
    if state.api_key is not None and key != state.api_key:
        return error(401, "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        return error(400, "anthropic-version: header is required")
    if not isinstance(body, dict):
        return error(400, "The request body is not valid JSON.")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return error(400, f"{name}: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return error(400, "max_tokens: Input should be a valid integer greater than 0")
    if not isinstance(body["messages"], list) or not body["messages"]:
        return error(400, "messages: at least one message is required")
    return None


def _tools(body: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], str | None, bool]:
    tools = [
        (t["name"], t.get("input_schema") or {})
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]
    choice = body.get("tool_choice") or {}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "none":
        return [], None, False
    if kind == "tool" and isinstance(choice.get("name"), str):
        return tools, choice["name"], False
    return tools, None, kind == "any"


def _has_cache_control(body: dict[str, Any]) -> bool:
    blocks: list[Any] = []
    for holder in (
        body.get("system"),
        *[m.get("content") for m in body["messages"] if isinstance(m, dict)],
    ):
        if isinstance(holder, list):
            blocks.extend(holder)
    return any(isinstance(b, dict) and "cache_control" in b for b in blocks)


def _usage(answer: Answer, cacheable: bool) -> dict[str, int]:
    read = answer.cached_tokens
    created = 0
    if cacheable and not read and answer.prompt_tokens >= CACHE_MIN_TOKENS:
        created = (answer.prompt_tokens // 128) * 128
    return {
        "input_tokens": answer.prompt_tokens - read - created,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
        "output_tokens": answer.completion_tokens,
    }


def _stop_reason(answer: Answer) -> str:
    if answer.truncated:
        return "max_tokens"
    return "tool_use" if answer.tool is not None else "end_turn"


async def messages(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    try:
        body: Any = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        body = None
    invalid = _validate(request, state, body)
    if invalid is not None:
        return invalid
    model = state.profile.get(str(body["model"]), "anthropic")
    if model is None:
        return error(404, f"model: {body['model']}")
    stream = bool(body.get("stream"))
    plan = state.plan(model, request.headers, stream)
    if plan.fault == "503" and "x-sim-fail" not in request.headers:
        plan.fault = "529"  # Anthropic says "overloaded" where OpenAI says 503
    tools, forced, any_tool = _tools(body)
    tool = pick_tool(tools, forced, any_tool, last_user_text(body["messages"]))
    prompt = count_chat_tokens(body["messages"]) + count_tokens(content_text(body.get("system")))
    if body.get("tools"):
        prompt += count_tokens(orjson.dumps(body["tools"]).decode())
    cacheable = _has_cache_control(body)
    answer = compose(
        digest=request_digest(body, _NOT_HASHED),
        model=model,
        prompt_tokens=prompt,
        max_tokens=body["max_tokens"],
        forced_tokens=plan.output_tokens,
        tool=tool,
        cacheable_prefix=cacheable,
    )
    limits = state.limits(model, answer.prompt_tokens + answer.completion_tokens)
    if limits.retry_after_s > 0:
        return rate_limited(limits)
    if plan.fault == "429":
        return rate_limited(injected_limits(model, answer.prompt_tokens))
    if plan.fault == "timeout":
        await _hold(request.transport)
        return web.Response(status=504)
    if plan.fault in ("500", "503", "529"):
        status = int(plan.fault)
        return error(status, _MESSAGES[status])
    headers = limit_headers(limits)
    message_id = "msg_" + os.urandom(12).hex()
    if stream:
        return await _stream(request, model, answer, plan, headers, message_id, cacheable)
    delay = plan.ttft_s + len(answer.pieces) * plan.token_s
    if plan.fault == "slow":
        delay += plan.gap_s
    if delay > 0:
        await asyncio.sleep(delay)
    if plan.fault == "drop":
        abort(request)
        return web.Response(status=502)
    if answer.tool is not None:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": "toolu_" + answer.tool_id,
            "name": answer.tool.name,
            "input": orjson.loads(answer.text) if not answer.truncated else {},
        }
    else:
        block = {"type": "text", "text": answer.text}
    payload = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model.name,
        "content": [block],
        "stop_reason": _stop_reason(answer),
        "stop_sequence": None,
        "usage": _usage(answer, cacheable),
    }
    return web.Response(
        body=orjson.dumps(payload), content_type="application/json", headers=headers
    )


async def _stream(
    request: web.Request,
    model: ModelProfile,
    answer: Answer,
    plan: Plan,
    headers: dict[str, str],
    message_id: str,
    cacheable: bool,
) -> web.StreamResponse:
    response = web.StreamResponse(headers={**headers, **SSE_HEADERS})
    await response.prepare(request)
    writer = PacedWriter(response)

    def frame(event: str, payload: dict[str, Any]) -> bytes:
        return event_frame(event.encode(), orjson.dumps({"type": event, **payload}))

    usage = _usage(answer, cacheable)
    start_usage = {**usage, "output_tokens": 1}
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model.name,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    if answer.tool is not None:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": "toolu_" + answer.tool_id,
            "name": answer.tool.name,
            "input": {},
        }
    else:
        block = {"type": "text", "text": ""}
    await writer.send(frame("message_start", {"message": message}))
    await writer.send(frame("content_block_start", {"index": 0, "content_block": block}))
    await writer.send(frame("ping", {}))
    count = len(answer.pieces)
    cut_at = count // 2 if plan.fault in ("drop", "midstream") else -1
    stalls = {count // 3, (2 * count) // 3} if plan.fault == "slow" else set()
    for i, piece in enumerate(answer.pieces):
        if i == cut_at:
            await writer.flush()
            if plan.fault == "drop":
                abort(request)
                return response
            err = {"error": {"type": "overloaded_error", "message": "Overloaded"}}
            await response.write(frame("error", err))
            await response.write_eof()
            return response
        if i in stalls:
            writer.shift_s += plan.gap_s
        if answer.tool is not None:
            delta = {"type": "input_json_delta", "partial_json": piece}
        else:
            delta = {"type": "text_delta", "text": piece}
        await writer.send(
            frame("content_block_delta", {"index": 0, "delta": delta}),
            plan.ttft_s + i * plan.token_s,
        )
    end = plan.ttft_s + count * plan.token_s
    await writer.send(frame("content_block_stop", {"index": 0}), end)
    stop = {"stop_reason": _stop_reason(answer), "stop_sequence": None}
    await writer.send(
        frame("message_delta", {"delta": stop, "usage": {"output_tokens": usage["output_tokens"]}})
    )
    await writer.send(frame("message_stop", {}))
    await writer.flush()
    await response.write_eof()
    return response


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if not _api_key(request):
        return error(401, "x-api-key header is required")
    data = [
        {
            "type": "model",
            "id": m.name,
            "display_name": m.name.replace("-", " ").title(),
            "created_at": "2024-10-22T00:00:00Z",
        }
        for m in state.profile.models.values()
        if m.provider == "anthropic"
    ]
    payload = {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


def create_app(state: SimState) -> web.Application:
    """The Anthropic-compatible app; the `anthropic` SDK's base URL is `http://host:port`."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/v1/models", list_models)
    return app
