"""The simulated OpenAI API: chat completions (stream and not), embeddings, models.

Bodies, SSE framing, error shapes and rate-limit headers follow OpenAI's API reference, because the
official `openai` SDK and Vigil's gateway are the clients. The non-stream path is kept lean (no
middleware, orjson, cached answers): the simulator is also the upstream of gateway benchmarks.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import os
import re
import time
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from vigil.sim.behavior import Plan, SimState, injected_limits
from vigil.sim.completion import Answer, compose, last_user_text, pick_tool
from vigil.sim.openai_wire import (
    ERRORS,
    STATE_KEY,
    check_auth,
    error,
    fault_response,
    json_body,
    limit_headers,
    lookup_model,
    rate_limited,
)
from vigil.sim.profiles import ModelProfile
from vigil.sim.sse import SSE_HEADERS, PacedWriter, abort, data_frame
from vigil.sim.tokens import count_chat_tokens, count_tokens, request_digest

_NOT_HASHED = frozenset({"stream", "stream_options", "user", "metadata", "store"})


def _tool_for(body: dict[str, Any]) -> tuple[Any, ...]:
    """(tools as (name, schema) pairs, forced name, any-tool flag) from a chat request."""
    tools = []
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tools.append((function["name"], function.get("parameters") or {}))
    choice = body.get("tool_choice")
    if choice == "none":
        return [], None, False
    if isinstance(choice, dict):
        forced = (choice.get("function") or {}).get("name")
        return tools, forced if isinstance(forced, str) else None, False
    return tools, None, choice == "required"


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": answer.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": answer.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish(answer: Answer) -> str:
    if answer.truncated:
        return "length"
    return "tool_calls" if answer.tool is not None else "stop"


def _tool_call(answer: Answer, arguments: str) -> dict[str, Any]:
    assert answer.tool is not None
    return {
        "id": "call_" + answer.tool_id,
        "type": "function",
        "function": {"name": answer.tool.name, "arguments": arguments},
    }


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    denied = check_auth(request, state)
    if denied is not None:
        return denied
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    model = lookup_model(state, body, "chat")
    if isinstance(model, web.Response):
        return model
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error(
            400,
            "'messages' is a required property and must be a non-empty array.",
            param="messages",
        )
    if body.get("n", 1) not in (1, None):
        return error(400, "Only n=1 is supported by the simulator.", param="n")
    stream = bool(body.get("stream"))
    plan = state.plan(model, request.headers, stream)
    tools, forced, any_tool = _tool_for(body)
    tool = pick_tool(tools, forced, any_tool, last_user_text(messages))
    prompt_tokens = count_chat_tokens(messages)
    if body.get("tools"):
        prompt_tokens += count_tokens(orjson.dumps(body["tools"]).decode())
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    answer = compose(
        digest=request_digest(body, _NOT_HASHED),
        model=model,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        forced_tokens=plan.output_tokens,
        tool=tool,
        cacheable_prefix=True,
    )
    limits = state.limits(model, answer.prompt_tokens + answer.completion_tokens)
    if limits.retry_after_s > 0:
        return rate_limited(model.name, limits)
    if plan.fault == "429":
        return rate_limited(model.name, injected_limits(model, answer.prompt_tokens))
    if plan.fault in ("500", "503", "529", "timeout"):
        return await fault_response(request, plan)
    headers = limit_headers(limits)
    if stream:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await _stream(request, model.name, answer, plan, headers, include_usage)
    delay = plan.ttft_s + len(answer.pieces) * plan.token_s
    if plan.fault == "slow":
        delay += plan.gap_s
    if delay > 0:
        await asyncio.sleep(delay)
    if plan.fault == "drop":
        abort(request)
        return web.Response(status=502)
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    if answer.tool is not None:
        message["tool_calls"] = [_tool_call(answer, answer.text)]
    else:
        message["content"] = answer.text
    payload = {
        "id": "chatcmpl-" + os.urandom(12).hex(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model.name,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(answer)}
        ],
        "usage": _usage(answer),
        "service_tier": "default",
        "system_fingerprint": "fp_sim",
    }
    return web.Response(
        body=orjson.dumps(payload), content_type="application/json", headers=headers
    )


async def _stream(
    request: web.Request,
    model: str,
    answer: Answer,
    plan: Plan,
    headers: dict[str, str],
    include_usage: bool,
) -> web.StreamResponse:
    response = web.StreamResponse(headers={**headers, **SSE_HEADERS})
    await response.prepare(request)
    base: dict[str, Any] = {
        "id": "chatcmpl-" + os.urandom(12).hex(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_sim",
        "choices": [],
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return data_frame(orjson.dumps({**base, "choices": [choice]}))

    writer = PacedWriter(response)
    first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    if answer.tool is not None:
        first["content"] = None
        first["tool_calls"] = [{"index": 0, **_tool_call(answer, "")}]
    await writer.send(chunk(first), plan.ttft_s)
    count = len(answer.pieces)
    cut_at = count // 2 if plan.fault in ("drop", "midstream") else -1
    stalls = {count // 3, (2 * count) // 3} if plan.fault == "slow" else set()
    for i, piece in enumerate(answer.pieces):
        if i == cut_at:
            await writer.flush()
            if plan.fault == "drop":
                abort(request)
                return response
            err = {"message": ERRORS[500][0], "type": "server_error", "param": None, "code": None}
            await response.write(data_frame(orjson.dumps({"error": err})))
            await response.write_eof()
            return response
        if i in stalls:
            writer.shift_s += plan.gap_s
        if answer.tool is not None:
            delta: dict[str, Any] = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        else:
            delta = {"content": piece}
        await writer.send(chunk(delta), plan.ttft_s + i * plan.token_s)
    await writer.send(chunk({}, _finish(answer)), plan.ttft_s + count * plan.token_s)
    if include_usage:
        await writer.send(data_frame(orjson.dumps({**base, "usage": _usage(answer)})))
    await writer.send(b"data: [DONE]\n\n")
    await writer.flush()
    await response.write_eof()
    return response


async def embeddings(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    denied = check_auth(request, state)
    if denied is not None:
        return denied
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    model = lookup_model(state, body, "embedding")
    if isinstance(model, web.Response):
        return model
    inputs = body.get("input")
    if isinstance(inputs, str) or (
        isinstance(inputs, list) and inputs and isinstance(inputs[0], int)
    ):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or any(x in ("", []) for x in inputs):
        return error(400, "'input' must be a non-empty string or array.", param="input")
    dims = body.get("dimensions") or model.dimensions
    if not isinstance(dims, int) or not 0 < dims <= model.dimensions:
        return error(
            400, f"'dimensions' must be between 1 and {model.dimensions}.", param="dimensions"
        )
    plan = state.plan(model, request.headers, False)
    tokens = sum(len(x) if isinstance(x, list) else count_tokens(str(x)) for x in inputs)
    limits = state.limits(model, tokens)
    if limits.retry_after_s > 0:
        return rate_limited(model.name, limits)
    if plan.fault == "429":
        return rate_limited(model.name, injected_limits(model, tokens))
    if plan.fault in ("500", "503", "529", "timeout"):
        return await fault_response(request, plan)
    if plan.ttft_s > 0:
        await asyncio.sleep(plan.ttft_s)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = embed(orjson.dumps(item), dims)
        value: Any = base64.b64encode(vector.tobytes()).decode() if as_base64 else vector.tolist()
        data.append({"object": "embedding", "index": index, "embedding": value})
    payload = {
        "object": "list",
        "data": data,
        "model": model.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return web.Response(
        body=orjson.dumps(payload), content_type="application/json", headers=limit_headers(limits)
    )


def embed(raw: bytes, dims: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A unit vector (little-endian float32) that depends only on the input: the normalised sum
    of one fixed random vector per word (token ids for token inputs), so texts that share words
    lie close together, as real embeddings of texts on one topic do; prompt drift can be shown
    against the simulator."""
    words = re.findall(rb"\w+", raw.lower()) or [raw]
    vector = np.zeros(dims, dtype=np.float64)
    for word in words:
        vector += _word_vector(word, dims)
    norm = float(np.linalg.norm(vector)) or 1.0
    return (vector / norm).astype("<f4")


@functools.lru_cache(maxsize=4096)
def _word_vector(word: bytes, dims: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """One word's vector (cached: at most 4,096 x 3,072 float32, 50 MB)."""
    seed = int.from_bytes(hashlib.blake2b(word, digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dims, dtype=np.float32)


def _model_object(model: ModelProfile) -> dict[str, Any]:
    return {"id": model.name, "object": "model", "created": 1_715_367_049, "owned_by": "system"}


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    denied = check_auth(request, state)
    if denied is not None:
        return denied
    data = [_model_object(m) for m in state.profile.models.values() if m.provider == "openai"]
    return web.json_response(
        {"object": "list", "data": data}, dumps=lambda x: orjson.dumps(x).decode()
    )


async def get_model(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    denied = check_auth(request, state)
    if denied is not None:
        return denied
    name = request.match_info["model"]
    model = state.profile.get(name, "openai")
    if model is None:
        message = f"The model `{name}` does not exist or you do not have access to it."
        return error(404, message, code="model_not_found")
    return web.Response(body=orjson.dumps(_model_object(model)), content_type="application/json")


def create_app(state: SimState) -> web.Application:
    """The OpenAI-compatible app; its base URL for clients is `http://host:port/v1`."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", get_model)
    return app
