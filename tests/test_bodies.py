"""Bounded body reading: refused from the declared length, or mid-stream for chunked bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from vigil.api.errors import APIError
from vigil.bodies import read_body
from vigil.gateway.errors import GatewayError


def _request(
    chunks: list[bytes], headers: dict[str, str] | None = None
) -> tuple[Request, list[int]]:
    """A request whose body arrives in `chunks`; the list counts the chunks handed out."""
    given = [0]
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        given[0] += 1
        chunk = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""}
    return Request(scope, receive), given


def test_a_body_within_the_limit_is_read_whole() -> None:
    request, _ = _request([b"ab", b"cd"])
    assert asyncio.run(read_body(request, 4)) == b"abcd"


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    request, given = _request([b"x" * 100] * 50)
    with pytest.raises(APIError) as refused:
        asyncio.run(read_body(request, 250))
    assert refused.value.status == 413
    assert given[0] == 3  # the rest of the body is never read into memory


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    request, given = _request([b"x" * 10], {"content-length": "1000"})

    def refuse(limit: int) -> GatewayError:
        return GatewayError(413, f"Request body exceeds {limit} bytes.", code="body_too_large")

    with pytest.raises(GatewayError):
        asyncio.run(read_body(request, 100, refuse))
    assert given[0] == 0
