"""UI and admin API security: no access without a session or token, CSRF on every state change,
HttpOnly/SameSite=Strict session cookies, viewers read-only, and no secret in pages or logs."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from conftest import ADMIN_TOKEN, VigilProcess
from vigil.ui.routes import UI_PATHS

PROVIDER_SECRET = "sk-provider-secret-never-shown-77"
BOOT_KEY = "vk-bootstrap-key-never-shown-0123456"
USER_PASSWORD = "viewer-password-never-shown"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import os

    os.environ["TEST_SEC_BOOT_KEY"] = BOOT_KEY
    proc = VigilProcess(
        tmp_path_factory.mktemp("security"),
        {
            "providers": {
                "p": {
                    "type": "openai",
                    "api_base": "http://127.0.0.1:9",
                    "api_key": PROVIDER_SECRET,
                }
            },
            "models": {"m": {"deployments": [{"provider": "p", "model": "m"}]}},
            "keys": [{"alias": "boot", "key": "env:TEST_SEC_BOOT_KEY"}],
            "ui": {
                "users": [
                    {"name": "viewer", "password": USER_PASSWORD, "role": "viewer"},
                    {"name": "ops", "password": "ops-password-123", "role": "admin"},
                ]
            },
        },
    ).start()
    yield proc
    proc.stop()


def login(proc: VigilProcess, **fields: str) -> httpx.Client:
    client = httpx.Client(base_url=proc.url, timeout=10)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    r = client.post("/login", data={"csrf": csrf.group(1), "next": "/", **fields})
    assert r.status_code == 303
    return client


def page_csrf(client: httpx.Client) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/settings").text)
    assert found is not None
    return found.group(1)


def test_every_ui_route_and_admin_api_refuses_anonymous(server: VigilProcess) -> None:
    for path in UI_PATHS:
        r = httpx.get(server.url + path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    spec = httpx.get(server.url + "/openapi.json").json()
    checked = 0
    for path, methods in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in methods:
            r = httpx.request(method.upper(), server.url + concrete, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            checked += 1
    assert checked >= 20
    for path in ("/api/v1/ui/config", "/api/v1/calls", "/api/v1/ui/overview"):
        forged = httpx.get(server.url + path, cookies={"vigil_session": "forged"})
        assert forged.status_code == 401


def test_login_refused_with_wrong_credentials_or_without_the_form_token(
    server: VigilProcess,
) -> None:
    client = login(server, token="wrong-token")
    assert client.get("/").status_code == 303  # still anonymous
    client = login(server, user="viewer", password="nope")
    assert client.get("/").status_code == 303
    # a cross-site POST carries no login cookie: refused
    r = httpx.post(server.url + "/login", data={"csrf": "x", "token": ADMIN_TOKEN})
    assert r.status_code == 303 and "error=expired" in r.headers["location"]
    assert "vigil_session" not in r.cookies


def test_session_cookie_flags_and_logout(server: VigilProcess) -> None:
    client = httpx.Client(base_url=server.url)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    r = client.post("/login", data={"csrf": csrf.group(1), "token": ADMIN_TOKEN, "next": "/llm"})
    assert r.status_code == 303 and r.headers["location"] == "/llm"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("vigil_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={}).status_code == 403  # no CSRF token
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf": page_csrf(client)}).status_code == 303
    assert client.get("/").status_code == 303
    assert client.get("/api/v1/keys").status_code == 401


def test_state_changes_need_the_csrf_token(server: VigilProcess) -> None:
    client = login(server, token=ADMIN_TOKEN)
    assert client.get("/api/v1/keys").status_code == 200  # reads need only the session
    body = {"alias": "via-ui"}
    r = client.post("/api/v1/keys", json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = client.post("/api/v1/keys", json=body, headers={"x-csrf-token": "wrong"})
    assert r.status_code == 403
    csrf = page_csrf(client)
    r = client.post("/api/v1/keys", json=body, headers={"x-csrf-token": csrf})
    assert r.status_code == 201
    key_id = r.json()["id"]
    assert client.delete(f"/api/v1/keys/{key_id}").status_code == 403
    assert (
        client.delete(f"/api/v1/keys/{key_id}", headers={"x-csrf-token": csrf}).status_code == 200
    )


def test_config_users_and_viewer_is_read_only(server: VigilProcess) -> None:
    viewer = login(server, user="viewer", password=USER_PASSWORD)
    assert viewer.get("/keys").status_code == 200
    assert viewer.get("/api/v1/keys").status_code == 200
    csrf = page_csrf(viewer)
    r = viewer.post("/api/v1/keys", json={"alias": "nope"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    ops = login(server, user="ops", password="ops-password-123")
    r = ops.post(
        "/api/v1/keys", json={"alias": "ops-key"}, headers={"x-csrf-token": page_csrf(ops)}
    )
    assert r.status_code == 201


def test_no_secret_in_any_page_or_log(server: VigilProcess) -> None:
    client = login(server, token=ADMIN_TOKEN)
    secrets = [ADMIN_TOKEN, PROVIDER_SECRET, BOOT_KEY, USER_PASSWORD]
    bodies = [client.get(p).text for p in UI_PATHS]
    for api in ("/api/v1/ui/config", "/api/v1/keys", "/api/v1/ui/overview", "/api/v1/calls"):
        bodies.append(client.get(api).text)
    for static in ("core.js", "keys.js", "app.css"):
        bodies.append(client.get(f"/ui/static/{static}").text)
    assert "********" in bodies[len(UI_PATHS)]  # the config page masks, it does not drop
    for body in bodies:
        for secret in secrets:
            assert secret not in body
    for response in (client.get("/"), client.get("/login")):
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]
    logs = server.logs()
    assert "ui login" in logs
    for secret in secrets:
        assert secret not in logs
