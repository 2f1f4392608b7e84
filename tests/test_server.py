"""A real `vigil serve` process: health, OpenAPI, ingest, errors, logs, SIGTERM and SIGHUP."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import duckdb
import httpx

from conftest import ADMIN_TOKEN, VigilProcess


def test_health_readiness_and_openapi(vigil: VigilProcess) -> None:
    assert httpx.get(vigil.url + "/healthz").json()["status"] == "ok"
    assert httpx.get(vigil.url + "/readyz").json() == {"status": "ready"}
    schema = httpx.get(vigil.url + "/openapi.json").json()
    assert {"/healthz", "/readyz", "/api/v1/events", "/metrics"} <= set(schema["paths"])


def test_events_are_validated_one_by_one(vigil: VigilProcess) -> None:
    batch: list[Any] = [
        {"kind": "llm_call", "id": "c1", "model": "gpt-4o", "input_tokens": 12, "output_tokens": 3},
        {"kind": "prediction", "id": "p1", "model": "churn", "features": {"a": 1}, "prediction": 1},
        {
            "kind": "label",
            "id": "l1",
            "prediction_id": "p1",
            "label": 1,
            "ts": "2026-11-20T10:00:00Z",
        },
        {"kind": "feedback", "call_id": "c1", "score": 1.0, "comment": "good"},
        {"kind": "llm_call", "model": "x", "input_tokens": "many"},
        {"kind": "nope"},
        "not an object",
        {"kind": "prediction", "model": "m", "unknown_field": 1},
    ]
    resp = httpx.post(vigil.url + "/api/v1/events", json=batch, headers=vigil.headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["accepted"] == 4
    rejected = {r["index"]: r["reason"] for r in body["rejected"]}
    assert set(rejected) == {4, 5, 6, 7}
    assert "input_tokens" in rejected[4]
    assert "kind must be one of" in rejected[5]
    assert "unknown_field" in rejected[7]
    metrics = httpx.get(vigil.url + "/metrics").text
    assert 'vigil_ingest_events_total{kind="llm_call"} 1.0' in metrics
    assert "vigil_pipeline_queue_depth" in metrics
    assert vigil.stop() == 0
    con = duckdb.connect(str(vigil.store_path), read_only=True)
    assert con.execute("SELECT id, input_tokens FROM llm_calls").fetchall() == [("c1", 12)]
    assert con.execute("SELECT prediction_id, label FROM labels").fetchall() == [("p1", "1")]
    con.close()


def test_errors_are_precise(vigil: VigilProcess) -> None:
    url = vigil.url + "/api/v1/events"
    no_auth = httpx.post(url, json=[])
    assert no_auth.status_code == 401
    assert no_auth.json()["error"]["code"] == "unauthorized"
    wrong = httpx.post(url, json=[], headers={"authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    bad_json = httpx.post(url, content=b"[{", headers=vigil.headers)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    not_list = httpx.post(url, json={"kind": "llm_call"}, headers=vigil.headers)
    assert not_list.status_code == 400
    huge = httpx.post(url, content=b"[" + b" " * (11 * 1024 * 1024) + b"]", headers=vigil.headers)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"
    missing = httpx.get(vigil.url + "/no/such/path")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_logs_are_json_lines_without_secrets(vigil: VigilProcess) -> None:
    httpx.post(vigil.url + "/api/v1/events", json=[], headers=vigil.headers)
    vigil.stop()
    lines = [line for line in vigil.logs().splitlines() if line.startswith("{")]
    assert lines, vigil.logs()
    for line in lines:
        event = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(event)
    assert ADMIN_TOKEN not in vigil.logs()
    assert any(json.loads(line)["msg"] == "vigil stopped" for line in lines)


def test_sigterm_flushes_queued_writes(vigil: VigilProcess) -> None:
    with httpx.Client() as client:
        for i in range(20):
            batch = [{"kind": "llm_call", "id": f"{i}-{j}", "model": "m"} for j in range(50)]
            assert (
                client.post(
                    vigil.url + "/api/v1/events", json=batch, headers=vigil.headers
                ).status_code
                == 200
            )
    assert vigil.stop() == 0
    assert "leaked" not in vigil.logs()  # frozen GC objects are released before exit
    con = duckdb.connect(str(vigil.store_path), read_only=True)
    assert con.execute("SELECT count(*) FROM llm_calls").fetchone() == (1000,)
    con.close()


def test_sighup_reloads_and_keeps_the_old_config_when_broken(vigil: VigilProcess) -> None:
    broken = dict(vigil.config, server={**vigil.config["server"], "port": "not-a-port"})
    vigil.write_config(broken)
    vigil.signal(signal.SIGHUP)
    _wait_for_log(vigil, "server.port")
    assert httpx.get(vigil.url + "/healthz").status_code == 200  # still serving on the old config

    good = dict(vigil.config, server={**vigil.config["server"], "log_level": "debug"})
    vigil.write_config(good)
    vigil.signal(signal.SIGHUP)
    _wait_for_log(vigil, "config reloaded")
    assert httpx.get(vigil.url + "/healthz").status_code == 200


def _wait_for_log(vigil: VigilProcess, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in vigil.logs():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged:\n{vigil.logs()}")


def test_refuses_a_store_from_a_newer_vigil(vigil_factory: Any) -> None:
    proc = vigil_factory()
    proc.stop()
    con = duckdb.connect(str(proc.store_path))
    con.execute("UPDATE vigil_meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    try:
        proc.start(timeout=10)
    except RuntimeError as exc:
        assert "newer than this Vigil understands" in str(exc)
    else:
        raise AssertionError("vigil started on a store from the future")
    assert proc.proc is not None and proc.proc.returncode == 2
