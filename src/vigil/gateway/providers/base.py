"""What an upstream adapter returns, and how upstream failures are described."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from vigil.config.routing import Timeouts
from vigil.gateway.providers.http import (
    Endpoint,
    Limits,
    Response,
    TransportError,
    UpstreamClient,
)

TRANSPORT_ERRORS = (TransportError, TimeoutError)
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(slots=True)
class TokenUsage:
    input: int = 0
    output: int = 0
    cached_input: int = 0


class UpstreamError(Exception):
    """An upstream attempt failed; `retryable` says whether another attempt may succeed."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        """rate_limited | server_error | timeout | connection | bad_request | auth | not_found"""
        self.retry_after = retry_after
        self.code = code

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUS or self.error_type in ("timeout", "connection")


@dataclass(slots=True)
class Completion:
    """A finished non-streamed answer, already in OpenAI's format."""

    body: bytes
    usage: TokenUsage
    finish_reason: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: dict[str, Any] | None = None
    """The first choice's message (chat answers), for the quality facts of the call record."""


class ChatStream(Protocol):
    """An open upstream stream, translated to OpenAI `chat.completion.chunk` JSON payloads."""

    usage: TokenUsage | None
    finish_reason: str | None
    done: bool
    """True once the batch being handed on is the stream's last: the relay then sends it together
    with `[DONE]` and the end of the response, in one write instead of three."""

    def chunks(self) -> AsyncIterator[list[bytes]]:
        """Chunk payloads (no `data: ` framing), a batch per upstream read; raises UpstreamError
        if the stream breaks."""

    async def aclose(self) -> None: ...


class Provider(Protocol):
    name: str

    async def chat(self, body: dict[str, Any], upstream_model: str) -> Completion: ...

    async def chat_stream(
        self, body: dict[str, Any], upstream_model: str, include_usage: bool
    ) -> ChatStream:
        """Open the stream; errors before the first chunk raise UpstreamError (retryable)."""

    async def embeddings(self, body: dict[str, Any], upstream_model: str) -> Completion: ...

    async def close(self) -> None: ...


def client_error(exc: BaseException) -> UpstreamError:
    """Turn a transport failure into an UpstreamError the router understands."""
    if isinstance(exc, TimeoutError):
        return UpstreamError(504, f"upstream timed out ({exc})", "timeout")
    return UpstreamError(502, f"upstream connection failed: {exc}", "connection")


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date ignored)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def error_type_for(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status in (408, 504):
        return "timeout"
    if status >= 500:
        return "server_error"
    return "bad_request"


def upstream_error(status: int, body: bytes, headers: Any) -> UpstreamError:
    """An error answer -> UpstreamError with the upstream's own message (OpenAI's and Anthropic's
    bodies both keep it at `error.message`)."""
    message, code = f"upstream answered {status}", None
    try:
        err = orjson.loads(body).get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = err.get("code")
        elif isinstance(err, str):
            message = err
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return UpstreamError(
        status, message, error_type_for(status), retry_after=parse_retry_after(headers), code=code
    )


def client_timeouts(t: Timeouts) -> tuple[Limits, Limits]:
    """Limits for a whole answer and for a stream: a stream's reads may also wait `idle` between
    chunks, a whole answer's only `first_byte`."""
    connect, total = t.connect.total_seconds(), t.total.total_seconds()
    answer = Limits(connect=connect, read=t.first_byte.total_seconds(), total=total)
    stream = Limits(connect=connect, read=max(t.first_byte, t.idle).total_seconds(), total=total)
    return answer, stream


async def post_json(
    client: UpstreamClient,
    endpoint: Endpoint,
    body: dict[str, Any],
    *,
    headers: bytes,
    limits: Limits,
) -> Response:
    """POST a JSON body; a 200 response is returned open (for reading or streaming), anything
    else becomes an UpstreamError."""
    try:
        resp = await client.post(endpoint, orjson.dumps(body), headers, limits)
    except TRANSPORT_ERRORS as exc:
        raise client_error(exc) from exc
    if resp.status != 200:
        try:
            raw = await resp.read()
        except TRANSPORT_ERRORS:
            raw = b""
        finally:
            resp.close()
        raise upstream_error(resp.status, raw, resp.headers)
    return resp


async def read_all(resp: Response) -> bytes:
    try:
        return await resp.read()
    except TRANSPORT_ERRORS as exc:
        raise client_error(exc) from exc
    finally:
        resp.close()
