"""The LLM half of the demo traffic: what a few apps of a small company send, and how it went.

`next_call` draws one request from a fixed mix of apps (a support bot with a long cached system
prompt, a summarizer, a SQL assistant that calls a tool, a reasoning job, marketing copy,
embeddings), each with its team, users, key, models and stream ratio. `perform` sends it — to the
simulated provider directly, or to Vigil's gateway when `via_gateway_url` is set — and measures it
like a client does: duration, time to first token, usage from the response, status and error type.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from vigil.records import CallRecord, utcnow
from vigil.sim.profiles import Price
from vigil.sim.tokens import generate_pieces

ERROR_TYPES = {
    400: "invalid_request",
    401: "auth",
    403: "auth",
    404: "not_found",
    429: "rate_limit",
    500: "server_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
    529: "overloaded",
}
"""How the demo names failures, as the gateway does: a stream cut after its 200 is `stream_cut`
(502), an error frame inside a stream is `stream_error` (502), a client timeout `timeout` (504)."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    openai_base_url: str
    anthropic_base_url: str
    openai_api_key: str = "sim-key"
    anthropic_api_key: str = "sim-key"
    via_gateway_url: str | None = None
    """When set, every LLM call goes to this OpenAI-compatible base URL (Vigil's gateway)."""
    gateway_key: str | None = None


@dataclass(slots=True)
class CallSpec:
    app: str
    team: str
    user: str
    key_id: str
    model: str
    provider: str
    stream: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    system: str | None = None
    max_tokens: int = 512
    tools: list[dict[str, Any]] | None = None
    inputs: list[str] | None = None
    """Embedding inputs; the call is an embeddings call when set."""


_TEAMS = {
    "support": ("u-ana", "u-ben", "u-carla"),
    "search": ("u-dev", "u-emma"),
    "platform": ("u-farid", "u-gwen"),
    "research": ("u-hiro",),
    "marketing": ("u-ines", "u-jo"),
}
_POLICY = "".join(generate_pieces(20240601, 1400))
_SQL_TOOL = {
    "name": "run_sql",
    "description": "Run a read-only SQL query on the analytics warehouse.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["query", "limit"],
    },
}
_QUESTIONS = (
    "How do I reset my password?",
    "My invoice for {month} looks wrong, can you explain the charges?",
    "Can I move my plan from basic to premium without losing data?",
    "The export to CSV fails with a timeout, what should I do?",
    "Why was my card declined when renewing?",
)
_MONTHS = ("January", "February", "March", "April", "May", "June")


def _text(rng: random.Random, low: int, high: int) -> str:
    return "".join(generate_pieces(rng.getrandbits(48), rng.randint(low, high)))


def next_call(rng: random.Random) -> CallSpec:
    """Draw one call from the demo's app mix."""
    app = rng.choices(
        ("support-bot", "summarizer", "sql-assistant", "reasoning", "marketing", "embeddings"),
        weights=(35, 20, 12, 8, 15, 10),
    )[0]
    team = {
        "support-bot": "support",
        "summarizer": "search",
        "sql-assistant": "platform",
        "reasoning": "research",
        "marketing": "marketing",
        "embeddings": "search",
    }[app]
    user = rng.choice(_TEAMS[team])
    spec = CallSpec(app, team, user, f"vk-{team}", "gpt-4o-mini", "openai")
    if app == "support-bot":
        spec.model = rng.choices(("gpt-4o-mini", "claude-3-5-haiku-latest"), weights=(7, 3))[0]
        spec.system = "You are the support assistant. Follow the policy below.\n" + _POLICY
        question = rng.choice(_QUESTIONS).format(month=rng.choice(_MONTHS))
        spec.messages = [{"role": "user", "content": question}]
        spec.stream, spec.max_tokens = rng.random() < 0.7, 300
    elif app == "summarizer":
        spec.model = rng.choice(("gpt-4o", "claude-3-5-sonnet-latest"))
        document = _text(rng, 150, 2500)
        spec.messages = [{"role": "user", "content": "Summarize in five bullets:\n\n" + document}]
        spec.stream, spec.max_tokens = rng.random() < 0.3, 250
    elif app == "sql-assistant":
        spec.model = "gpt-4o"
        ask = f"Use the tool to count {rng.choice(('orders', 'refunds', 'signups'))} per day."
        spec.messages = [{"role": "user", "content": ask}]
        spec.tools = [_SQL_TOOL]
        spec.stream = rng.random() < 0.5
    elif app == "reasoning":
        spec.model = "o3-mini"
        spec.messages = [{"role": "user", "content": "Plan the capacity: " + _text(rng, 40, 200)}]
        spec.stream, spec.max_tokens = rng.random() < 0.2, 2000
    elif app == "marketing":
        spec.model = rng.choice(("claude-3-5-sonnet-latest", "gpt-4o-mini"))
        spec.messages = [{"role": "user", "content": "Write a tagline about " + _text(rng, 5, 40)}]
        spec.stream, spec.max_tokens = rng.random() < 0.5, 120
    else:
        spec.model = "text-embedding-3-small"
        spec.inputs = [_text(rng, 20, 300) for _ in range(rng.randint(1, 16))]
    spec.provider = "anthropic" if spec.model.startswith("claude") else "openai"
    return spec


@dataclass(slots=True)
class _Outcome:
    status: int = 0
    error_type: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached: int = 0
    ttft_s: float | None = None
    request_id: str | None = None

    def fail(self, status: int, error_type: str) -> None:
        self.status, self.error_type = status, error_type


def _openai_body(spec: CallSpec) -> tuple[str, dict[str, Any]]:
    if spec.inputs is not None:
        return "/embeddings", {"model": spec.model, "input": spec.inputs}
    messages = list(spec.messages)
    if spec.system:
        messages.insert(0, {"role": "system", "content": spec.system})
    body: dict[str, Any] = {"model": spec.model, "messages": messages, "user": spec.user}
    body["max_completion_tokens" if spec.model.startswith("o") else "max_tokens"] = spec.max_tokens
    if spec.tools:
        body["tools"] = [{"type": "function", "function": t} for t in spec.tools]
    if spec.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return "/chat/completions", body


def _anthropic_body(spec: CallSpec) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": spec.model,
        "max_tokens": spec.max_tokens,
        "messages": spec.messages,
    }
    if spec.system:
        body["system"] = [
            {"type": "text", "text": spec.system, "cache_control": {"type": "ephemeral"}}
        ]
    if spec.stream:
        body["stream"] = True
    return body


async def _read_openai(
    resp: aiohttp.ClientResponse, out: _Outcome, t0: float, stream: bool
) -> None:
    loop = asyncio.get_running_loop()
    if not stream:
        usage = (orjson.loads(await resp.read())).get("usage") or {}
    else:
        usage, done = {}, False
        async for line in resp.content:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                done = True
                break
            chunk = orjson.loads(data)
            if "error" in chunk:
                return out.fail(502, "stream_error")
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if out.ttft_s is None and (delta.get("content") or delta.get("tool_calls")):
                    out.ttft_s = loop.time() - t0
            usage = chunk.get("usage") or usage
        if not done:
            return out.fail(502, "stream_cut")
    out.input_tokens = int(usage.get("prompt_tokens", 0))
    out.output_tokens = int(usage.get("completion_tokens", 0))
    out.cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)


def _take_anthropic_usage(out: _Outcome, usage: dict[str, Any]) -> None:
    read = int(usage.get("cache_read_input_tokens") or 0)
    created = int(usage.get("cache_creation_input_tokens") or 0)
    out.input_tokens = int(usage.get("input_tokens", 0)) + read + created
    out.cached = read
    out.output_tokens = int(usage.get("output_tokens", 0))


async def _read_anthropic(
    resp: aiohttp.ClientResponse, out: _Outcome, t0: float, stream: bool
) -> None:
    loop = asyncio.get_running_loop()
    if not stream:
        _take_anthropic_usage(out, orjson.loads(await resp.read()).get("usage") or {})
        return
    done = False
    async for line in resp.content:
        if not line.startswith(b"data: "):
            continue
        event = orjson.loads(line[6:])
        kind = event.get("type")
        if kind == "message_start":
            _take_anthropic_usage(out, event["message"].get("usage") or {})
            out.output_tokens = 0
        elif kind == "content_block_delta" and out.ttft_s is None:
            out.ttft_s = loop.time() - t0
        elif kind == "message_delta":
            out.output_tokens = int((event.get("usage") or {}).get("output_tokens", 0))
        elif kind == "message_stop":
            done = True
        elif kind == "error":
            return out.fail(502, "stream_error")
    if not done:
        out.fail(502, "stream_cut")


async def perform(
    session: aiohttp.ClientSession,
    endpoints: Endpoints,
    spec: CallSpec,
    price: Price | None,
    timeout_s: float = 120.0,
) -> CallRecord:
    """Send one call and describe it as a `CallRecord` (source `ingest`); failures are data."""
    loop = asyncio.get_running_loop()
    started, t0 = utcnow(), loop.time()
    out = _Outcome()
    direct_anthropic = spec.provider == "anthropic" and endpoints.via_gateway_url is None
    if direct_anthropic:
        url = endpoints.anthropic_base_url.rstrip("/") + "/v1/messages"
        body = _anthropic_body(spec)
        headers = {"x-api-key": endpoints.anthropic_api_key, "anthropic-version": "2023-06-01"}
    else:
        path, body = _openai_body(spec)
        base = endpoints.via_gateway_url or endpoints.openai_base_url
        key = endpoints.gateway_key if endpoints.via_gateway_url else endpoints.openai_api_key
        url = base.rstrip("/") + path
        headers = {"authorization": f"Bearer {key or 'sim-key'}"}
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(url, data=orjson.dumps(body), headers=headers) as resp:
                out.status = resp.status
                out.request_id = resp.headers.get("x-request-id") or resp.headers.get("request-id")
                if resp.status != 200:
                    await resp.read()
                    out.error_type = ERROR_TYPES.get(resp.status, "http_error")
                elif direct_anthropic:
                    await _read_anthropic(resp, out, t0, spec.stream)
                else:
                    await _read_openai(resp, out, t0, spec.stream and spec.inputs is None)
    except TimeoutError:
        out.fail(504, "timeout")
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
        out.fail(502, "stream_cut" if out.status == 200 else "connection_error")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        out.fail(502, "connection_error" if not isinstance(exc, ValueError) else "bad_response")
    duration = loop.time() - t0
    return CallRecord(
        ts=started,
        model=spec.model,
        provider=spec.provider,
        deployment=spec.model,
        source="ingest",
        key_id=spec.key_id,
        team=spec.team,
        user=spec.user,
        status_code=out.status,
        error_type=out.error_type,
        input_tokens=out.input_tokens,
        output_tokens=out.output_tokens,
        cached_input_tokens=out.cached,
        cost_usd=0.0
        if price is None
        else price.cost(out.input_tokens, out.output_tokens, out.cached),
        duration_s=round(duration, 6),
        ttft_s=None if out.ttft_s is None else round(out.ttft_s, 6),
        stream=spec.stream,
        request_id=out.request_id,
        metadata={"app": spec.app, "kind": "embedding" if spec.inputs is not None else "chat"},
    )
