"""`POST /api/v1/events` on a real `vigil serve`: formats, atomic batches, idempotency, errors."""

from __future__ import annotations

import gzip
import json
from typing import Any

import duckdb
import httpx
import orjson

from conftest import VigilProcess

PRICED = {
    "providers": {"sim": {"type": "openai", "api_base": "http://127.0.0.1:9/v1"}},
    "models": {
        "priced-model": {
            "deployments": [{"provider": "sim", "model": "upstream-x"}],
            "price": {"input_per_mtok": 2.0, "output_per_mtok": 10.0},
        }
    },
}


def _rows(proc: VigilProcess, sql: str) -> list[tuple[Any, ...]]:
    assert proc.stop() == 0
    con = duckdb.connect(str(proc.store_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _post(proc: VigilProcess, body: bytes, path: str = "/api/v1/events", **headers: str) -> Any:
    return httpx.post(proc.url + path, content=body, headers={**proc.headers, **headers})


def test_ndjson_gzip_and_bad_lines(vigil: VigilProcess) -> None:
    lines = [
        orjson.dumps({"kind": "feedback", "id": "f1", "trace_id": "t1", "score": 1}),
        b"{not json",
        b"",
        orjson.dumps({"kind": "label", "id": "l1", "prediction_id": "p9", "label": "yes"}),
    ]
    body = gzip.compress(b"\n".join(lines))
    resp = _post(
        vigil, body, **{"content-type": "application/x-ndjson", "content-encoding": "gzip"}
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["accepted"] == 2
    assert [(r["index"], r["kind"]) for r in out["rejected"]] == [(1, None)]
    assert "not valid JSON" in out["rejected"][0]["reason"]
    # JSON array, gzip, and the {"events": [...]} envelope
    env = gzip.compress(orjson.dumps({"events": [{"kind": "feedback", "id": "f2", "score": 0}]}))
    resp = _post(vigil, env, **{"content-type": "application/json", "content-encoding": "gzip"})
    assert resp.json()["accepted"] == 1
    assert _rows(vigil, "SELECT id FROM feedback ORDER BY id") == [("f1",), ("f2",)]


def test_atomic_batches_store_all_or_nothing(vigil: VigilProcess) -> None:
    good = {"kind": "feedback", "id": "a1", "score": 1}
    bad = {"kind": "feedback", "id": "a2", "score": "excellent"}
    url = vigil.url + "/api/v1/events?atomic=true"
    resp = httpx.post(url, json=[good, bad], headers=vigil.headers)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "rejected_events"
    assert [r["index"] for r in err["details"]["rejected"]] == [1]
    resp = httpx.post(url, json=[good], headers=vigil.headers)
    assert resp.status_code == 200 and resp.json()["accepted"] == 1
    assert _rows(vigil, "SELECT id FROM feedback") == [("a1",)]


def test_duplicate_ids_are_idempotent_across_restarts(vigil: VigilProcess) -> None:
    batch = [
        {"kind": "llm_call", "id": f"c{i}", "model": "gpt-4o", "input_tokens": i} for i in range(50)
    ]
    batch.append(dict(batch[0]))  # repeated inside the batch
    first = httpx.post(vigil.url + "/api/v1/events", json=batch, headers=vigil.headers).json()
    assert first == {"accepted": 51, "duplicates": 1, "flagged": 0, "rejected": []}
    again = httpx.post(vigil.url + "/api/v1/events", json=batch, headers=vigil.headers).json()
    assert again["accepted"] == 51 and again["duplicates"] == 51
    vigil.kill()  # the window is rebuilt from the store at start-up
    vigil.start()
    retry = httpx.post(vigil.url + "/api/v1/events", json=batch[:10], headers=vigil.headers)
    assert retry.json()["duplicates"] == 10
    # ids are per kind: the same id as a feedback is a different event
    other = [{"kind": "feedback", "id": "c1", "score": 1}]
    assert (
        httpx.post(vigil.url + "/api/v1/events", json=other, headers=vigil.headers).json()[
            "duplicates"
        ]
        == 0
    )
    assert _rows(vigil, "SELECT count(*), count(DISTINCT id) FROM llm_calls") == [(50, 50)]


def test_llm_call_cost_from_price_table(vigil_factory: Any) -> None:
    proc = vigil_factory(PRICED)
    events = [
        {
            "kind": "llm_call",
            "id": "x1",
            "model": "priced-model",
            "input_tokens": 1000,
            "output_tokens": 100,
        },
        {
            "kind": "llm_call",
            "id": "x2",
            "model": "priced-model",
            "input_tokens": 1000,
            "cost_usd": 0.5,
        },
        {"kind": "llm_call", "id": "x3", "model": "gpt-4o-mini", "input_tokens": 1_000_000},
    ]
    resp = httpx.post(proc.url + "/api/v1/events", json=events, headers=proc.headers)
    assert resp.json()["accepted"] == 3
    metrics = httpx.get(proc.url + "/metrics").text
    assert 'vigil_requests_total{model="priced-model",provider="",status_code="200"} 2.0' in metrics
    rows = dict(_rows(proc, "SELECT id, cost_usd FROM llm_calls"))
    assert abs(rows["x1"] - (1000 * 2 + 100 * 10) / 1e6) < 1e-12
    assert rows["x2"] == 0.5
    assert rows["x3"] > 0  # bundled list price of a well-known model
    assert _rows(proc, "SELECT DISTINCT source FROM llm_calls") == [("ingest",)]


def test_schema_flags_and_unknown_models(vigil_factory: Any) -> None:
    proc = vigil_factory(
        {
            "ml_models": {
                "churn": {"task": "binary", "features": {"age": "numerical", "plan": "categorical"}}
            }
        }
    )
    events = [
        {
            "kind": "prediction",
            "id": "p1",
            "model": "churn",
            "features": {"age": 3, "plan": "a"},
            "prediction": 1,
        },
        {
            "kind": "prediction",
            "id": "p2",
            "model": "churn",
            "features": {"age": "old", "x": 1},
            "prediction": 0,
            "schema_issues": "forged",
        },
        {"kind": "prediction", "id": "p3", "model": "chrun", "features": {}},
        {"kind": "label", "id": "l1", "prediction_id": "p1", "model": "chrun", "label": 1},
        {"kind": "label", "id": "l2", "prediction_id": "p1", "model": "churn", "label": 1},
    ]
    out = httpx.post(proc.url + "/api/v1/events", json=events, headers=proc.headers).json()
    assert out["accepted"] == 3 and out["flagged"] == 1
    reasons = {r["index"]: r["reason"] for r in out["rejected"]}
    assert set(reasons) == {2, 3} and "unknown ML model 'chrun'" in reasons[2]
    rows = dict(_rows(proc, "SELECT id, schema_issues FROM predictions"))
    assert rows["p1"] is None
    issues = {(i["feature"], i["check"]) for i in json.loads(rows["p2"])}
    assert issues == {("age", "wrong_type"), ("plan", "missing"), ("x", "unexpected")}


def test_bad_input_gets_precise_errors(vigil_factory: Any) -> None:
    proc = vigil_factory({"server": {"max_body_bytes": 4096}})
    cases: list[tuple[dict[str, str], bytes, int, str]] = [
        ({"content-type": "text/csv"}, b"a,b", 415, "unsupported_media_type"),
        ({"content-type": "application/json"}, b"[{", 400, "invalid_json"),
        ({"content-type": "application/json"}, b'{"x": 1}', 400, "invalid_request"),
        ({"content-encoding": "gzip"}, b"not gzip", 400, "invalid_body"),
        ({"content-encoding": "br"}, b"[]", 415, "unsupported_encoding"),
        ({}, b"[" + b" " * 5000 + b"]", 413, "body_too_large"),
        (
            {"content-encoding": "gzip"},
            gzip.compress(b"[" + b" " * 100_000 + b"]"),
            413,
            "body_too_large",
        ),
    ]
    for headers, body, status, code in cases:
        resp = _post(proc, body, **headers)
        assert resp.status_code == status, (headers, resp.text)
        assert resp.json()["error"]["code"] == code
    resp = httpx.post(proc.url + "/api/v1/events", json=[])
    assert resp.status_code == 401
    out = httpx.post(proc.url + "/api/v1/events", json=[{"kind": "span"}, 3], headers=proc.headers)
    assert [r["index"] for r in out.json()["rejected"]] == [0, 1]
