"""Admin authentication: a bearer token compared in constant time.

The token comes from `server.admin_token` (or is generated at start-up and printed once); it is
never logged.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from vigil.api.errors import APIError


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def require_admin(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the admin token."""
    expected: str = request.app.state.vigil.admin_token
    token = bearer_token(request)
    if token is None:
        raise APIError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise APIError(401, "unauthorized", "invalid token")
