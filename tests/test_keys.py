"""Virtual keys: created once through the CLI, hashed at rest, revoked at once, kept on restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import openai
import pytest

from conftest import ADMIN_TOKEN, VigilProcess
from gateway_env import gateway_config
from vigil.sim import SimServer


@pytest.fixture
def gw(tmp_path: Any) -> Iterator[VigilProcess]:
    with SimServer(profile="bench") as sim:
        proc = VigilProcess(tmp_path, gateway_config(sim))
        proc.start()
        yield proc
        proc.stop()


def keys_cli(gw: VigilProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_URL": gw.url, "VIGIL_ADMIN_TOKEN": ADMIN_TOKEN}
    return subprocess.run(
        [sys.executable, "-m", "vigil", "keys", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def chat(gw: VigilProcess, key: str, model: str = "gpt-4o-mini") -> Any:
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def test_create_use_list_revoke(gw: VigilProcess) -> None:
    made = keys_cli(
        gw,
        "create",
        "--alias",
        "ci-bot",
        "--models",
        "gpt-4o-mini",
        "--rpm",
        "100",
        "--budget-usd",
        "5",
        "--budget-period",
        "daily",
        "--team",
        "platform",
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("vk-") and len(key) > 40
    assert "will not be shown again" in made.stderr
    assert chat(gw, key).choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):
        chat(gw, key, "claude")

    listed = keys_cli(gw, "list")
    assert listed.returncode == 0 and "ci-bot" in listed.stdout
    assert key not in listed.stdout and key not in gw.logs()
    api = httpx.get(gw.url + "/api/v1/keys", headers=gw.headers).json()["keys"]
    mine = next(k for k in api if k["alias"] == "ci-bot")
    assert "key" not in mine and "key_hash" not in mine and mine["rpm"] == 100

    assert keys_cli(gw, "create", "--alias", "ci-bot").returncode == 2  # alias in use

    revoked = keys_cli(gw, "revoke", mine["id"])
    assert revoked.returncode == 0, revoked.stderr
    started = time.monotonic()
    with pytest.raises(openai.AuthenticationError):
        chat(gw, key)
    assert time.monotonic() - started < 1.0


def test_keys_are_hashed_at_rest_and_survive_restart(gw: VigilProcess) -> None:
    created = httpx.post(gw.url + "/api/v1/keys", json={"alias": "durable"}, headers=gw.headers)
    assert created.status_code == 201
    key = created.json()["key"]
    gw.stop()
    con = duckdb.connect(str(gw.store_path), read_only=True)
    rows = con.execute("SELECT * FROM virtual_keys").fetchall()
    audit = con.execute("SELECT action FROM audit_log").fetchall()
    con.close()
    assert rows and all(key not in str(row) for row in rows)
    assert ("key.create",) in audit
    gw.start()
    assert chat(gw, key).choices[0].message.content


def test_admin_api_requires_the_admin_token(gw: VigilProcess) -> None:
    assert httpx.get(gw.url + "/api/v1/keys").status_code == 401
    bad = httpx.post(
        gw.url + "/api/v1/keys", json={"alias": "x", "models": ["nope"]}, headers=gw.headers
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_model"
    assert httpx.delete(gw.url + "/api/v1/keys/cfg-user", headers=gw.headers).status_code == 409
    assert httpx.delete(gw.url + "/api/v1/keys/nope", headers=gw.headers).status_code == 404
