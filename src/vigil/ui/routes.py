"""The web UI's HTML routes: login, logout and one server-rendered shell per page.

Pages are thin Jinja2 shells; their data comes from the JSON APIs, fetched by small vanilla JS
modules with the session cookie (see `vigil.ui.auth`). Every page but `/login` needs a session.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from vigil import __version__
from vigil.ui.auth import COOKIE, LOGIN_COOKIE, Session, SessionMiddleware, Sessions, check_login
from vigil.ui.auth import same as _same

log = logging.getLogger("vigil.ui")
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

PAGES: list[tuple[str, str, str]] = [
    ("overview", "/", "Overview"),
    ("llm", "/llm", "LLM"),
    ("cost", "/cost", "Cost"),
    ("ml", "/ml", "ML models"),
    ("alerts", "/alerts", "Alerts"),
    ("logs", "/logs", "Logs"),
    ("keys", "/keys", "Keys"),
    ("settings", "/settings", "Settings"),
]
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.ui_sessions
    return sessions


def current_session(request: Request) -> Session | None:
    return _sessions(request).get(request.cookies.get(COOKIE))


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _page(request: Request, page: str, title: str, **extra: Any) -> Response:
    session = current_session(request)
    if session is None:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303, headers=SECURITY_HEADERS)
    context = {
        "page": page,
        "title": title,
        "pages": PAGES,
        "session": session,
        "version": __version__,
        **extra,
    }
    return templates.TemplateResponse(request, f"{page}.html", context, headers=SECURITY_HEADERS)


@router.get("/login")
async def login_form(request: Request, next: str = "/", error: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    context = {"csrf": token, "next": _safe_next(next), "error": error, "version": __version__}
    response = templates.TemplateResponse(request, "login.html", context, headers=SECURITY_HEADERS)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )
    return response


def _safe_next(target: str) -> str:
    """Only same-site paths: never redirect a login to another origin."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind the UI posts), without python-multipart."""
    body = await request.body()
    if len(body) > 16_384:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await _form(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    next_url = _safe_next(fields.get("next", "/"))
    if not expected or not _same(fields.get("csrf", ""), expected):
        return RedirectResponse("/login?error=expired", status_code=303, headers=SECURITY_HEADERS)
    state = request.app.state.vigil
    found = check_login(
        state, fields.get("user", ""), fields.get("password", ""), fields.get("token", "").strip()
    )
    if found is None:
        log.warning("ui login refused", extra={"user": fields.get("user", "")[:64] or "(token)"})
        return RedirectResponse(
            f"/login?error=denied&next={quote(next_url)}", status_code=303, headers=SECURITY_HEADERS
        )
    user, role = found
    ttl = state.config.ui.session_ttl.total_seconds()
    sid, _ = _sessions(request).create(user, role, ttl)
    log.info("ui login", extra={"user": user, "role": role})
    response = RedirectResponse(next_url, status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(ttl),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = current_session(request)
    csrf = (await _form(request)).get("csrf", "")
    if session is None or not csrf or not _same(csrf, session.csrf):
        return Response("CSRF token missing or wrong", status_code=403, headers=SECURITY_HEADERS)
    _sessions(request).drop(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def overview(request: Request) -> Response:
    return _page(request, "overview", "Overview")


@router.get("/llm")
async def llm(request: Request) -> Response:
    return _page(request, "llm", "LLM")


@router.get("/llm/{model}")
async def llm_model(request: Request, model: str) -> Response:
    return _page(request, "llm_model", f"LLM · {model}", model=model)


@router.get("/traces/{trace_id}")
async def trace(request: Request, trace_id: str) -> Response:
    return _page(request, "trace", "Trace", trace_id=trace_id)


@router.get("/cost")
async def cost(request: Request) -> Response:
    return _page(request, "cost", "Cost")


@router.get("/ml")
async def ml(request: Request) -> Response:
    return _page(request, "ml", "ML models")


@router.get("/alerts")
async def alerts(request: Request) -> Response:
    return _page(request, "alerts", "Alerts")


@router.get("/logs")
async def logs(request: Request) -> Response:
    return _page(request, "logs", "Logs")


@router.get("/keys")
async def keys(request: Request) -> Response:
    return _page(request, "keys", "Keys")


@router.get("/settings")
async def settings(request: Request) -> Response:
    return _page(request, "settings", "Settings")


UI_PATHS = ["/", "/llm", "/llm/x", "/traces/x", *[p for _, p, _ in PAGES[2:]]]
"""Every HTML route that needs a session (the security tests walk it)."""


def install_ui(app: FastAPI) -> None:
    """Mount the UI on `app`: sessions, the session-to-token middleware, pages, static files."""
    app.state.ui_sessions = Sessions()
    app.add_middleware(SessionMiddleware)
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="ui-static")
