"""End to end through a real `vigil serve`: the demo's traffic generator drifts the churn model's
inputs after a few seconds; the scheduled monitors must flag data drift in the first window after
the drift starts, and flag concept drift once the late labels of the drifted predictions land.
LLM calls, feedback and business metrics posted as events come back as quality signals."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import VigilProcess
from vigil.sim import churn
from vigil.sim.reference import write_reference
from vigil.sim.traffic import TrafficOptions, run_traffic

WINDOW_S = 5
DRIFT_AFTER_S = 12.0
FEATURES = {f: "numerical" for f in churn.NUMERICAL} | {f: "categorical" for f in churn.CATEGORICAL}


def _config(reference: Path) -> dict[str, Any]:
    return {
        "ml_models": {
            churn.MODEL: {
                "task": "binary",
                "features": FEATURES,
                "reference": str(reference),
                "positive_class": "1",
            }
        },
        "monitors": {
            "interval": "1s",
            "window": f"{WINDOW_S}s",
            "windows": 12,
            "performance_lookback": "10m",
            "concept_threshold": 25,
            # Distance methods (Wasserstein, Jensen-Shannon at 0.1, Evidently's defaults) are
            # noisy on a partial first window of ~150 rows: judge only windows of 200 or more.
            "min_rows": 200,
        },
    }


def _get(vigil: VigilProcess, path: str, **params: Any) -> Any:
    r = httpx.get(vigil.url + path, headers=vigil.headers, params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC)


async def _until(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.5)
    return None


async def test_demo_drift_and_concept_drift_are_detected(
    vigil_factory: Any, tmp_path: Path
) -> None:
    reference = write_reference(tmp_path / "reference.csv", n=5000)
    vigil: VigilProcess = vigil_factory(_config(reference))
    opts = TrafficOptions(
        vigil_url=vigil.url,
        admin_token=vigil.headers["authorization"].split()[1],
        openai_base_url="http://127.0.0.1:9/v1",
        anthropic_base_url="http://127.0.0.1:9",
        llm_rps=0,
        ml_rps=50,
        label_delay_s=(1.0, 3.0),
        drift_after_s=DRIFT_AFTER_S,
        seed=7,
        flush_interval_s=0.2,
    )
    stop = asyncio.Event()
    started = datetime.now(UTC)
    traffic = asyncio.create_task(run_traffic(opts, stop))
    drift_at = started + timedelta(seconds=DRIFT_AFTER_S)
    first = datetime.fromtimestamp(
        (int(drift_at.timestamp()) // WINDOW_S + 1) * WINDOW_S, UTC
    )  # the first whole window after the drift starts

    def data_drift_of_first_window() -> dict[str, Any] | None:
        if datetime.now(UTC) < first + timedelta(seconds=WINDOW_S):
            return None
        points = _get(
            vigil, f"/api/v1/monitors/{churn.MODEL}/history", monitor="dataset_drift", limit=2000
        )["points"]
        closed = [
            p
            for p in points
            if _ts(p["window_start"]) == first
            and _ts(p["ts"]) >= first + timedelta(seconds=WINDOW_S)
        ]
        return closed[0] if closed else None

    def concept() -> dict[str, Any] | None:
        body = _get(vigil, f"/api/v1/monitors/{churn.MODEL}", monitor="concept_drift")
        rows = body["monitors"].get("concept_drift", [])
        return rows[0] if rows and rows[0]["flagged"] else None

    accuracies: list[float] = []

    def decayed() -> bool:
        """The latest window with realized labels shows the drop (the simulated relation decays
        after the drift, so the first labelled windows after it can still be near 0.7)."""
        run = _get(vigil, f"/api/v1/monitors/{churn.MODEL}")["run"]
        accuracy = run["summary"]["latest_realized"].get("accuracy")
        if accuracy is not None:
            accuracies.append(accuracy)
        return accuracy is not None and accuracy < 0.68

    try:
        drift = await _until(data_drift_of_first_window, DRIFT_AFTER_S + 3 * WINDOW_S + 10)
        assert drift is not None, vigil.logs()[-3000:]
        assert drift["flagged"], drift
        concept_row = await _until(concept, 40)
        accuracy_dropped = await _until(decayed, 30)
    finally:
        stop.set()
        await asyncio.wait_for(traffic, 30)
    assert concept_row is not None, "concept drift was not flagged"
    alarm = concept_row["details"]["alarms"][0]
    assert _ts(alarm["detected_at"]) >= drift_at - timedelta(seconds=1)
    assert _ts(alarm["change_at"]) >= drift_at - timedelta(seconds=WINDOW_S)
    assert alarm["excess_error_after"] > alarm["excess_error_before"] + 0.1

    latest = await asyncio.to_thread(_get, vigil, f"/api/v1/monitors/{churn.MODEL}")
    windows = latest["monitors"]["dataset_drift"]
    before = [w for w in windows if _ts(w["window_end"]) <= drift_at]
    assert before, "no window before the drift"
    summary = [(w["window_start"], w["value"], w["current_size"], w["details"]) for w in before]
    assert not any(w["flagged"] for w in before), summary
    assert accuracy_dropped, f"latest realized accuracy never fell below 0.68: {accuracies}"
    metrics = (await asyncio.to_thread(httpx.get, vigil.url + "/metrics", timeout=10)).text
    assert f'vigil_concept_drift_detected{{model="{churn.MODEL}"}} 1.0' in metrics
    assert f'vigil_dataset_drift_share{{model="{churn.MODEL}"}}' in metrics
    listing = await asyncio.to_thread(_get, vigil, "/api/v1/monitors")
    assert churn.MODEL in {m["model"] for m in listing["models"]}


def _post(vigil: VigilProcess, events: list[dict[str, Any]]) -> None:
    r = httpx.post(vigil.url + "/api/v1/events", json=events, headers=vigil.headers, timeout=10)
    assert r.status_code == 200 and not r.json()["rejected"], r.text


def test_llm_quality_and_business_metrics_through_the_api(vigil_factory: Any) -> None:
    vigil: VigilProcess = vigil_factory({"monitors": {"interval": "1h", "window": "5m"}})
    now = datetime.now(UTC)
    calls: list[dict[str, Any]] = []
    for i in range(10):
        meta: dict[str, Any] = {"finish_reason": "length" if i < 2 else "stop"}
        if i == 2:
            meta["output_text"] = "I'm sorry, but I can't help with that."
        if i in (3, 4):
            meta |= {
                "response_format": "json_object",
                "output_text": '{"ok": true' if i == 3 else "{}",
            }
        calls.append(
            {
                "kind": "llm_call",
                "id": f"call-{i}",
                "ts": (now - timedelta(seconds=30)).isoformat(),
                "model": "gpt-sim",
                "status_code": 500 if i == 9 else 200,
                "error_type": "upstream" if i == 9 else None,
                "output_tokens": 0 if i == 5 else 100,
                "cost_usd": 0.01,
                "metadata": meta,
            }
        )
    feedback = [
        {"kind": "feedback", "call_id": "call-0", "score": 1.0},
        {"kind": "feedback", "call_id": "call-1", "score": 0.0},
    ]
    # Six earlier 5-minute windows with a click-through rate near 0.1, then a collapse to 0.02.
    metrics = [
        {
            "kind": "metric",
            "name": "ctr",
            "value": 0.1 + 0.002 * (k % 3),
            "ts": (now - timedelta(minutes=5 * k + 7)).isoformat(),
        }
        for k in range(6)
    ] + [{"kind": "metric", "name": "ctr", "value": 0.02, "ts": now.isoformat()}]
    _post(vigil, calls + feedback + metrics)
    r = httpx.post(vigil.url + "/api/v1/monitors/run", headers=vigil.headers, timeout=30)
    assert r.status_code == 200, r.text
    llm = _get(vigil, "/api/v1/monitors/gpt-sim")
    signals = {row["metric"]: row["value"] for row in llm["monitors"]["llm_quality"]}
    assert signals["calls"] == 10
    assert signals["error_rate"] == pytest.approx(0.1)
    assert signals["truncation_rate"] == pytest.approx(2 / 9)
    assert signals["refusal_rate"] == pytest.approx(1 / 9)
    assert signals["empty_response_rate"] == pytest.approx(1 / 9)
    assert signals["invalid_json_rate"] == pytest.approx(0.5)
    assert signals["feedback_score"] == pytest.approx(0.5)
    assert signals["cost_per_success"] == pytest.approx(0.1 / 9)
    business = _get(vigil, "/api/v1/monitors/_business")["monitors"]["business"]
    anomaly = next(row for row in business if row["metric"] == "anomaly")
    assert anomaly["feature"] == "ctr" and anomaly["flagged"]
    text = httpx.get(vigil.url + "/metrics", timeout=10).text
    assert 'vigil_llm_quality{model="gpt-sim",signal="refusal_rate"}' in text
    assert 'vigil_business_metric{model="_business",name="ctr",stat="anomaly"} 1.0' in text
    missing = httpx.get(vigil.url + "/api/v1/monitors/nope", headers=vigil.headers, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert httpx.get(vigil.url + "/api/v1/monitors", timeout=10).status_code == 401
