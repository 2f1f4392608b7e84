"""Paced server-sent events: frames written at their scheduled time, coalesced when already due.

Both simulated servers stream the same way: frame *i* is due at `ttft + i * token_s` after the
request started (plus any stall of a slow stream). Frames that are already due when the writer
gets to them are written together, so a zero-latency stream costs one socket write instead of
hundreds — the bytes on the wire, and their framing, are the same.
"""

from __future__ import annotations

import asyncio

from aiohttp import web


class PacedWriter:
    """Writes SSE frames to `response` at `start + offset` on the event loop clock."""

    __slots__ = ("_buffer", "_loop", "_response", "_start", "shift_s")

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._buffer: list[bytes] = []
        self.shift_s = 0.0
        """Extra delay added to every later frame (the stalls of a slow stream)."""

    async def send(self, frame: bytes, offset_s: float = 0.0) -> None:
        """Queue `frame`; if it is not yet due, flush what is queued and sleep until it is."""
        due = self._start + offset_s + self.shift_s
        wait = due - self._loop.time()
        if wait > 0.0005:
            await self.flush()
            await asyncio.sleep(wait)
        self._buffer.append(frame)

    async def flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            await self._response.write(data)


def data_frame(payload: bytes) -> bytes:
    """One `data:` frame (OpenAI style) for a JSON payload."""
    return b"data: " + payload + b"\n\n"


def event_frame(event: bytes, payload: bytes) -> bytes:
    """One `event:` + `data:` frame (Anthropic style)."""
    return b"event: " + event + b"\ndata: " + payload + b"\n\n"


SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
}


def abort(request: web.BaseRequest) -> None:
    """Cut the connection without a final frame (a dropped stream)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
