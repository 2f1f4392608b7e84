"""`vigil export`: dashboards name real metrics; promtool and amtool accept the rules and config;
`promtool test rules` proves each default alert fires and resolves (tests/promtool/)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vigil.cli import app
from vigil.exports.grafana import expressions
from vigil.exports.rules import DEFAULT_ALERTS
from vigil.metrics import VigilMetrics

PROMTOOL_TESTS = Path(__file__).parent / "promtool"
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs prometheus")
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="needs alertmanager")

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "info": ("_info",),
    "gauge": ("",),
}


def exported_names() -> set[str]:
    """Every sample name Vigil's registry can expose."""
    names = set()
    for family in VigilMetrics().registry.collect():
        names.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
    return names


def export(kind: str, directory: Path, *args: str) -> list[Path]:
    result = CliRunner().invoke(app, ["export", kind, str(directory), *args])
    assert result.exit_code == 0, result.output
    return [Path(line) for line in result.output.split()]


def test_grafana_dashboards_and_provisioning(tmp_path: Path) -> None:
    written = export("grafana", tmp_path, "--prometheus-url", "http://prom:9090")
    boards = {p.name: json.loads(p.read_text()) for p in written if p.suffix == ".json"}
    assert set(boards) == {
        "vigil-overview.json",
        "vigil-llm-gateway.json",
        "vigil-ml-models.json",
        "vigil-self.json",
    }
    known = exported_names()
    for name, board in boards.items():
        variables = board["templating"]["list"]
        assert variables[0] == {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        }
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            for target in panel["targets"]:
                metrics = set(re.findall(r"\b((?:vigil|process)_[a-z_]+)\b", target["expr"]))
                assert metrics, (name, panel["title"])
                assert metrics <= known, (name, panel["title"], metrics - known)
        for var in variables[1:]:
            metric = re.search(r"label_values\((\w+),", var["definition"])
            assert metric and metric.group(1) in known
    exprs = [e for b in boards.values() for _, e in expressions(b)]
    assert any("histogram_quantile(0.95" in e for e in exprs)
    for needed in ("vigil_retries_total", "vigil_fallbacks_total", "vigil_drift_score"):
        assert any(needed in e for e in exprs), needed
    dash = yaml.safe_load((tmp_path / "provisioning/dashboards/vigil.yaml").read_text())
    assert dash["providers"][0]["options"]["path"] == str((tmp_path / "dashboards").resolve())
    ds = yaml.safe_load((tmp_path / "provisioning/datasources/vigil.yaml").read_text())
    assert ds["datasources"][0]["url"] == "http://prom:9090"


@needs_promtool
def test_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    (rules,) = export("prometheus-rules", tmp_path)
    check = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout
    known = exported_names()
    groups = yaml.safe_load(rules.read_text())["groups"]
    records = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    for rule in (r for g in groups for r in g["rules"]):
        names = set(re.findall(r"\b(vigil_[a-z_]+)\b", rule["expr"]))
        used = set(re.findall(r"\b(vigil:[a-z0-9_:]+)\b", rule["expr"]))
        assert names <= known and used <= records, rule

    test_file = tmp_path / "default_alerts_test.yml"
    shutil.copy(PROMTOOL_TESTS / "default_alerts_test.yml", test_file)
    run = subprocess.run(
        ["promtool", "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_default_alert_has_a_fires_and_resolves_case() -> None:
    spec = yaml.safe_load((PROMTOOL_TESTS / "default_alerts_test.yml").read_text())
    cases = [c for t in spec["tests"] for c in t["alert_rule_test"]]
    for alert in DEFAULT_ALERTS:
        mine = sorted((c for c in cases if c["alertname"] == alert.name), key=_eval_minutes)
        fired = [i for i, c in enumerate(mine) if c["exp_alerts"]]
        assert fired, f"{alert.name}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine[fired[0] :]), f"{alert.name}: never resolves"
        for case in (mine[i] for i in fired):
            assert case["exp_alerts"][0]["exp_labels"]["severity"] == alert.severity


def _eval_minutes(case: dict[str, str]) -> float:
    value = case["eval_time"]
    return float(value[:-1]) / (60 if value.endswith("s") else 1)


@needs_amtool
def test_alertmanager_config_routes_by_severity(tmp_path: Path) -> None:
    (config,) = export("alertmanager", tmp_path, "--pager-url", "http://pager.test/hook")
    check = subprocess.run(
        ["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    expected = {"critical": "pager", "warning": "chat", "info": "none"}
    for severity, receiver in expected.items():
        route = subprocess.run(
            [
                *("amtool", "config", "routes", "test", "--config.file", str(config)),
                f"severity={severity}",
                "alertname=VigilErrorRatioCritical",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert route.stdout.strip() == receiver, route.stdout + route.stderr
    loaded = yaml.safe_load(config.read_text())
    assert loaded["receivers"][0]["webhook_configs"][0]["url"] == "http://pager.test/hook"


def test_export_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    result = CliRunner().invoke(app, ["export", "prometheus-rules", str(target)])
    assert result.exit_code == 2
    assert "cannot write" in result.output
