"""Delivery to a generic webhook in Alertmanager's webhook format v4, to a Slack-compatible webhook,
and to a receiver that always fails: retried with backoff, logged, and never stalling evaluation."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from test_alerts import CFG, T0, Clock, S, close, insert_calls, run_service
from vigil.config import VigilConfig
from webhook_sink import WebhookSink

WEBHOOK_ALERT_KEYS = {
    "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
}  # fmt: skip
WEBHOOK_KEYS = {
    "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
    "commonAnnotations", "externalURL", "alerts",
}  # fmt: skip


def config(sink: WebhookSink) -> VigilConfig:
    rule = {**CFG.rules[0].model_dump(by_alias=True), "annotations": {"summary": "{{ $value }}"}}
    return VigilConfig.model_validate(
        {
            "alerts": {
                "default_rules": False,
                "rules": [rule],
                "route": {"receiver": "team", "group_by": ["alertname"], "group_wait": "0s",
                          "group_interval": "10s",
                          "routes": [{"matchers": ["model=broken"], "receiver": "dead"}]},
                "receivers": [
                    {"name": "team", "webhook_urls": [sink.url + "/hook"],
                     "slack_urls": [sink.url + "/slack"]},
                    {"name": "dead", "webhook_urls": [sink.url + "/fail"], "max_attempts": 3,
                     "timeout": "2s"},
                ],
            }
        }
    )  # fmt: skip


async def wait_for(cond: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_webhook_payload_is_alertmanager_v4_and_failures_do_not_stall(
    tmp_path: Path,
) -> None:
    sink = WebhookSink()
    clock = Clock()
    cfg = config(sink).alerts
    service, store, pipeline, _ = await run_service(tmp_path / "w.duckdb", cfg, clock)
    try:
        await insert_calls(store, T0 - 20 * S, 100, 30, model="m")
        await insert_calls(store, T0 - 20 * S, 100, 30, model="broken")
        await service.cycle()
        clock.now = T0 + 30 * S
        started = time.monotonic()
        await service.cycle()  # firing: notifications go out in background tasks
        assert time.monotonic() - started < 1.0  # the failing receiver does not hold the cycle
        await wait_for(lambda: sink.bodies("/hook") and sink.bodies("/slack"))
        (body,) = sink.bodies("/hook")
        assert set(body) == WEBHOOK_KEYS and body["version"] == "4"
        assert body["status"] == "firing" and body["receiver"] == "team"
        assert body["groupLabels"] == {"alertname": "Errs"}
        assert body["commonLabels"]["severity"] == "critical"
        (alert,) = body["alerts"]
        assert set(alert) == WEBHOOK_ALERT_KEYS
        assert alert["labels"]["model"] == "m" and alert["status"] == "firing"
        assert alert["annotations"] == {"summary": "0.3"}
        assert alert["startsAt"] == "2026-03-01T12:00:30Z"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
        assert "Errs" in sink.bodies("/slack")[0]["text"]
        # the dead receiver: 3 attempts with backoff (0.5 s, 1 s), then one failed log row
        await wait_for(lambda: len(sink.bodies("/fail")) == 3, within=15)
        await wait_for(
            lambda: store.fetch("SELECT count(*) FROM alert_deliveries WHERE NOT ok")[0][0] == 1
        )
        row = store.fetch("SELECT receiver, attempts, status FROM alert_deliveries WHERE NOT ok")
        assert row == [("dead", 3, 500)]
        logged = store.fetch("SELECT DISTINCT url FROM alert_deliveries")
        assert {u for (u,) in logged} <= {sink.url + "/********"}  # receiver URLs are secrets

        clock.now = T0 + 3 * 60 * S  # errors stopped: one resolved notification
        await service.cycle()
        await wait_for(lambda: len(sink.bodies("/hook")) == 2)
        resolved = sink.bodies("/hook")[1]
        assert resolved["status"] == "resolved"
        assert resolved["alerts"][0]["endsAt"] == "2026-03-01T12:03:00Z"
        clock.now += timedelta(minutes=1)
        await service.cycle()
        await asyncio.sleep(0.3)
        assert len(sink.bodies("/hook")) == 2
    finally:
        await close(service, store, pipeline)
        sink.close()
