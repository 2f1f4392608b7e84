"""An ASGI front door that sends the gateway's POST routes straight to their handlers.

FastAPI's middleware stack, dependency solving and exception plumbing cost more per request than
the rest of the gateway's work (measured with py-spy under bench/gateway.py). The gateway handlers
need none of it: they take a raw request and always return a complete response in OpenAI's shape.
Every other path, and the OpenAPI documentation of these same routes, stays with FastAPI.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from vigil.gateway.errors import GatewayError
from vigil.gateway.routes import chat_completions, embeddings

log = logging.getLogger("vigil.gateway")

Handler = Callable[[Request], Awaitable[Response]]

FAST_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/chat/completions"): chat_completions,
    ("POST", "/v1/embeddings"): embeddings,
}


class GatewayFastPath:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = FAST_ROUTES.get((scope["method"], scope["path"]))
            if handler is not None:
                scope["app"] = self.app
                try:
                    response = await handler(Request(scope, receive))
                except Exception:  # never a stack trace to the client
                    log.exception("gateway handler failed")
                    response = GatewayError(500, "Internal error in the gateway.").response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
