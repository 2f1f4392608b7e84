"""Server-sent events from an aiohttp response: `(event, data)` pairs, one per blank-line frame."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str | None, bytes]]:
    """Yield each event's name (or None) and data (multi-line data joined with newlines)."""
    event: str | None = None
    data: list[bytes] = []
    async for raw in resp.content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = None, []
        elif line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode()
        # comments (":") and other fields (id, retry) are not needed by the gateway
    if data:
        yield event, b"\n".join(data)
