"""End to end with a real Alertmanager (Debian `prometheus-alertmanager`): upstream errors through
the gateway fire the critical error-ratio alert, which Alertmanager shows (API v2 and `amtool`) and
notifies; a silence created in Vigil ends it there; it resolves when the errors stop."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import VigilProcess, free_port
from gateway_env import USER_KEY, gateway_config
from vigil.sim import SimServer
from webhook_sink import WebhookSink

AM = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(AM is None, reason="needs prometheus-alertmanager")


def until(cond: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := cond():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, WebhookSink]]:
    sink = WebhookSink()
    port, cluster = free_port(), free_port()
    cfg = {
        "route": {"receiver": "sink", "group_by": ["alertname"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "2s"},
        "receivers": [{"name": "sink", "webhook_configs": [
            {"url": sink.url + "/am", "send_resolved": True}]}],
    }  # fmt: skip
    (tmp_path / "am.yml").write_text(yaml.safe_dump(cfg))
    assert AM is not None
    proc = subprocess.Popen(
        [AM, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", f"--cluster.listen-address=127.0.0.1:{cluster}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(url + "/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        until(ready, 20, "alertmanager")
        yield url, sink
    finally:
        proc.terminate()
        proc.wait(10)
        sink.close()


def am_alerts(url: str) -> list[dict[str, Any]]:
    alerts = httpx.get(url + "/api/v2/alerts", params={"active": "true"}).json()
    return [a for a in alerts if a["labels"].get("alertname") == "VigilErrorRatioCritical"]


def test_errors_page_through_alertmanager_silence_and_resolve(
    tmp_path: Path, alertmanager: tuple[str, WebhookSink]
) -> None:
    am_url, sink = alertmanager
    with SimServer(profile="bench", seed=1) as sim:
        config = gateway_config(sim)
        config["models"]["broken"] = {
            "deployments": [{"provider": "flaky", "model": "gpt-4o-mini"}], "retries": 0,
        }  # fmt: skip
        config["alerts"] = {
            "evaluation_interval": "500ms",
            "disabled_defaults": ["VigilErrorRatioWarning", "VigilRateLimited"],
            "rules": [  # the default critical rule, with a short window for the test
                {"name": "VigilErrorRatioCritical", "signal": "error_ratio", "window": "6s",
                 "threshold": 0.05, "for": "1s", "severity": "critical",
                 "annotations": {"summary": "5xx ratio {{ $value }} on {{ $labels.model }}"}},
            ],
            "alertmanagers": [{"url": am_url, "resend_interval": "1s"}],
        }  # fmt: skip
        vigil = VigilProcess(tmp_path, config).start()
        client = httpx.Client(base_url=vigil.url, timeout=10)
        body = {"messages": [{"role": "user", "content": "hi"}]}
        auth = {"authorization": f"Bearer {USER_KEY}"}

        def traffic(model: str, n: int = 10) -> None:
            for _ in range(n):
                client.post("/v1/chat/completions", json={**body, "model": model}, headers=auth)

        try:

            def firing() -> list[dict[str, Any]]:
                traffic("broken", 3)
                traffic("gpt-4o-mini", 3)
                return am_alerts(am_url)

            (alert,) = until(firing, 30, "the alert in Alertmanager")
            assert (
                alert["labels"]["model"] == "broken" and alert["labels"]["severity"] == "critical"
            )
            assert alert["annotations"]["summary"] == "5xx ratio 1 on broken"
            out = subprocess.run(
                ["amtool", f"--alertmanager.url={am_url}", "alert", "query", "-o", "json"],
                capture_output=True, text=True, timeout=20, check=True,
            )  # fmt: skip
            assert "VigilErrorRatioCritical" in out.stdout
            # Keep the errors coming while waiting: with no traffic the 6 s window empties and
            # the alert would (rightly) resolve before the checks below.
            until(
                lambda: (
                    traffic("broken", 2),
                    any(b["status"] == "firing" for b in sink.bodies("/am")),
                )[1],
                10,
                "notify",
            )

            def firing_in_vigil() -> list[str]:
                traffic("broken", 2)
                alerts = httpx.get(vigil.url + "/api/v1/alerts", headers=vigil.headers).json()
                return [
                    a["state"]
                    for a in alerts["alerts"]
                    if a["labels"].get("model") == "broken" and a["state"] == "firing"
                ]

            assert until(firing_in_vigil, 10, "firing in Vigil") == ["firing"]

            now = datetime.now(UTC)
            silence = {
                "matchers": [{"name": "model", "value": "broken", "isRegex": False}],
                "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
                "createdBy": "test", "comment": "known outage",
            }  # fmt: skip
            r = httpx.post(vigil.url + "/api/v1/silences", json=silence, headers=vigil.headers)
            sid = r.json()["silenceID"]
            until(lambda: (traffic("broken", 2), not am_alerts(am_url))[1], 15, "silenced")
            seen = len(sink.bodies("/am"))
            traffic("broken", 10)
            time.sleep(3)  # repeat_interval 2s: an unsilenced alert would notify again
            later = [a for b in sink.bodies("/am")[seen:] for a in b["alerts"]]
            assert all(
                a["status"] == "resolved" for a in later if a["labels"].get("model") == "broken"
            ), later
            ours = httpx.get(vigil.url + "/api/v1/alerts", headers=vigil.headers).json()["alerts"]
            assert [a["silencedBy"] for a in ours if a["rule"] == "VigilErrorRatioCritical"] == [
                [sid]
            ]

            httpx.delete(vigil.url + f"/api/v1/silences/{sid}", headers=vigil.headers)
            until(lambda: (traffic("broken", 2), am_alerts(am_url))[1], 15, "unsilenced")
            # errors stop: only good traffic; the window empties of errors and the alert resolves
            until(lambda: (traffic("gpt-4o-mini", 3), not am_alerts(am_url))[1], 30, "resolve")
            history = httpx.get(vigil.url + "/api/v1/alerts/history", headers=vigil.headers)
            events = [h["event"] for h in history.json()["history"]]
            assert "firing->resolved" in events and "pending->firing" in events
            last = sink.bodies("/am")[-1]
            until(
                lambda: any(
                    a["status"] == "resolved" and a["labels"].get("model") == "broken"
                    for b in sink.bodies("/am")[-3:]
                    for a in b["alerts"]
                ),
                10,
                "resolved notice",
            )
            assert json.dumps(last)
        finally:
            vigil.stop()
