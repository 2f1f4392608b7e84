"""Anthropic Messages upstreams, behind OpenAI's chat format (see anthropic_translate.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from vigil.config.routing import ProviderConfig
from vigil.gateway.providers.anthropic_translate import (
    STOP_REASONS,
    to_chat_completion,
    to_messages_request,
    usage_dict,
    usage_of,
)
from vigil.gateway.providers.base import (
    TRANSPORT_ERRORS,
    Completion,
    TokenUsage,
    UpstreamError,
    client_timeouts,
    post_json,
    read_all,
)
from vigil.gateway.providers.http import Endpoint, Limits, Response, UpstreamClient, render_headers
from vigil.gateway.providers.sse import sse_batches

ANTHROPIC_VERSION = "2023-06-01"
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicStream:
    """Anthropic's event stream re-emitted as OpenAI `chat.completion.chunk` payloads."""

    def __init__(self, resp: Response, include_usage: bool) -> None:
        self._resp = resp
        self._include_usage = include_usage
        self.usage: TokenUsage | None = None
        self.finish_reason: str | None = None
        self.done = False
        self._id = "chatcmpl-anthropic"
        self._model = ""
        self._created = int(time.time())
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_call index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return orjson.dumps(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
                ],
            }
        )

    def _translate(self, kind: str | None, event: dict[str, Any]) -> bytes | None:
        if kind == "message_start":
            message = event.get("message") or {}
            self._id = "chatcmpl-" + str(message.get("id", ""))
            self._model = str(message.get("model", ""))
            self.usage = usage_of(message.get("usage"))
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") != "tool_use":
                return None
            index = self._tool_index.setdefault(event.get("index", 0), len(self._tool_index))
            call = {
                "index": index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return self._chunk({"tool_calls": [call]})
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                return self._chunk({"content": delta.get("text", "")})
            if delta.get("type") == "input_json_delta":
                index = self._tool_index.get(event.get("index", 0), 0)
                args = {"index": index, "function": {"arguments": delta.get("partial_json", "")}}
                return self._chunk({"tool_calls": [args]})
            return None
        if kind == "message_delta":
            out = usage_of(event.get("usage"))
            if self.usage is not None:
                self.usage.output = out.output
            reason = (event.get("delta") or {}).get("stop_reason")
            self.finish_reason = STOP_REASONS.get(reason or "end_turn", "stop")
            return self._chunk({}, self.finish_reason)
        if kind == "error":
            err = event.get("error") or {}
            status = _ERROR_STATUS.get(str(err.get("type")), 502)
            raise UpstreamError(status, str(err.get("message", "upstream error")), "stream")
        return None  # ping, content_block_stop, message_stop

    def _usage_chunk_due(self) -> bool:
        return self._include_usage and self.usage is not None

    async def chunks(self) -> AsyncIterator[list[bytes]]:
        stopped = False
        try:
            async for events in sse_batches(self._resp):
                batch: list[bytes] = []
                for kind, data in events:
                    if kind == "message_stop":
                        stopped = True
                        break
                    chunk = self._translate(kind, orjson.loads(data))
                    if chunk is not None:
                        batch.append(chunk)
                if batch:
                    self.done = stopped and not self._usage_chunk_due()
                    yield batch
                if stopped:
                    break
        except TRANSPORT_ERRORS as exc:
            raise UpstreamError(502, f"upstream stream broke: {exc}", "stream_cut") from exc
        if not stopped:
            raise UpstreamError(502, "upstream stream ended before message_stop", "stream_cut")
        if self._include_usage and self.usage is not None:
            self.done = True
            yield [
                orjson.dumps(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self._created,
                        "model": self._model,
                        "choices": [],
                        "usage": usage_dict(self.usage),
                    }
                )
            ]

    async def aclose(self) -> None:
        self._resp.close()


class AnthropicProvider:
    """One Anthropic upstream (a `providers:` entry of type `anthropic`)."""

    def __init__(self, name: str, config: ProviderConfig, client: UpstreamClient) -> None:
        self.name = name
        self._client = client
        base = config.api_base
        self._endpoint = Endpoint.parse(
            base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        )
        self._timeout, self._stream_timeout = client_timeouts(config.timeouts)
        headers = {
            "content-type": "application/json",
            "anthropic-version": config.api_version or ANTHROPIC_VERSION,
            **config.headers,
        }
        if config.api_key:
            headers["x-api-key"] = config.api_key.get_secret_value()
        self._headers = render_headers(headers)

    async def _post(self, body: dict[str, Any], limits: Limits) -> Response:
        return await post_json(
            self._client, self._endpoint, body, headers=self._headers, limits=limits
        )

    async def chat(self, body: dict[str, Any], upstream_model: str) -> Completion:
        request = to_messages_request({**body, "stream": False}, upstream_model)
        raw = await read_all(await self._post(request, self._timeout))
        try:
            completion, usage, finish = to_chat_completion(orjson.loads(raw))
        except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
            raise UpstreamError(
                502, "anthropic answered an unreadable message", "bad_response"
            ) from exc
        message = completion["choices"][0]["message"]
        return Completion(orjson.dumps(completion), usage, finish, message=message)

    async def chat_stream(
        self, body: dict[str, Any], upstream_model: str, include_usage: bool
    ) -> AnthropicStream:
        request = to_messages_request({**body, "stream": True}, upstream_model)
        resp = await self._post(request, self._stream_timeout)
        return AnthropicStream(resp, include_usage)

    async def embeddings(self, body: dict[str, Any], upstream_model: str) -> Completion:
        raise UpstreamError(
            400, f"provider {self.name} (anthropic) has no embeddings endpoint", "bad_request"
        )

    async def close(self) -> None:
        return None
