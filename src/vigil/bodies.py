"""Reading request bodies with hard size limits, compressed or not (413, not unbounded memory).

Shared by the gateway and every ingest route. Both the bytes on the wire and the decompressed bytes
are capped at `server.max_body_bytes`, so a small gzip bomb is refused as surely as a large plain
body, and a chunked body without a `content-length` is cut off as soon as it passes the limit.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from fastapi import Request

from vigil.api.errors import APIError

ENCODINGS = ("identity", "gzip", "deflate")


def too_large(limit: int) -> APIError:
    return APIError(413, "body_too_large", f"request body exceeds {limit} bytes")


async def read_body(
    request: Request, limit: int, refuse: Callable[[int], Exception] = too_large
) -> bytes:
    """The raw request body, refusing anything over `limit` bytes before reading it all
    (`refuse(limit)` is raised: the gateway answers in OpenAI's error shape)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise refuse(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refuse(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def inflate(data: bytes, encoding: str, limit: int) -> bytes:
    """Undo `Content-Encoding` (gzip or deflate), never producing more than `limit` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise APIError(
            415,
            "unsupported_encoding",
            f"content-encoding {encoding!r} is not supported; use one of {list(ENCODINGS)}",
        )
    # 16+MAX_WBITS: gzip header; 32+MAX_WBITS: zlib or gzip, auto-detected (deflate senders vary).
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else 32 + zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise too_large(limit)
        out += inflater.flush()
        if not inflater.eof:
            raise APIError(400, "invalid_body", f"truncated {encoding} body")
    except zlib.error as exc:
        raise APIError(400, "invalid_body", f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise too_large(limit)
    return out


async def read_decoded_body(request: Request, limit: int) -> bytes:
    """The body with its `Content-Encoding` removed; 413 if either form exceeds `limit`."""
    raw = await read_body(request, limit)
    return inflate(raw, request.headers.get("content-encoding", ""), limit)
