"""OpenAI-compatible upstreams: OpenAI, Azure OpenAI, vLLM, Ollama, and relays.

Bodies pass through untouched except `model` (the deployment's upstream id) and, for streams,
`stream_options.include_usage` (always asked for, so usage and cost are known); answers are relayed
as the upstream's own bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson

from vigil.config.routing import ProviderConfig
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


def usage_from(data: Any) -> TokenUsage | None:
    """OpenAI `usage` object -> TokenUsage (cached tokens from `prompt_tokens_details`)."""
    if not isinstance(data, dict):
        return None
    details = data.get("prompt_tokens_details") or {}
    return TokenUsage(
        input=int(data.get("prompt_tokens") or 0),
        output=int(data.get("completion_tokens") or 0),
        cached_input=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )


class OpenAIStream:
    """Relays an OpenAI SSE stream; strips the usage-only chunk unless the client asked for it."""

    def __init__(self, resp: Response, include_usage: bool) -> None:
        self._resp = resp
        self._include_usage = include_usage
        self.usage: TokenUsage | None = None
        self.finish_reason: str | None = None
        self.done = False

    def _keep(self, data: bytes) -> bool:
        """Note usage and finish reason; False for a usage-only chunk the client did not want."""
        if not (
            (b'"usage"' in data and b'"usage":null' not in data)
            or (b'"finish_reason"' in data and b'"finish_reason":null' not in data)
        ):
            return True
        chunk = orjson.loads(data)
        usage = usage_from(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return not (usage is not None and not chunk.get("choices") and not self._include_usage)

    async def chunks(self) -> AsyncIterator[list[bytes]]:
        try:
            async for events in sse_batches(self._resp):
                batch: list[bytes] = []
                for _event, data in events:
                    if data == b"[DONE]":
                        self.done = True
                        break
                    if data.startswith(b'{"error"'):
                        err = orjson.loads(data).get("error") or {}
                        message = str(err.get("message", "upstream error"))
                        raise UpstreamError(502, message, "stream")
                    if self._keep(data):
                        batch.append(data)
                if batch:
                    yield batch
                if self.done:
                    break
        except TRANSPORT_ERRORS as exc:
            raise UpstreamError(502, f"upstream stream broke: {exc}", "stream_cut") from exc
        if not self.done:
            raise UpstreamError(502, "upstream stream ended before [DONE]", "stream_cut")

    async def aclose(self) -> None:
        self._resp.close()


class OpenAIProvider:
    """One OpenAI-compatible upstream (a `providers:` entry of type `openai`)."""

    def __init__(self, name: str, config: ProviderConfig, client: UpstreamClient) -> None:
        self.name = name
        self._client = client
        self._timeout, self._stream_timeout = client_timeouts(config.timeouts)
        headers = {"content-type": "application/json", **config.headers}
        query = ""
        key = config.api_key.get_secret_value() if config.api_key else None
        if config.api_version:  # Azure OpenAI: api-key header and api-version query
            query = f"?api-version={quote(config.api_version)}"
            if key:
                headers["api-key"] = key
        elif key:
            headers["authorization"] = f"Bearer {key}"
        self._headers = render_headers(headers)
        self._endpoints = {
            path: Endpoint.parse(config.api_base + path + query)
            for path in ("/chat/completions", "/embeddings")
        }

    async def _post(self, path: str, body: dict[str, Any], limits: Limits) -> Response:
        return await post_json(
            self._client, self._endpoints[path], body, headers=self._headers, limits=limits
        )

    async def _complete(self, path: str, body: dict[str, Any]) -> Completion:
        raw = await read_all(await self._post(path, body, self._timeout))
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(502, "upstream answered invalid JSON", "bad_response") from exc
        usage = usage_from(parsed.get("usage")) or TokenUsage()
        finish = message = None
        choices = parsed.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            finish = choices[0].get("finish_reason")
            found = choices[0].get("message")
            message = found if isinstance(found, dict) else None
        return Completion(raw, usage, finish, message=message)

    async def chat(self, body: dict[str, Any], upstream_model: str) -> Completion:
        return await self._complete("/chat/completions", {**body, "model": upstream_model})

    async def chat_stream(
        self, body: dict[str, Any], upstream_model: str, include_usage: bool
    ) -> OpenAIStream:
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        request = {**body, "model": upstream_model, "stream": True, "stream_options": options}
        resp = await self._post("/chat/completions", request, self._stream_timeout)
        return OpenAIStream(resp, include_usage)

    async def embeddings(self, body: dict[str, Any], upstream_model: str) -> Completion:
        return await self._complete("/embeddings", {**body, "model": upstream_model})

    async def close(self) -> None:
        return None
