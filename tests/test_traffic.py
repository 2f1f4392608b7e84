"""The demo traffic generator posts valid events to Vigil and survives a busy or absent Vigil."""

from __future__ import annotations

import asyncio
import csv
import socket
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from vigil.records import CallRecord, Label, Prediction
from vigil.sim import SimServer, load_profile
from vigil.sim.churn import FEATURES
from vigil.sim.reference import write_reference
from vigil.sim.traffic import TrafficOptions, run_traffic

RECORDS = {"llm_call": CallRecord, "prediction": Prediction, "label": Label}


class StubVigil:
    """Stands in for `POST /api/v1/events`: answers 503 first, then records accepted batches."""

    def __init__(self) -> None:
        self.attempts: list[float] = []
        self.batches: list[list[dict[str, Any]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        assert request.headers["authorization"] == "Bearer admin-token"
        body = await request.json()
        assert isinstance(body, list) and body
        self.attempts.append(time.monotonic())
        if len(self.attempts) == 1:
            return web.json_response(
                {"error": {"code": "busy", "message": "queue full", "details": None}},
                status=503,
                headers={"retry-after": "1"},
            )
        self.batches.append(body)
        return web.json_response({"accepted": len(body), "rejected": []})

    async def __aenter__(self) -> StubVigil:
        app = web.Application()
        app.router.add_post("/api/v1/events", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _record(event: dict[str, Any]) -> Any:
    fields = {k: v for k, v in event.items() if k != "kind"}
    fields["ts"] = datetime.fromisoformat(fields["ts"])
    assert fields["ts"].utcoffset() is not None and fields["ts"].utcoffset().total_seconds() == 0
    return RECORDS[event["kind"]](**fields)


async def test_generator_posts_valid_events_and_retries() -> None:
    profile = replace(load_profile("default", seed=5), time_scale=0.05)
    async with StubVigil() as vigil, SimServer(profile) as sim:
        opts = TrafficOptions(
            vigil_url=vigil.url,
            admin_token="admin-token",
            openai_base_url=sim.openai_base_url,
            anthropic_base_url=sim.anthropic_base_url,
            llm_rps=20.0,
            ml_rps=40.0,
            label_delay_s=(0.1, 0.8),
            drift_after_s=1.5,
            seed=11,
            flush_interval_s=0.2,
            stop_grace_s=2.0,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_traffic(opts, stop))
        await asyncio.sleep(4.0)
        stop.set()
        await asyncio.wait_for(task, 15)

    assert len(vigil.attempts) >= 2 and vigil.attempts[1] - vigil.attempts[0] >= 0.9
    seen_predictions: set[str] = set()
    calls: list[CallRecord] = []
    predictions: list[Prediction] = []
    labels = 0
    for batch in vigil.batches:
        for event in batch:
            record = _record(event)
            if isinstance(record, Prediction):
                seen_predictions.add(record.id)
                predictions.append(record)
            elif isinstance(record, Label):
                assert record.prediction_id in seen_predictions  # labels follow predictions
                assert record.model == "churn-classifier" and record.label in (0, 1)
                labels += 1
            else:
                calls.append(record)
    assert len(calls) >= 30 and len(predictions) >= 80 and labels >= 40

    providers = {c.provider for c in calls}
    assert providers == {"openai", "anthropic"}
    assert {c.stream for c in calls} == {True, False}
    ok = [c for c in calls if c.error_type is None]
    assert len(ok) >= 0.7 * len(calls)
    for call in calls:
        assert call.source == "ingest" and call.model and call.key_id and call.team and call.user
        assert call.duration_s >= 0 and call.status_code > 0
        assert (call.status_code == 200) == (call.error_type is None)
    for call in ok:
        assert call.input_tokens > 0 and call.cost_usd > 0 and call.request_id
        assert call.output_tokens > 0 or call.metadata["kind"] == "embedding"
        if call.stream:
            assert call.ttft_s is not None and 0 <= call.ttft_s <= call.duration_s
    assert any(c.cached_input_tokens > 0 for c in ok)  # the support bot's long system prompt

    for p in predictions:
        assert p.model == "churn-classifier" and p.model_version == "v1"
        assert set(p.features) == set(FEATURES)
        assert p.prediction in (0, 1) and p.score is not None and 0 <= p.score <= 1
        assert p.prediction == int(p.score >= 0.5)
    early = [p.features["monthly_charges"] for p in predictions[:40]]
    late = [p.features["monthly_charges"] for p in predictions[-40:]]
    assert sum(late) / len(late) > sum(early) / len(early) + 8  # the drift


async def test_via_gateway_and_unreachable_vigil() -> None:
    """Through a gateway no llm_call is posted; an unreachable Vigil never crashes the generator."""
    async with SimServer("bench") as sim:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        sock.close()
        opts = TrafficOptions(
            vigil_url=dead_url,
            admin_token="t",
            openai_base_url="http://127.0.0.1:9/v1",
            anthropic_base_url="http://127.0.0.1:9",
            via_gateway_url=sim.openai_base_url,
            gateway_key="vk-test",
            llm_rps=30.0,
            ml_rps=5.0,
            seed=1,
            flush_interval_s=0.1,
            drain_timeout_s=0.3,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_traffic(opts, stop))
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.wait_for(task, 10)
        assert sim.state_openai.requests > 5
        assert sim.state_anthropic.requests == 0


def test_reference_dataset(tmp_path: Path) -> None:
    path = write_reference(tmp_path / "ref" / "churn.csv", n=2000, seed=3)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2000
    assert set(rows[0]) == {*FEATURES, "label", "prediction", "score"}
    positives = sum(int(r["label"]) for r in rows) / len(rows)
    accuracy = sum(r["label"] == r["prediction"] for r in rows) / len(rows)
    assert 0.2 < positives < 0.45 and accuracy > 0.68
    assert write_reference(tmp_path / "again.csv", n=2000, seed=3).read_text() == path.read_text()


@pytest.mark.parametrize("status", [429, 503])
async def test_sink_honours_retry_after(status: int) -> None:
    from aiohttp import ClientSession

    from vigil.sim.events import EventSink

    attempts: list[float] = []

    async def handle(request: web.Request) -> web.Response:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            return web.Response(status=status, headers={"retry-after": "0.3"})
        return web.json_response({"accepted": 1, "rejected": [{"index": 1, "reason": "bad kind"}]})

    app = web.Application()
    app.router.add_post("/api/v1/events", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        async with ClientSession() as session:
            sink = EventSink(session, f"http://127.0.0.1:{sock.getsockname()[1]}", "t")
            sink.add({"kind": "label"})
            sink.add({"kind": "bogus"})
            stop = asyncio.Event()
            stop.set()
            await sink.run(stop)
        assert len(attempts) == 2 and attempts[1] - attempts[0] >= 0.28
        assert sink.stats.accepted == 1 and sink.stats.rejected == 1 and sink.stats.retries == 1
        assert sink.pending == 0
    finally:
        await runner.cleanup()
