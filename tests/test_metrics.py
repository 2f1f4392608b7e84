"""`GET /metrics` on a real `vigil serve`: formats, bearer auth, promtool lint, capped keys."""

from __future__ import annotations

import shutil
import subprocess
import threading
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as text_fd_to_openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from conftest import VigilProcess
from vigil.metrics import VigilMetrics
from vigil.metrics.labels import NONE, OTHER, CappedLabel
from vigil.records import CallRecord

CALLS: list[dict[str, Any]] = [
    {
        "kind": "llm_call",
        "model": "gpt-4o",
        "provider": "openai",
        "status_code": 200,
        "input_tokens": 100,
        "output_tokens": 20,
        "cached_input_tokens": 10,
        "cost_usd": 0.5,
        "duration_s": 1.2,
        "ttft_s": 0.3,
    },
    {
        "kind": "llm_call",
        "model": "gpt-4o",
        "provider": "openai",
        "status_code": 429,
        "duration_s": 0.04,
    },
]


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_text_and_openmetrics_expositions(vigil: VigilProcess) -> None:
    resp = httpx.post(vigil.url + "/api/v1/events", json=CALLS, headers=vigil.headers)
    assert resp.json()["accepted"] == 2
    text = httpx.get(vigil.url + "/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(text.text)
    mp = {("model", "gpt-4o"), ("provider", "openai")}
    assert samples["vigil_requests_total", frozenset({*mp, ("status_code", "200")})] == 1
    assert samples["vigil_requests_total", frozenset({*mp, ("status_code", "429")})] == 1
    assert samples["vigil_tokens_total", frozenset({*mp, ("type", "cached_input")})] == 10
    assert samples["vigil_cost_usd_total", frozenset(mp)] == 0.5
    assert samples["vigil_request_duration_seconds_count", frozenset(mp)] == 2
    assert samples["vigil_request_duration_seconds_bucket", frozenset({*mp, ("le", "0.05")})] == 1
    assert samples["vigil_time_to_first_token_seconds_sum", frozenset(mp)] == 0.3
    assert samples["vigil_build_info", frozenset({("version", "0.1.0")})] == 1
    assert "# HELP vigil_request_duration_seconds End-to-end" in text.text
    assert not any(name.startswith("vigil_key_") for name, _ in samples)  # per-key is opt-in

    om = httpx.get(
        vigil.url + "/v1/metrics",
        headers={"accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"},
    )
    assert om.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert om.text.endswith("# EOF\n")
    assert 'vigil_requests_total{model="gpt-4o",provider="openai",status_code="429"} 1.0' in om.text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs Debian's prometheus")
def test_promtool_check_metrics_is_clean(vigil: VigilProcess) -> None:
    httpx.post(vigil.url + "/api/v1/events", json=CALLS, headers=vigil.headers)
    body = httpx.get(vigil.url + "/metrics").content  # promtool lints the text format only
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == b"", lint.stdout
    om = httpx.get(vigil.url + "/metrics", headers={"accept": "application/openmetrics-text"})
    families = {f.name for f in text_fd_to_openmetrics_families(om.text)}
    assert {"vigil_requests", "vigil_request_duration_seconds", "vigil_build"} <= families


def test_bearer_token_protects_both_paths(vigil_factory: Any) -> None:
    proc: VigilProcess = vigil_factory({"metrics": {"bearer_token": "scrape-secret-42"}})
    for path in ("/metrics", "/v1/metrics"):
        missing = httpx.get(proc.url + path)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert missing.json()["error"]["code"] == "unauthorized"
        wrong = httpx.get(proc.url + path, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "invalid" in wrong.json()["error"]["message"]
        ok = httpx.get(proc.url + path, headers={"authorization": "Bearer scrape-secret-42"})
        assert ok.status_code == 200 and "vigil_requests_total" in ok.text
    assert "scrape-secret-42" not in proc.logs()


def test_capped_label_admits_exactly_limit_values_under_concurrency() -> None:
    label = CappedLabel(50)
    out: list[str] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        got = [label(f"key-{(offset + i) % 200}") for i in range(400)]
        with lock:
            out.extend(got)

    threads = [threading.Thread(target=work, args=(n * 37,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = set(out) - {OTHER}
    assert len(kept) == 50 == label.admitted and OTHER in out
    assert label(None) == NONE and label("") == NONE
    assert all(label(k) == k for k in kept)  # admitted values stay admitted


def test_per_key_series_are_opt_in_and_capped() -> None:
    metrics = VigilMetrics()
    call = CallRecord(model="m", provider="p", key_id="k0", input_tokens=5, cost_usd=0.1)
    metrics.observe_call(call)
    assert metrics.registry.get_sample_value("vigil_key_requests_total", _key("k0")) is None
    metrics.configure(per_key_labels=True, max_key_labels=3)
    for i in range(10):
        metrics.observe_call(CallRecord(model="m", provider="p", key_id=f"k{i}", cost_usd=0.1))
    keys = {
        s.labels["key"]
        for family in metrics.registry.collect()
        if family.name == "vigil_key_requests"
        for s in family.samples
        if s.name == "vigil_key_requests_total"
    }
    assert keys == {"k0", "k1", "k2", OTHER}
    assert metrics.registry.get_sample_value("vigil_key_requests_total", _key(OTHER)) == 7
    other_cost = metrics.registry.get_sample_value(
        "vigil_key_cost_usd_total", {"key": OTHER, "model": "m"}
    )
    assert other_cost == pytest.approx(0.7)
    # the contractual series are unchanged by per-key labels
    assert (
        metrics.registry.get_sample_value(
            "vigil_requests_total", {"model": "m", "provider": "p", "status_code": "200"}
        )
        == 11
    )


def _key(key: str) -> dict[str, str]:
    return {"key": key, "model": "m", "status_code": "200"}
