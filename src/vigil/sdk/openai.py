"""`instrument(openai_client)`: report every chat completion and embedding call as an `llm_call`.

The wrapper replaces `client.chat.completions.create` and `client.embeddings.create` on that one
client instance (sync `OpenAI` or `AsyncOpenAI`, Azure included). It returns exactly what the SDK
returned and re-raises exactly what it raised; recording happens after the call and any failure
in it is swallowed. Streams are wrapped so time-to-first-token and the final usage chunk (sent
when the request asks for `stream_options={"include_usage": True}`) are recorded when the stream
ends or is closed.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("vigil.sdk")

Reporter = Callable[[dict[str, Any]], None]


class _Call:
    """What is known about one call, turned into an `llm_call` event when it ends."""

    def __init__(self, report: Reporter, kwargs: dict[str, Any], base: dict[str, Any]) -> None:
        self.report = report
        self.started = time.perf_counter()
        self.event: dict[str, Any] = {
            "kind": "llm_call",
            "id": uuid.uuid4().hex,
            "ts": datetime.now(UTC).isoformat(),
            "model": str(kwargs.get("model", "")),
            "provider": "openai",
            "stream": bool(kwargs.get("stream", False)),
            **base,
        }
        if kwargs.get("user"):
            self.event.setdefault("user", str(kwargs["user"]))
        self.done = False

    def first_token(self) -> None:
        if "ttft_s" not in self.event:
            self.event["ttft_s"] = time.perf_counter() - self.started

    def usage(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.event["input_tokens"] = int(getattr(usage, "prompt_tokens", 0) or 0)
            self.event["output_tokens"] = int(getattr(usage, "completion_tokens", 0) or 0)
            details = getattr(usage, "prompt_tokens_details", None)
            cached = getattr(details, "cached_tokens", 0) if details is not None else 0
            self.event["cached_input_tokens"] = int(cached or 0)
        if getattr(response, "model", None):
            self.event["deployment"] = str(response.model)
        if getattr(response, "id", None):
            self.event["request_id"] = str(response.id)

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.event["duration_s"] = time.perf_counter() - self.started
            if error is not None:
                self.event["status_code"] = int(getattr(error, "status_code", None) or 599)
                self.event["error_type"] = type(error).__name__
            self.report(self.event)
        except Exception:  # monitoring never breaks the app
            log.debug("vigil sdk: could not record a call", exc_info=True)


class _Stream:
    """Wraps `openai.Stream`: same iteration and context manager, plus recording."""

    def __init__(self, stream: Any, call: _Call) -> None:
        self._stream = stream
        self._call = call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _seen(self, chunk: Any) -> None:
        try:
            if getattr(chunk, "choices", None):
                self._call.first_token()
            self._call.usage(chunk)
        except Exception:  # pragma: no cover - defensive
            log.debug("vigil sdk: could not read a chunk", exc_info=True)

    def __iter__(self) -> Any:
        try:
            for chunk in self._stream:
                self._seen(chunk)
                yield chunk
        except BaseException as exc:
            self._call.finish(exc if isinstance(exc, Exception) else None)
            raise
        self._call.finish()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._call.finish()


class _AsyncStream(_Stream):
    """Wraps `openai.AsyncStream`."""

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._stream:
                self._seen(chunk)
                yield chunk
        except BaseException as exc:
            self._call.finish(exc if isinstance(exc, Exception) else None)
            raise
        self._call.finish()

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._call.finish()


async def _finish_async(pending: Any, call: _Call, stream: bool) -> Any:
    try:
        result = await pending
    except Exception as exc:
        call.finish(exc)
        raise
    if stream:
        return _AsyncStream(result, call)
    call.usage(result)
    call.finish()
    return result


def _wrap(original: Any, report: Reporter, base: dict[str, Any]) -> Any:
    """One wrapper for sync and async clients: an async client's `create` returns an awaitable
    (openai's decorators hide that it is a coroutine function), which is wrapped in turn."""
    if getattr(original, "__vigil_wrapped__", False):
        return original

    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call(report, kwargs, base)
        try:
            result = original(*args, **kwargs)
        except Exception as exc:
            call.finish(exc)
            raise
        if inspect.isawaitable(result):
            return _finish_async(result, call, bool(kwargs.get("stream")))
        if kwargs.get("stream"):
            return _Stream(result, call)
        call.usage(result)
        call.finish()
        return result

    create.__vigil_wrapped__ = True  # type: ignore[attr-defined]
    return create


def instrument_client(client: Any, report: Reporter, **fields: Any) -> Any:
    """Wrap `client`'s chat-completion and embedding calls; `fields` (team, user, metadata...)
    are added to every event. Returns the same client, for chaining."""
    base = {k: v for k, v in fields.items() if v is not None}
    for path in (("chat", "completions"), ("embeddings",)):
        resource = client
        for name in path:
            resource = getattr(resource, name, None)
        if resource is not None and hasattr(resource, "create"):
            resource.create = _wrap(resource.create, report, base)
    return client
