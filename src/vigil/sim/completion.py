"""The answer to a chat request, shared by the OpenAI and Anthropic servers.

The answer depends only on a hash of the request (without `stream` and `stream_options`), so the
same request always gets the same text and the same usage, streamed or not. Its length is drawn
from the model's `output_tokens` range (or forced by `x-sim-output-tokens`) and cut by
`max_tokens`. When the request offers tools and forces one, or the last user message names one (or
says "tool"), the answer is a single tool call whose JSON arguments are streamed in pieces instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from vigil.sim.profiles import ModelProfile
from vigil.sim.tokens import content_text, generate_pieces, generate_word, split_pieces

CACHE_MIN_TOKENS = 1024
"""Prompts at least this long may hit the (simulated) prompt cache, in 128-token blocks."""


@dataclass(frozen=True, slots=True)
class ToolChoice:
    name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Answer:
    pieces: tuple[str, ...]
    """Text pieces, or the pieces of the tool call's JSON arguments."""
    tool: ToolChoice | None
    truncated: bool
    prompt_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    tool_id: str

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces) + self.reasoning_tokens

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def compose(
    digest: int,
    model: ModelProfile,
    prompt_tokens: int,
    max_tokens: int | None,
    forced_tokens: int | None,
    tool: ToolChoice | None,
    cacheable_prefix: bool,
) -> Answer:
    """Build the deterministic answer for a request whose hash is `digest`."""
    rng = random.Random(digest)
    low, high = model.output_tokens
    wanted = forced_tokens if forced_tokens is not None else rng.randint(low, max(low, high))
    r_low, r_high = model.reasoning_tokens
    reasoning = rng.randint(r_low, max(r_low, r_high)) if r_high > 0 else 0
    limit = max_tokens if max_tokens is not None and max_tokens > 0 else None
    if limit is not None and reasoning >= limit:
        reasoning = limit
    budget = None if limit is None else limit - reasoning
    if tool is not None:
        pieces = tuple(split_pieces(tool_arguments(digest, tool.schema)))
    else:
        pieces = generate_pieces(digest, wanted)
    truncated = budget is not None and len(pieces) > budget
    if truncated:
        pieces = pieces[:budget]
    cached = 0
    if cacheable_prefix and prompt_tokens >= CACHE_MIN_TOKENS and digest % 3 != 0:
        cached = (prompt_tokens // 128) * 128 - 128 * (digest % 4)
        cached = max(min(cached, prompt_tokens), 0)
    return Answer(
        pieces=pieces,
        tool=tool,
        truncated=truncated,
        prompt_tokens=prompt_tokens,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
        tool_id=f"{digest:016x}{rng.getrandbits(32):08x}",
    )


def tool_arguments(digest: int, schema: dict[str, Any]) -> str:
    """JSON arguments matching the top level of a JSON schema, chosen from the hash."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return "{}"
    required = schema.get("required") or list(properties)
    args: dict[str, Any] = {}
    for i, name in enumerate(properties):
        if name not in required:
            continue
        spec = properties[name] if isinstance(properties[name], dict) else {}
        seed = digest + 7919 * i
        kind = spec.get("type", "string")
        if spec.get("enum"):
            args[name] = spec["enum"][seed % len(spec["enum"])]
        elif kind == "integer":
            args[name] = seed % 100
        elif kind == "number":
            args[name] = round((seed % 10_000) / 100, 2)
        elif kind == "boolean":
            args[name] = bool(seed % 2)
        elif kind == "array":
            args[name] = [generate_word(seed), generate_word(seed // 7)]
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = f"{generate_word(seed)} {generate_word(seed // 11)}"
    return orjson.dumps(args).decode()


def last_user_text(messages: Any) -> str:
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return content_text(message.get("content"))
    return ""


def pick_tool(
    tools: list[tuple[str, dict[str, Any]]], forced: str | None, any_tool: bool, user_text: str
) -> ToolChoice | None:
    """The tool to call: the forced one, any one when required, or one the user asks for."""
    if not tools:
        return None
    by_name = dict(tools)
    if forced is not None:
        return ToolChoice(forced, by_name.get(forced, {}))
    lowered = user_text.lower()
    for name, schema in tools:
        if name.lower() in lowered:
            return ToolChoice(name, schema)
    if any_tool or " tool" in f" {lowered}":
        name, schema = tools[0]
        return ToolChoice(name, schema)
    return None
