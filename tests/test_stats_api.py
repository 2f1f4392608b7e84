"""`/api/v1/stats` and `/api/v1/stats/models` on a real `vigil serve`: exact numbers."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest

from conftest import VigilProcess

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _calls(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """`n` calls over 10 minutes, two models, known status codes and skewed latencies."""
    rng = random.Random(seed)
    calls = []
    for i in range(n):
        model = "gpt-4o" if i % 3 else "claude-haiku"
        status, error = 200, None
        roll = rng.random()
        if roll < 0.05:
            status = 429
        elif roll < 0.08:
            status = 500
        elif roll < 0.10:
            status = 400
        elif roll < 0.12:
            status, error = 504, "timeout"
        calls.append(
            {
                "kind": "llm_call",
                "ts": _iso(T0 + timedelta(seconds=rng.uniform(0, 600))),
                "model": model,
                "provider": "openai" if model == "gpt-4o" else "anthropic",
                "key_id": f"key-{i % 4}",
                "team": "search" if i % 2 else "ads",
                "status_code": status,
                "error_type": error,
                "input_tokens": rng.randint(10, 2000),
                "output_tokens": rng.randint(1, 800),
                "cost_usd": rng.uniform(0, 0.01),
                "duration_s": rng.lognormvariate(0, 1),
                "ttft_s": rng.uniform(0.05, 1.5) if i % 2 else None,
            }
        )
    return calls


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    proc = VigilProcess(tmp_path_factory.mktemp("stats"))
    proc.start()
    calls = _calls(3000)
    for start in range(0, len(calls), 1000):
        resp = httpx.post(
            proc.url + "/api/v1/events", json=calls[start : start + 1000], headers=proc.headers
        )
        assert resp.json()["accepted"] == 1000
    yield proc, calls
    proc.stop()


def _get(proc: VigilProcess, path: str, **params: Any) -> httpx.Response:
    return httpx.get(proc.url + path, params=params, headers=proc.headers, timeout=30)


def points(series: dict[str, Any]) -> list[dict[str, Any]]:
    """A columnar series (parallel arrays) -> one dict per bucket, same keys."""

    def pick(value: Any, i: int) -> Any:
        return {k: pick(v, i) for k, v in value.items()} if isinstance(value, dict) else value[i]

    columns = {k: v for k, v in series.items() if k != "group"}
    return [pick(columns, i) for i in range(len(series["ts"]))]


def _close(a: float | None, b: float) -> bool:
    # numpy interpolates from the upper neighbour when the fraction is >= 0.5: last-bit rounding.
    return a is not None and math.isclose(a, b, rel_tol=1e-15, abs_tol=0.0)


def test_percentiles_equal_numpy_per_model(loaded: Any) -> None:
    proc, calls = loaded
    body = _get(
        proc, "/api/v1/stats", since=_iso(T0), until=_iso(T0 + timedelta(minutes=10))
    ).json()
    assert body["group_by"] == ["model"]
    by_model = {s["group"]["model"]: points(s) for s in body["series"]}
    assert set(by_model) == {"gpt-4o", "claude-haiku"}
    for model, pts in by_model.items():
        assert len(pts) == 1  # no bucket: one point over the whole range
        p = pts[0]
        mine = [c for c in calls if c["model"] == model]
        lat = np.array([c["duration_s"] for c in mine])
        ttft = np.array([c["ttft_s"] for c in mine if c["ttft_s"] is not None])
        for q in (50, 95, 99):
            assert _close(p["latency_s"][f"p{q}"], float(np.percentile(lat, q))), (model, q)
        for q in (50, 95):
            assert _close(p["ttft_s"][f"p{q}"], float(np.percentile(ttft, q))), (model, q)
        assert p["requests"] == len(mine)
        assert p["input_tokens"] == sum(c["input_tokens"] for c in mine)
        assert p["output_tokens"] == sum(c["output_tokens"] for c in mine)
        assert math.isclose(p["cost_usd"], sum(c["cost_usd"] for c in mine), rel_tol=1e-9)
        assert math.isclose(p["latency_s"]["avg"], float(lat.mean()), rel_tol=1e-12)
        expected = {
            "429": sum(c["status_code"] == 429 for c in mine),
            "5xx": sum(c["status_code"] == 500 for c in mine),
            "4xx": sum(c["status_code"] == 400 for c in mine),
            "timeout": sum(c["error_type"] == "timeout" for c in mine),
        }
        assert {k: p["errors"][k] for k in expected} == expected
        assert p["errors"]["total"] == sum(expected.values())
        assert math.isclose(p["error_rate"]["429"], expected["429"] / len(mine))
        assert math.isclose(p["throughput"]["requests_per_s"], len(mine) / 600)


def test_minute_buckets_group_by_key_and_team(loaded: Any) -> None:
    proc, calls = loaded
    since, until = T0 + timedelta(seconds=30), T0 + timedelta(minutes=5)
    body = _get(
        proc,
        "/api/v1/stats",
        since=_iso(since),
        until=_iso(until),
        bucket="1m",
        group_by="key,team",
        model="gpt-4o",
    ).json()
    assert body["bucket"] == "1m" and body["filters"] == {"model": "gpt-4o"}
    series = body["series"]
    assert {(s["group"]["key"], s["group"]["team"]) for s in series} == {
        (f"key-{i % 4}", "search" if i % 2 else "ads") for i in range(12) if i % 3
    }
    for s in series:
        key, team = s["group"]["key"], s["group"]["team"]
        pts = points(s)
        # first bucket clipped to `since`, later ones on minute boundaries
        assert pts[0]["ts"] == "2026-03-01T12:00:30Z"
        assert [p["ts"][14:16] for p in pts[1:]] == ["01", "02", "03", "04"]
        for p in pts:
            start = datetime.fromisoformat(p["ts"].replace("Z", "+00:00"))
            end = min(start.replace(second=0) + timedelta(minutes=1), until)
            mine = [
                c
                for c in calls
                if c["model"] == "gpt-4o"
                and c["key_id"] == key
                and c["team"] == team
                and start <= datetime.fromisoformat(c["ts"].replace("Z", "+00:00")) < end
            ]
            assert p["requests"] == len(mine)
            lat = np.array([c["duration_s"] for c in mine])
            assert _close(p["latency_s"]["p95"], float(np.percentile(lat, 95)))
            seconds = (end - start).total_seconds()
            assert math.isclose(p["throughput"]["requests_per_s"], len(mine) / seconds)


def test_relative_range_and_empty_result(loaded: Any) -> None:
    proc, _ = loaded
    body = _get(proc, "/api/v1/stats", since="1h", group_by="").json()
    assert body["series"] == [] and body["group_by"] == []
    body = _get(
        proc, "/api/v1/stats", since="15m", until=_iso(T0 + timedelta(minutes=10)), group_by=""
    ).json()
    assert body["since"] == "2026-03-01T11:55:00Z"
    assert body["series"][0]["group"] == {} and body["series"][0]["requests"] == [3000]


def test_model_comparison(loaded: Any) -> None:
    proc, calls = loaded
    body = _get(
        proc, "/api/v1/stats/models", since=_iso(T0), until=_iso(T0 + timedelta(hours=1))
    ).json()
    rows = {r["model"]: r for r in body["models"]}
    assert [r["model"] for r in body["models"]] == ["gpt-4o", "claude-haiku"]  # busiest first
    for model, row in rows.items():
        mine = [c for c in calls if c["model"] == model]
        ok = [c for c in mine if c["status_code"] < 400]
        cost = sum(c["cost_usd"] for c in mine)
        tokens = sum(c["input_tokens"] + c["output_tokens"] for c in mine)
        assert math.isclose(row["success_rate"], len(ok) / len(mine))
        assert math.isclose(row["cost_per_request_usd"], cost / len(mine), rel_tol=1e-9)
        assert math.isclose(row["usd_per_million_tokens"], cost * 1e6 / tokens, rel_tol=1e-9)
        lat = np.array([c["duration_s"] for c in mine])
        assert _close(row["p95_latency_s"], float(np.percentile(lat, 95)))
        assert math.isclose(row["avg_latency_s"], float(lat.mean()), rel_tol=1e-12)
        assert row["list_price"] is None  # not a configured model


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "since"),
        ({"bucket": "fast"}, "bucket"),
        ({"bucket": "100ms"}, "bucket"),
        ({"since": "30d", "bucket": "1s"}, "bucket"),
        ({"group_by": "model,region"}, "group_by"),
    ],
)
def test_bad_parameters_are_400(loaded: Any, params: dict[str, str], param: str) -> None:
    proc, _ = loaded
    resp = _get(proc, "/api/v1/stats", **params)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_parameter" and error["details"]["param"] == param
    assert error["message"]


def test_stats_need_the_admin_token(loaded: Any) -> None:
    proc, _ = loaded
    for path in ("/api/v1/stats", "/api/v1/stats/models"):
        resp = httpx.get(proc.url + path)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
