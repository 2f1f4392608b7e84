"""A running Vigil with demo-like data for the UI, report and security tests (no tests here).

The demo's own config (simulated providers, priced models, the churn classifier with its reference)
plus a key and a team with budgets and a viewer user; the demo traffic generator's LLM calls and
drifting predictions with labels; one OTLP trace whose GenAI span becomes an LLM call, and log lines
of that trace; then one monitor run.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from conftest import ADMIN_TOKEN, VigilProcess
from vigil.demo import demo_config
from vigil.sim import SimServer
from vigil.sim.profiles import load_profile
from vigil.sim.reference import write_reference
from vigil.sim.traffic import TrafficOptions, run_traffic

PROVIDER_SECRET = "sk-provider-secret-do-not-leak-42"
VIEWER_PASSWORD = "viewer-password-0123"
TRACE_MODEL = "gpt-4o-mini"


@dataclass
class UIEnv:
    vigil: VigilProcess
    sim: SimServer
    trace_id: str
    gateway_key: str

    @property
    def url(self) -> str:
        return self.vigil.url

    def api(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, headers=self.vigil.headers, timeout=30)
        r.raise_for_status()
        return r.json()

    def close(self) -> None:
        if self.vigil.proc is not None and self.vigil.proc.poll() is None:
            self.vigil.stop()
        self.sim.__exit__(None, None, None)


def _otlp_trace(trace_id: str) -> dict[str, Any]:
    now = time.time_ns()
    root, chat = secrets.token_hex(8), secrets.token_hex(8)

    def attr(key: str, value: Any) -> dict[str, Any]:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: value}}

    spans = [
        {
            "traceId": trace_id,
            "spanId": root,
            "name": "POST /support/answer",
            "kind": 2,
            "startTimeUnixNano": str(now - 900_000_000),
            "endTimeUnixNano": str(now),
            "attributes": [attr("http.route", "/support/answer")],
        },
        {
            "traceId": trace_id,
            "spanId": chat,
            "parentSpanId": root,
            "name": f"chat {TRACE_MODEL}",
            "kind": 3,
            "startTimeUnixNano": str(now - 800_000_000),
            "endTimeUnixNano": str(now - 100_000_000),
            "attributes": [
                attr("gen_ai.operation.name", "chat"),
                attr("gen_ai.provider.name", "openai"),
                attr("gen_ai.request.model", TRACE_MODEL),
                attr("gen_ai.usage.input_tokens", 321),
                attr("gen_ai.usage.output_tokens", 54),
                attr("gen_ai.prompt", f"my key is {PROVIDER_SECRET}, where is my order?"),
            ],
        },
    ]
    resource = {"attributes": [attr("service.name", "support-api")]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}


def _otlp_logs(trace_id: str) -> dict[str, Any]:
    now = time.time_ns()
    records = [
        {
            "timeUnixNano": str(now - i * 1000),
            "severityText": level,
            "body": {"stringValue": text},
            "traceId": trace_id,
        }
        for i, (level, text) in enumerate(
            [("INFO", "answering support ticket 1234"), ("ERROR", "order lookup timed out")]
        )
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "support-api"}}]}
    return {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}


def start_ui_env(workdir: Path, seconds: float = 8.0, llm_rps: float = 25.0) -> UIEnv:
    """Start Vigil on demo-like config and fill it with `seconds` of demo traffic."""
    profile = replace(load_profile("default", seed=7), time_scale=0.02)
    sim = SimServer(profile)
    sim.__enter__()
    reference = write_reference(workdir / "churn-reference.csv")
    probe = VigilProcess(workdir)
    config = demo_config(workdir, probe.port, sim, reference)
    config["server"] = {"port": probe.port, "admin_token": "env:TEST_VIGIL_TOKEN"}
    config["store"] = {"path": str(probe.store_path)}
    config["providers"]["sim-openai"]["api_key"] = PROVIDER_SECRET
    config["keys"] = [{"alias": "demo", "key": "env:TEST_VIGIL_TOKEN_KEY", "team": "demo"}]
    config["budgets"] = {"teams": {"demo": {"budget_usd": 5.0, "period": "daily"}}}
    config["monitors"] = {"interval": "1h", "window": "10m"}
    config["ml_models"]["churn-classifier"]["label_delay"] = "1s"
    config["ui"] = {"users": [{"name": "viewer", "password": VIEWER_PASSWORD, "role": "viewer"}]}
    gateway_key = "vk-ui-test-" + secrets.token_hex(12)
    import os

    os.environ["TEST_VIGIL_TOKEN_KEY"] = gateway_key
    vigil = VigilProcess(workdir, config)
    vigil.port = probe.port
    vigil.start()
    opts = TrafficOptions(
        vigil_url=vigil.url,
        admin_token=ADMIN_TOKEN,
        openai_base_url=sim.openai_base_url,
        anthropic_base_url=sim.anthropic_base_url,
        llm_rps=llm_rps,
        ml_rps=60.0,
        label_delay_s=(0.1, 1.0),
        drift_after_s=seconds / 2,
        seed=3,
        via_gateway_url=vigil.url + "/v1",
        gateway_key=gateway_key,
        flush_interval_s=0.3,
        stop_grace_s=2.0,
    )

    async def traffic() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_traffic(opts, stop))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(task, 30)

    thread = threading.Thread(target=asyncio.run, args=(traffic(),))
    thread.start()
    trace_id = secrets.token_hex(16)
    thread.join()
    h = vigil.headers
    httpx.post(vigil.url + "/v1/traces", json=_otlp_trace(trace_id), headers=h).raise_for_status()
    httpx.post(vigil.url + "/v1/logs", json=_otlp_logs(trace_id), headers=h).raise_for_status()
    time.sleep(0.5)  # the write pipeline's group commit
    httpx.post(vigil.url + "/api/v1/monitors/run", headers=h, timeout=60).raise_for_status()
    return UIEnv(vigil, sim, trace_id, gateway_key)
