"""UI sessions: who is logged in, and how a browser reaches the admin API without the token.

The browser never sees the admin token. A login (admin token, or a `ui.users` name and password)
creates a server-side session; its random id travels in an HttpOnly, SameSite=Strict cookie. The
`SessionMiddleware` lets requests to `/api/` that carry no `Authorization` header but a valid
session through by adding the admin bearer token server-side, and refuses every state-changing
method whose `X-CSRF-Token` header does not match the session's token (or whose user is a viewer).
Sessions live in memory: a restart logs everybody out, which is the safe default.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

COOKIE = "vigil_session"
LOGIN_COOKIE = "vigil_login_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(slots=True)
class Session:
    user: str
    role: str
    csrf: str
    expires: float

    @property
    def can_write(self) -> bool:
        return self.role == "admin"


class Sessions:
    """In-memory sessions keyed by their random id; expired ones are dropped when met."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_id: dict[str, Session] = {}
        self._clock = clock

    def create(self, user: str, role: str, ttl_s: float) -> tuple[str, Session]:
        if len(self._by_id) > 10_000:  # bound memory against login floods
            self._prune()
        sid = secrets.token_urlsafe(32)
        session = Session(user, role, secrets.token_urlsafe(32), self._clock() + ttl_s)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None:
            return None
        if session.expires <= self._clock():
            self._by_id.pop(sid, None)
            return None
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)

    def _prune(self) -> None:
        now = self._clock()
        self._by_id = {k: s for k, s in self._by_id.items() if s.expires > now}


def same(a: str, b: str) -> bool:
    """Constant-time string equality."""
    return hmac.compare_digest(a.encode(), b.encode())


def check_login(state: Any, user: str, password: str, token: str) -> tuple[str, str] | None:
    """(user, role) when the admin token or a configured user's password matches."""
    if token:
        return ("admin", "admin") if same(token, state.admin_token) else None
    for configured in state.config.ui.users:
        if same(user, configured.name) and same(password, configured.password.get_secret_value()):
            return configured.name, configured.role
    return None


def cookie_value(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message, "details": None}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SessionMiddleware:
    """Turns a valid UI session into the admin bearer token for `/api/` calls, with CSRF checks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        if _header(headers, b"authorization") is not None:
            await self.app(scope, receive, send)
            return
        sid = cookie_value(headers, COOKIE)
        sessions: Sessions | None = getattr(scope["app"].state, "ui_sessions", None)
        session = sessions.get(sid) if sessions is not None else None
        if session is None:
            await self.app(scope, receive, send)  # the API answers 401 itself
            return
        if scope["method"] not in SAFE_METHODS:
            presented = _header(headers, CSRF_HEADER.encode()) or ""
            if not presented or not same(presented, session.csrf):
                await _refuse(send, 403, "csrf_failed", "missing or wrong X-CSRF-Token header")
                return
            if not session.can_write:
                await _refuse(send, 403, "forbidden", "viewers cannot change anything")
                return
        token = scope["app"].state.vigil.admin_token
        headers.append((b"authorization", f"Bearer {token}".encode()))
        await self.app({**scope, "headers": headers}, receive, send)
