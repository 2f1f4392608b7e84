"""PromQL parity: a config rule exported by `vigil export prometheus-rules` fires and resolves at
the same evaluations in Prometheus (`promtool test rules`) as in Vigil's evaluator.

Each case defines input series sampled every 15 s. Vigil's side steps `state.Evaluator` on a
hand-driven clock with a stub signal reader that computes the rule's value from those same
samples (window deltas, Prometheus' histogram_quantile, newest gauge sample in the window). Its
firing alerts at EVERY evaluation become the `exp_alerts` of a generated promtool test
(kept as tests/promtool/alerts_parity_test.yml for reading, checked in sync), which must pass.
Counters start at 0 and evaluations fall on sample times, so PromQL's extrapolation cancels out.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from vigil.alerts.config import AlertRule
from vigil.alerts.state import Evaluator, Sample
from vigil.exports.rules import config_alert, config_alerts

STEP = 15  # seconds: sample and evaluation interval
T0 = datetime(2026, 3, 1, tzinfo=UTC)
PROMTOOL = Path(__file__).parent / "promtool"
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs prometheus")

Series = dict[str, list[float | None]]  # Prometheus series selector -> value per step (None: gap)


def counter(*phases: tuple[int, float]) -> list[float | None]:
    """Cumulative values from (steps, increase per step) phases, starting at 0."""
    out: list[float | None] = [0.0]
    for steps, inc in phases:
        for _ in range(steps):
            out.append((out[-1] or 0.0) + inc)
    return out


def labels_of(selector: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', selector))


def in_window(values: list[float | None], t: int, window: int) -> list[float]:
    """Samples with time in [t - window, t] (Prometheus 2.x range selectors are closed)."""
    first = max(0, math.ceil((t - window) / STEP))
    return [v for v in values[first : t // STEP + 1] if v is not None]


def delta(values: list[float | None], t: int, window: int) -> float | None:
    got = in_window(values, t, window)
    return got[-1] - got[0] if len(got) >= 2 else None


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over (upper bound, cumulative count), +Inf last."""
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    index = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    start, below = (0.0, 0.0) if index == 0 else buckets[index - 1]
    end, count = buckets[index]
    return start + (end - start) * (rank - below) / (count - below)


@dataclass
class Case:
    rule: dict[str, Any]
    series: Series
    value: Callable[[AlertRule, Series, int], list[Sample]]
    steps: int = 48


def error_ratio(rule: AlertRule, series: Series, t: int) -> list[Sample]:
    w = int(rule.window.total_seconds())
    out = []
    for model in sorted({labels_of(s)["model"] for s in series}):
        mine = {s: v for s, v in series.items() if labels_of(s)["model"] == model}
        parts = [(labels_of(s)["status_code"], delta(v, t, w)) for s, v in mine.items()]
        total = sum(d for _, d in parts if d is not None)
        errors = sum(d for code, d in parts if d is not None and code.startswith("5"))
        if total >= rule.min_requests and total > 0:
            out.append(Sample({"model": model}, errors / total))
    return out


def latency_p95(rule: AlertRule, series: Series, t: int) -> list[Sample]:
    w = int(rule.window.total_seconds())
    buckets = []
    for selector, values in series.items():
        le = labels_of(selector)["le"]
        d = delta(values, t, w)
        if d is not None:
            buckets.append((math.inf if le == "+Inf" else float(le), d))
    if not buckets:
        return []
    value = bucket_quantile(0.95, sorted(buckets))
    return [] if math.isnan(value) else [Sample({"model": "a", "provider": "p"}, value)]


def token_rate(rule: AlertRule, series: Series, t: int) -> list[Sample]:
    w = int(rule.window.total_seconds())
    d = delta(series['vigil_tokens_total{model="a",provider="p",type="output"}'], t, w)
    return [] if d is None else [Sample({"model": "a"}, d / w)]


def budget(rule: AlertRule, series: Series, t: int) -> list[Sample]:
    out = []
    for selector, values in series.items():
        v = values[t // STEP]
        lab = labels_of(selector)
        if v is not None:
            out.append(Sample({"key": lab.get("key", ""), "team": lab.get("team", "")}, v))
    return out


def newest(rule: AlertRule, series: Series, t: int) -> list[Sample]:
    (values,) = series.values()
    got = in_window(values, t, int(rule.window.total_seconds()))
    return [Sample({"model": "churn"}, got[-1])] if got else []


REQ = 'vigil_requests_total{{model="{m}",provider="p",status_code="{c}"}}'
BUCKET = 'vigil_request_duration_seconds_bucket{{model="a",provider="p",le="{le}"}}'
FAST, SLOW = (10, 10, 10, 10, 10), (4, 4, 4, 10, 10)  # cumulative per step: <=0.5s; 60% in (2.5, 5]

CASES = {
    "error_ratio_5xx_for_1m": Case(
        {
            "name": "ParityErrors",
            "signal": "error_ratio",
            "group_by": ["model"],
            "window": "1m",
            "threshold": 0.05,
            "for": "1m",
            "severity": "critical",
            "annotations": {"summary": "5xx on {{ $labels.model }}"},
        },
        {
            REQ.format(m="a", c="200"): counter((48, 30)),
            REQ.format(m="a", c="500"): counter((8, 0), (12, 6), (28, 0)),
            REQ.format(m="a", c="503"): counter((30, 0), (2, 3), (16, 0)),  # a 1-min blip
            REQ.format(m="b", c="200"): counter((48, 30)),
        },
        error_ratio,
    ),
    "latency_p95_keep_firing_for": Case(
        {
            "name": "ParitySlow",
            "signal": "latency_p95",
            "filters": {"provider": "p"},
            "window": "2m",
            "threshold": 2,
            "for": "1m",
            "keep_firing_for": "1m",
        },
        {
            BUCKET.format(le=le): counter((10, FAST[i]), (12, SLOW[i]), (26, FAST[i]))
            for i, le in enumerate(("0.5", "1", "2.5", "5", "+Inf"))
        },
        latency_p95,
    ),
    "output_token_rate": Case(
        {
            "name": "ParityTokens",
            "signal": "output_token_rate",
            "group_by": ["model"],
            "window": "1m",
            "threshold": 10,
            "severity": "info",
        },
        {
            'vigil_tokens_total{model="a",provider="p",type="output"}': counter(
                (12, 30), (16, 300), (20, 30)
            ),
            'vigil_tokens_total{model="a",provider="p",type="input"}': counter((48, 3000)),
        },
        token_rate,
    ),
    "budget_used_keep_firing_for": Case(
        {
            "name": "ParityBudget",
            "signal": "budget_used",
            "threshold": 0.8,
            "keep_firing_for": "30s",
        },
        {
            'vigil_budget_used_ratio{key="k1"}': [0.5] * 10 + [0.9] * 5 + [0.5, 0.85] + [0.5] * 32,
            'vigil_budget_used_ratio{team="t1"}': [0.2] * 30 + [0.85] * 6 + [0.2] * 13,
        },
        budget,
    ),
    "accuracy_below_last_in_window": Case(
        {
            "name": "ParityAccuracy",
            "signal": "performance",
            "metric": "accuracy",
            "group_by": ["model"],
            "window": "2m",
            "op": "<",
            "threshold": 0.9,
            "for": "30s",
        },
        {
            'vigil_model_performance{model="churn",metric="accuracy"}': [0.95] * 10
            + [0.8] * 10
            + [None] * 29,  # results stop: fires until 2m old
        },
        newest,
    ),
}


def promql_values(values: list[float | None]) -> str:
    return " ".join("_" if v is None else repr(v) for v in values)


def vigil_timeline(case: Case) -> tuple[AlertRule, list[list[dict[str, Any]]]]:
    """Vigil's firing alerts (promtool `exp_alerts`) at every evaluation."""
    rule = AlertRule.model_validate(case.rule)
    ev, timeline = Evaluator(), []
    for i in range(case.steps + 1):
        t = i * STEP
        ev.step(rule, case.value(rule, case.series, t), T0 + timedelta(seconds=t))
        firing = sorted(
            (
                {
                    "exp_labels": {k: v for k, v in a.labels.items() if k != "alertname"},
                    **({"exp_annotations": a.annotations} if a.annotations else {}),
                }
                for a in ev.active()
                if a.state == "firing"
            ),
            key=repr,
        )
        timeline.append(firing)
    return rule, timeline


def promtool_test(name: str, case: Case, timeline: list[list[dict[str, Any]]]) -> dict[str, Any]:
    rule = AlertRule.model_validate(case.rule)
    return {
        "name": name,
        "interval": f"{STEP}s",
        "input_series": [{"series": s, "values": promql_values(v)} for s, v in case.series.items()],
        "alert_rule_test": [
            {"eval_time": f"{i * STEP}s", "alertname": rule.name, "exp_alerts": alerts}
            for i, alerts in enumerate(timeline)
        ],
    }


@needs_promtool
def test_exported_rules_fire_and_resolve_like_vigil(tmp_path: Path) -> None:
    rules, tests = [], []
    for name, case in CASES.items():
        rule, timeline = vigil_timeline(case)
        fired = [i for i, alerts in enumerate(timeline) if alerts]
        assert fired and fired[-1] < case.steps, f"{name}: must fire, then resolve"
        rules.append(config_alert(rule))
        tests.append(promtool_test(name, case, timeline))
    (tmp_path / "parity-rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "parity", "rules": rules}]}, sort_keys=False)
    )
    spec = {
        "rule_files": ["parity-rules.yml"],
        "evaluation_interval": f"{STEP}s",
        "tests": tests,
    }
    text = "# Generated by tests/test_alerts_parity.py: Vigil's evaluator at every step.\n"
    text += yaml.safe_dump(spec, sort_keys=False, width=4096)
    test_file = tmp_path / "alerts_parity_test.yml"
    test_file.write_text(text)
    kept = PROMTOOL / "alerts_parity_test.yml"
    if os.environ.get("VIGIL_REGENERATE"):
        kept.write_text(text)
    assert kept.read_text() == text, "stale: VIGIL_REGENERATE=1 pytest tests/test_alerts_parity.py"
    run = subprocess.run(
        ["promtool", "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


def test_rules_without_a_prometheus_metric_or_label_are_skipped_with_a_reason() -> None:
    rules = [
        AlertRule.model_validate(r)
        for r in (
            {"name": "ByTeam", "signal": "request_rate", "group_by": ["team"], "threshold": 1},
            {"name": "Reloads", "signal": "config_reloads", "threshold": 0},
            {"name": "Timeouts", "signal": "error_ratio", "error_class": "timeout", "threshold": 0},
            {"name": "Ok", "signal": "ttft_p95", "threshold": 1, "min_requests": 20},
        )
    ]
    exported, skipped = config_alerts(rules)
    assert [r["alert"] for r in exported] == ["Ok"]
    assert "vigil_time_to_first_token_seconds_bucket" in exported[0]["expr"]
    assert "increase(vigil_requests_total[5m])) >= 20" in exported[0]["expr"]
    assert set(skipped) == {"ByTeam", "Reloads", "Timeouts"}
    assert "team" in skipped["ByTeam"]


@needs_promtool
def test_export_command_adds_config_rules(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vigil.exports.command import export_app

    config = tmp_path / "vigil.yaml"
    config.write_text(yaml.safe_dump({"alerts": {"rules": [case.rule for case in CASES.values()]}}))
    result = CliRunner().invoke(
        export_app, ["prometheus-rules", str(tmp_path / "out"), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    rules = tmp_path / "out" / "vigil-rules.yml"
    groups = {g["name"]: g["rules"] for g in yaml.safe_load(rules.read_text())["groups"]}
    assert [r["alert"] for r in groups["vigil-config-alerts"]] == [
        c.rule["name"] for c in CASES.values()
    ]
    check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
