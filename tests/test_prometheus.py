"""Debian's real `prometheus` scrapes a running Vigil (bearer-protected `/metrics`), loads the
exported rules, and every PromQL expression of the dashboards and rules is evaluated through its
HTTP API: none may error, and every one whose metrics the traffic produces must return data.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from conftest import VigilProcess, free_port
from gateway_env import LIMITED_KEY, USER_KEY, gateway_config
from vigil.exports.grafana import dashboards, expressions
from vigil.exports.rules import DEFAULT_ALERTS, RECORDING_RULES, rule_file
from vigil.sim import SimServer

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs prometheus")

SCRAPE_TOKEN = "scrape-token-for-tests"
MODELS = {"gpt-4o": ("openai", 1.2), "claude-haiku": ("anthropic", 0.3)}
"""model -> (provider, base latency in seconds)."""
STATUSES = (200, 200, 200, 200, 200, 200, 200, 429, 500, 400)

TRAFFIC_METRICS = {
    "vigil_requests_total",
    "vigil_request_duration_seconds_bucket",
    "vigil_time_to_first_token_seconds_bucket",
    "vigil_tokens_total",
    "vigil_cost_usd_total",
    "vigil_predictions_total",
    "vigil_ingest_events_total",
    "vigil_ingest_rejected_total",
    "vigil_pipeline_queue_depth",
    "vigil_pipeline_flush_seconds_bucket",
    "vigil_pipeline_committed_records_total",
    "vigil_build_info",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "vigil_retries_total",
    "vigil_fallbacks_total",
    "vigil_rate_limited_total",
    "vigil_upstream_errors_total",
}
"""Metrics the traffic below produces; a panel or rule reading only these must return data."""


def send_gateway_traffic(vigil: VigilProcess, n: int, over_key_limit: bool) -> int:
    """LLM calls through the gateway (openai SDK -> Vigil -> simulated providers), stream and not,
    with a retry, a fallback, an upstream 429 and a key over its RPM. Returns the calls recorded.
    """
    sdk = openai.OpenAI(base_url=vigil.url + "/v1", api_key=USER_KEY, max_retries=0)
    msgs: Any = [{"role": "user", "content": "hello"}]
    for i in range(n):
        if i % 2:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs)
        else:
            list(sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True))
    sdk.chat.completions.create(model="flaky-then-good", messages=msgs)  # retried
    sdk.chat.completions.create(model="always-down", messages=msgs)  # falls back
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="upstream-429", messages=msgs)
    if not over_key_limit:
        return n + 3
    limited = openai.OpenAI(base_url=vigil.url + "/v1", api_key=LIMITED_KEY, max_retries=0)
    for _ in range(3):  # the key's RPM is 3: the fourth call in the minute is refused
        limited.chat.completions.create(model="gpt-4o-mini", messages=msgs)
    with pytest.raises(openai.RateLimitError):
        limited.chat.completions.create(model="gpt-4o-mini", messages=msgs)
    return n + 3 + 4


def send_traffic(vigil: VigilProcess, n_per_model: int) -> int:
    """Ingested LLM calls with known latencies and statuses (and a few predictions and one bad
    event), so PromQL results can be checked exactly. Returns the number of LLM calls sent.
    """
    events: list[Any] = []
    for model, (provider, base) in MODELS.items():
        for i in range(n_per_model):
            events.append(
                {
                    "kind": "llm_call",
                    "model": model,
                    "provider": provider,
                    "status_code": STATUSES[i % len(STATUSES)],
                    "input_tokens": 100 + i,
                    "output_tokens": 20 + i,
                    "cost_usd": 0.001,
                    "duration_s": base + (i % 10) * 0.02,
                    "ttft_s": base / 4,
                    "stream": True,
                }
            )
    events += [{"kind": "prediction", "model": "churn", "features": {"x": 1}, "prediction": 1}] * 3
    events.append({"kind": "prediction", "model": "churn", "bogus": 1})
    resp = httpx.post(vigil.url + "/api/v1/events", json=events, headers=vigil.headers, timeout=30)
    assert resp.status_code == 200 and len(resp.json()["rejected"]) == 1, resp.text
    return n_per_model * len(MODELS)


class Prometheus:
    def __init__(self, workdir: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (workdir / "vigil-rules.yml").write_text(yaml.safe_dump(rule_file(), width=4096))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["vigil-rules.yml"],
            "scrape_configs": [
                {
                    "job_name": "vigil",
                    "authorization": {"credentials": SCRAPE_TOKEN},
                    "static_configs": [{"targets": [target]}],
                }
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"prometheus exited {self.proc.returncode}"
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus did not become ready")

    def query(self, expr: str) -> list[Any]:
        resp = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        body = resp.json()
        assert body["status"] == "success", (expr, body)
        result: list[Any] = body["data"]["result"]
        return result

    def wait_for(self, expr: str, check: Any, timeout: float = 20) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if check(result) or time.monotonic() > deadline:
                return result
            time.sleep(0.25)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)
        self.log.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(profile="bench") as server:
        yield server


@pytest.fixture(scope="module")
def scraped(
    tmp_path_factory: pytest.TempPathFactory, sim: SimServer
) -> Iterator[tuple[VigilProcess, Any]]:
    config = gateway_config(sim, metrics={"bearer_token": SCRAPE_TOKEN})
    vigil = VigilProcess(tmp_path_factory.mktemp("vigil"), config).start()
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{vigil.port}")
    try:
        prom.wait_for('up{job="vigil"} == 1', bool)
        total = send_traffic(vigil, 20) + send_gateway_traffic(vigil, 10, True)
        prom.wait_for("sum(vigil_requests_total)", lambda r: r and float(r[0]["value"][1]) > 0)
        time.sleep(2)  # a few scrapes with the first wave, so rates see the second one grow
        total += send_traffic(vigil, 30) + send_gateway_traffic(vigil, 10, False)
        prom.wait_for("sum(vigil_requests_total)", lambda r: r and float(r[0]["value"][1]) == total)
        for rule in ("vigil:request_duration_seconds:p95_5m", "vigil:request_errors:ratio_rate1m"):
            # rules are evaluated up to 1s after the scrape that saw the second wave
            prom.wait_for(f"{rule} > 0", lambda r: len(r) >= len(MODELS))
        yield vigil, prom
    finally:
        prom.stop()
        vigil.stop()


def _value(result: list[Any], **labels: str) -> float:
    for series in result:
        if all(series["metric"].get(k) == v for k, v in labels.items()):
            return float(series["value"][1])
    raise AssertionError(f"no series {labels} in {result}")


def test_series_read_back_through_promql(scraped: tuple[VigilProcess, Any]) -> None:
    _, prom = scraped
    assert _value(prom.query('up{job="vigil"}')) == 1  # scraped with the bearer token
    requests = prom.query("sum by (model, status_code) (vigil_requests_total)")
    assert _value(requests, model="gpt-4o", status_code="200") == 35  # 7 of 10, 50 calls
    assert _value(requests, model="claude-haiku", status_code="429") == 5
    tokens = prom.query(
        'sum by (type) (vigil_tokens_total{model=~"gpt-4o|claude-haiku"})'  # the ingested calls
    )
    per_model_in = sum(100 + i for i in range(20)) + sum(100 + i for i in range(30))
    assert _value(tokens, type="input") == 2 * per_model_in
    # gpt-4o latencies are 1.20..1.38 s, all in the (1.0, 1.5] bucket
    p95 = prom.query(
        "histogram_quantile(0.95, sum by (model, le) "
        "(rate(vigil_request_duration_seconds_bucket[30s])))"
    )
    assert 1.0 < _value(p95, model="gpt-4o") <= 1.5
    assert 0.25 < _value(p95, model="claude-haiku") <= 0.5
    ttft = prom.query(
        "histogram_quantile(0.5, sum by (model, le) "
        "(rate(vigil_time_to_first_token_seconds_bucket[30s])))"
    )
    assert 0.2 < _value(ttft, model="gpt-4o") <= 0.3
    errors = prom.query("vigil:request_errors:ratio_rate1m")
    assert 0 < _value(errors, model="gpt-4o", provider="openai") < 0.5


def _substitute(expr: str) -> str:
    """Grafana variables -> what a dashboard with All selected sends to Prometheus."""
    for var, value in {
        "$__rate_interval": "30s",
        "$model": ".*",
        "$provider": ".*",
        "$ml_model": ".*",
    }.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, expr
    return expr


def _traffic_fills(expr: str) -> bool:
    import re

    names = set(re.findall(r"\b((?:vigil|process)_[a-z_]+)\b", expr))
    return names <= TRAFFIC_METRICS


def test_every_dashboard_and_rule_expression_evaluates(
    scraped: tuple[VigilProcess, Any],
) -> None:
    _, prom = scraped
    checked, filled = 0, []
    boards = dashboards()
    for board in boards.values():
        for title, expr in expressions(board):
            result = prom.query(_substitute(expr))  # asserts status == success
            checked += 1
            if _traffic_fills(expr):
                assert result, f"{board['title']} / {title}: no data for {expr}"
                filled.append(title)
    overview = {title for title, _ in expressions(boards["vigil-overview.json"])}
    assert overview <= set(filled)  # every Overview panel shows the traffic
    for name, expr in RECORDING_RULES.items():
        result = prom.query(expr)
        if _traffic_fills(expr) and "429" not in name:
            assert result, name
        assert prom.query(name) or not result, name  # Prometheus recorded it too
    for alert in DEFAULT_ALERTS:
        prom.query(alert.expr)
    assert checked > 30 and len(filled) > 20


def test_gateway_series_read_back_through_promql(scraped: tuple[VigilProcess, Any]) -> None:
    _, prom = scraped
    ok = prom.query('sum(vigil_requests_total{model="gpt-4o-mini",status_code="200"})')
    assert float(ok[0]["value"][1]) == 10 + 3 + 10  # two waves, the first with 3 limited-key calls
    p95 = prom.query(
        "histogram_quantile(0.95, sum by (le) "
        '(rate(vigil_request_duration_seconds_bucket{model="gpt-4o-mini"}[5m])))'
    )
    assert 0 < float(p95[0]["value"][1]) < 1.0  # the bench simulator answers in milliseconds
    ttft = prom.query('sum(vigil_time_to_first_token_seconds_count{model="gpt-4o-mini"})')
    assert float(ttft[0]["value"][1]) == 10  # the streamed half of 20 calls
    for query in (
        'vigil_retries_total{model="flaky-then-good"}',
        'vigil_fallbacks_total{model="always-down"}',
        'vigil_rate_limited_total{model="upstream-429",scope="upstream"}',
        'vigil_rate_limited_total{model="gpt-4o-mini",scope="key"}',
        'vigil_upstream_errors_total{provider="flaky",error_type="server_error"}',
    ):
        result = prom.query(query)
        assert result and float(result[0]["value"][1]) >= 1, query
