"""Synthetic probes: config checks, stored results -> alert signals and PromQL, and probes run by a
real `vigil serve` against the simulated providers (healthy, failing upstream, wrong reply, slow
stream), with an alert rule on `probe_success` firing through the evaluator."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import VigilProcess
from gateway_env import gateway_config
from vigil.alerts.config import AlertRule
from vigil.alerts.signals import Sources, evaluate_signals
from vigil.config import check_config
from vigil.config.sections import ProbeConfig
from vigil.exports.rules import config_alert
from vigil.metrics import VigilMetrics
from vigil.monitors.results import persist
from vigil.pipeline import WritePipeline
from vigil.probes import ProbeResult, outcome
from vigil.sim import SimServer
from vigil.store import open_store

INTERVAL = "300ms"

# --- config --------------------------------------------------------------------------------

MODELS = """\
providers: {sim: {type: openai, api_base: "http://127.0.0.1:9/v1"}}
models:
  gpt-4o-mini: {deployments: [{provider: sim, model: gpt-4o-mini}]}
  claude: {deployments: [{provider: sim, model: claude}]}
"""


def problems(tmp_path: Path, probes: str) -> dict[str, str]:
    path = tmp_path / "vigil.yaml"
    path.write_text(MODELS + "synthetic:\n  probes:\n" + probes)
    return {p.path: p.message for p in check_config(path, env={})}


def test_probe_defaults() -> None:
    probe = ProbeConfig(name="ping", model="gpt-4o-mini")
    assert probe.interval == timedelta(seconds=60) and probe.timeout == timedelta(seconds=10)
    assert probe.max_tokens == 16 and not probe.stream and probe.expect is None
    assert probe.prompt


def test_valid_probes_have_no_problems(tmp_path: Path) -> None:
    probes = (
        "    - {name: ping, model: gpt-4o-mini}\n"
        "    - {name: claude.stream, model: claude, stream: true, interval: 30s, expect: pong}\n"
    )
    assert problems(tmp_path, probes) == {}


def test_unknown_model_and_duplicate_name_are_precise(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "    - {name: ping, model: gpt-4o-mini}\n    - {name: ping, model: gpt-5}\n",
    )
    assert found == {
        "synthetic.probes[1].name": "name 'ping' is already used by synthetic.probes[0]",
        "synthetic.probes[1].model": "unknown model 'gpt-5' (defined models: claude, gpt-4o-mini)",
    }


@pytest.mark.parametrize(
    ("probe", "path", "message"),
    [
        ("{name: p, model: claude, expect: '(unclosed'}", "expect", "invalid regular expression"),
        ("{name: p, model: claude, interval: 10ms}", "interval", "must be at least 100ms"),
        ("{name: 'has space', model: claude}", "name", "should match pattern"),
        ("{name: p, model: claude, max_tokens: 0}", "max_tokens", "greater than or equal to 1"),
        ("{name: p, model: claude, key: vk-x}", "key", "unknown key 'key' (allowed: name, model,"),
    ],
)
def test_bad_probe_keys_name_the_key(tmp_path: Path, probe: str, path: str, message: str) -> None:
    found = problems(tmp_path, f"    - {probe}\n")
    assert list(found) == [f"synthetic.probes[0].{path}"]
    assert message in found[f"synthetic.probes[0].{path}"]


# --- alert rules and their PromQL ------------------------------------------------------------


def rule(**kw: Any) -> AlertRule:
    return AlertRule.model_validate({"name": "ProbeDown", "threshold": 1, **kw})


def test_probe_rules_validate_labels_and_metric() -> None:
    success = rule(signal="probe_success", op="<")
    assert success.aggregation == "avg" and success.dimensions == ("probe", "model")
    assert rule(signal="probe_success", aggregation="min").aggregation == "min"
    assert rule(signal="probe_latency").aggregation == "last"
    with pytest.raises(ValueError, match="no label 'provider'"):
        rule(signal="probe_success", group_by=["provider"])
    with pytest.raises(ValueError, match="metric does not apply"):
        rule(signal="probe_success", metric="ttft_s")
    with pytest.raises(ValueError, match="duration_s or ttft_s, not 'p95'"):
        rule(signal="probe_latency", metric="p95")


def test_probe_rules_export_to_the_probe_gauges() -> None:
    success = rule(signal="probe_success", op="<", threshold=0.9, filters={"probe": "ping"})
    assert config_alert(success)["expr"] == (
        'avg by (probe, model) (avg_over_time(vigil_probe_success{probe="ping"}[5m])) < 0.9'
    )
    ttft = rule(signal="probe_latency", metric="ttft_s", aggregation="max", group_by=["model"])
    assert config_alert(ttft)["expr"] == (
        "max by (model) (max_over_time(vigil_probe_ttft_seconds[5m])) > 1.0"
    )


# --- stored results -> signals ---------------------------------------------------------------


async def test_signals_read_stored_probe_runs(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "p.duckdb"))
    pipeline = WritePipeline(store, VigilMetrics(), queue_max=1000, high_water_ratio=0.8,
                             batch_max=100, flush_interval=0.01, retry_after=1.0)  # fmt: skip
    pipeline.start()
    try:
        ping = ProbeConfig(name="ping", model="gpt-4o-mini")
        stream = ProbeConfig(name="stream", model="claude", stream=True)
        runs = [
            (ping, ProbeResult(ok=True, duration_s=0.2)),
            (ping, ProbeResult(ok=False, duration_s=1.0, error_type="upstream_error")),
            (ping, ProbeResult(ok=True, duration_s=0.3)),
            (ping, ProbeResult(ok=True, duration_s=0.5)),
            (stream, ProbeResult(ok=True, duration_s=0.4, ttft_s=0.1)),
        ]
        await persist(pipeline, [outcome(probe, result) for probe, result in runs])
        rules = [
            rule(name="Ratio", signal="probe_success"),
            rule(name="AnyFailure", signal="probe_success", aggregation="min"),
            rule(name="Slowest", signal="probe_latency", aggregation="max"),
            rule(name="Ttft", signal="probe_latency", metric="ttft_s", filters={"model": "claude"}),
            rule(name="Drift", signal="drift_score"),  # shares the one monitor query
        ]
        now = datetime.now(UTC) + timedelta(seconds=1)
        got = {
            name: sorted((tuple(s.labels.values()), s.value) for s in samples)
            for name, samples in evaluate_signals(store.fetch, rules, now, Sources()).items()
        }
        assert got == {
            "Ratio": [(("ping", "gpt-4o-mini"), 0.75), (("stream", "claude"), 1.0)],
            "AnyFailure": [(("ping", "gpt-4o-mini"), 0.0), (("stream", "claude"), 1.0)],
            "Slowest": [(("ping", "gpt-4o-mini"), 1.0), (("stream", "claude"), 0.4)],
            "Ttft": [(("stream", "claude"), 0.1)],
            "Drift": [],
        }
        later = evaluate_signals(store.fetch, rules[:1], now + timedelta(minutes=10), Sources())
        assert later == {"Ratio": []}  # no runs in the window: no sample, nothing fires
    finally:
        pipeline.close()
        store.close()


# --- probes in a real server -----------------------------------------------------------------


def probes_config(sim: SimServer) -> dict[str, Any]:
    probe = {"interval": INTERVAL, "timeout": "2s"}
    return gateway_config(
        sim,
        synthetic={
            "probes": [
                {"name": "ping", "model": "gpt-4o-mini", **probe},
                {"name": "stream", "model": "claude", "stream": True, "expect": r"\w+", **probe},
                {"name": "down", "model": "down-no-fallback", **probe},
                {"name": "picky", "model": "gpt-4o-mini", "expect": "(?i)pong", **probe},
                {"name": "slow", "model": "slow", "stream": True, **probe, "timeout": "300ms"},
            ]
        },
        alerts={
            "evaluation_interval": "200ms",
            "default_rules": False,
            "rules": [
                {
                    "name": "ProbeFailing",
                    "signal": "probe_success",
                    "op": "<",
                    "threshold": 1,
                    "window": "10s",
                    "severity": "critical",
                    "annotations": {"summary": "probe {{ $labels.probe }} at {{ $value }}"},
                }
            ],
        },
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimServer, VigilProcess]]:
    """The simulators and one Vigil running every probe of `probes_config`, for the module."""
    with SimServer(profile="bench", seed=1) as sim:
        proc = VigilProcess(tmp_path_factory.mktemp("probes"), probes_config(sim)).start()
        try:
            yield sim, proc
        finally:
            proc.stop()


@pytest.fixture
def vigil(served: tuple[SimServer, VigilProcess]) -> VigilProcess:
    return served[1]


def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `check` until it returns something truthy (probes and alerts run on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def samples(proc: VigilProcess, name: str) -> dict[str, float]:
    """`name`'s series on /metrics: `probe/result` (or `probe`) -> value."""
    out = {}
    for line in httpx.get(proc.url + "/metrics", timeout=10).text.splitlines():
        match = re.match(name + r"\{(.*)\} (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            key = "/".join(labels[k] for k in ("probe", "result") if k in labels)
            out[key] = float(match.group(2))
    return out


def test_probe_metrics_report_each_outcome(vigil: VigilProcess) -> None:
    expected = {"ping/success", "stream/success", "slow/timeout"}
    expected.add("picky/unexpected_reply")  # the sim never says "pong"

    def every_probe_ran() -> dict[str, float]:
        runs = samples(vigil, "vigil_probe_runs_total")
        probes = {key.split("/")[0] for key in runs}
        return runs if expected <= set(runs) and "down" in probes else {}

    runs = until(every_probe_ran)
    assert expected <= set(runs)
    assert {k for k in runs if k.startswith("down/")} <= {
        "down/upstream_unavailable", "down/no_deployment_available",
    }  # fmt: skip
    success = samples(vigil, "vigil_probe_success")
    assert success == {"ping": 1, "stream": 1, "down": 0, "picky": 0, "slow": 0}
    duration = samples(vigil, "vigil_probe_duration_seconds")
    assert 0 < duration["ping"] < 2 and 0 < duration["stream"] < 2
    assert 0.3 <= duration["slow"] < 1.5  # bounded by its 300ms timeout, not the 30 s stream
    ttft = samples(vigil, "vigil_probe_ttft_seconds")
    assert set(ttft) == {"stream", "slow"} and 0 < ttft["stream"] <= duration["stream"]


def test_probes_run_on_their_interval_without_overlap(vigil: VigilProcess) -> None:
    first = until(lambda: samples(vigil, "vigil_probe_runs_total").get("ping/success"))
    time.sleep(1.5)
    runs = samples(vigil, "vigil_probe_runs_total")["ping/success"] - first
    assert 3 <= runs <= 6  # one run every 300 ms


def test_failing_probe_fires_an_alert(vigil: VigilProcess) -> None:
    def firing() -> dict[str, Any]:
        body = httpx.get(vigil.url + "/api/v1/alerts", headers=vigil.headers, timeout=10).json()
        return {a["labels"]["probe"]: a for a in body["alerts"] if a["state"] == "firing"}

    alerts = until(lambda: (f := firing()) and {"down", "picky", "slow"} <= set(f) and f)
    assert set(alerts) == {"down", "picky", "slow"}  # healthy probes do not fire
    down = alerts["down"]
    assert down["labels"] == {
        "alertname": "ProbeFailing", "probe": "down", "model": "down-no-fallback",
        "severity": "critical",
    }  # fmt: skip
    assert down["value"] == 0 and down["annotations"]["summary"] == "probe down at 0"


def test_runs_are_stored_and_not_counted_as_user_traffic(vigil: VigilProcess) -> None:
    def get(path: str, **params: Any) -> Any:
        return httpx.get(vigil.url + path, params=params, headers=vigil.headers, timeout=10).json()

    history = until(lambda: get("/api/v1/monitors/probe:ping/history", monitor="probe")["points"])
    assert {p["feature"] for p in history} == {"gpt-4o-mini"}
    assert {p["metric"] for p in history} == {"success", "duration_s"}
    picky = get("/api/v1/monitors/probe:picky")["run"]
    assert (picky["kind"], picky["status"]) == ("probe", "error")
    assert picky["summary"]["error_type"] == "unexpected_reply" and picky["summary"]["reply"]
    assert picky["summary"]["deployment"] == "sim/gpt-4o-mini"
    # probe calls are not user calls: no llm_calls rows, no request metrics
    assert get("/api/v1/stats", since="1h")["series"] == []
    assert "vigil_requests_total{" not in httpx.get(vigil.url + "/metrics", timeout=10).text


def test_reload_stops_removed_probes(
    served: tuple[SimServer, VigilProcess], vigil_factory: Callable[..., VigilProcess]
) -> None:
    config = probes_config(served[0])
    config["synthetic"]["probes"] = config["synthetic"]["probes"][:2]
    proc = vigil_factory(config)
    assert until(lambda: set(samples(proc, "vigil_probe_success")) == {"ping", "stream"})
    config = {**proc.config, "synthetic": {"probes": proc.config["synthetic"]["probes"][:1]}}
    proc.config_path.write_text(yaml.safe_dump(config))
    proc.signal(signal.SIGHUP)
    assert until(lambda: set(samples(proc, "vigil_probe_success")) == {"ping"})
    proc.stop()
