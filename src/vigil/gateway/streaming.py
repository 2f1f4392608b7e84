"""The SSE relay's ASGI response: body frames as they come, and cancellation on disconnect.

Starlette's StreamingResponse runs an anyio task group per response to notice a client leaving;
this does the same with one plain task watching `receive()`, which is cheaper per stream. When the
client goes, the relay is cancelled at its current await, so the upstream request is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class RelayResponse(StreamingResponse):
    def __init__(self, body: AsyncIterator[tuple[bytes, bool]], headers: Mapping[str, str]) -> None:
        super().__init__((), headers=dict(headers), media_type="text/event-stream")
        self.relay = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = asyncio.current_task()
        assert relay is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            relay.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            more = True
            async for frame, more in self.relay:
                await send({"type": "http.response.body", "body": frame, "more_body": more})
            if more:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            relay.uncancel()  # the client left: a normal end for this response
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self.relay.aclose()  # type: ignore[attr-defined]
