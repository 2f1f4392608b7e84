"""The alert evaluator, routing, inhibition and silences on a hand-driven clock, and the service on
a real store: every transition, `for`, `keep_firing_for`, grouping timers, a restart mid-firing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vigil.alerts.config import AlertRule, InhibitRule, RouteConfig, parse_matcher
from vigil.alerts.notify import shown_url
from vigil.alerts.routing import Dispatcher, Silence, inhibited_by, silenced_by
from vigil.alerts.signals import Sources
from vigil.alerts.state import Alert, Evaluator, Sample, format_value, render
from vigil.config import VigilConfig, load_config
from vigil.config.redact import redacted_dict
from vigil.config.sections import AlertsConfig
from vigil.metrics import VigilMetrics
from vigil.pipeline import WritePipeline
from vigil.store import open_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def rule(**kw: Any) -> AlertRule:
    base: dict[str, Any] = {"name": "HighErrors", "signal": "error_ratio", "threshold": 0.05}
    return AlertRule.model_validate({**base, **kw})


def high(value: float = 0.2, model: str = "gpt") -> list[Sample]:
    return [Sample({"model": model, "provider": "p"}, value)]


def states(ev: Evaluator) -> list[str]:
    return [a.state for a in ev.active()]


def test_inactive_pending_firing_resolved_with_for() -> None:
    r, ev = rule(**{"for": "1m"}), Evaluator()
    assert ev.step(r, high(0.01), T0) == [] and states(ev) == []
    (t,) = ev.step(r, high(), T0 + 15 * S)
    assert (t.previous, t.state) == ("inactive", "pending")
    assert ev.step(r, high(), T0 + 60 * S) == []  # 45 s < for
    (t,) = ev.step(r, high(), T0 + 75 * S)
    assert (t.previous, t.state) == ("pending", "firing") and t.alert.fired_at == T0 + 75 * S
    (t,) = ev.step(r, [], T0 + 90 * S)
    assert (t.previous, t.state) == ("firing", "resolved") and t.alert.resolved_at == T0 + 90 * S
    # resolved alerts are kept 15 minutes for notifications, then dropped
    ev.step(r, [], T0 + 17 * 60 * S)
    assert states(ev) == []


def test_pending_drops_back_to_inactive_and_restarts_its_for() -> None:
    r, ev = rule(**{"for": "1m"}), Evaluator()
    ev.step(r, high(), T0)
    (t,) = ev.step(r, high(0.0), T0 + 30 * S)
    assert (t.previous, t.state) == ("pending", "inactive") and states(ev) == []
    ev.step(r, high(), T0 + 45 * S)
    assert ev.step(r, high(), T0 + 90 * S) == []  # the `for` restarted at 45 s
    assert [t.state for t in ev.step(r, high(), T0 + 105 * S)] == ["firing"]


def test_zero_for_fires_at_once() -> None:
    ev = Evaluator()
    assert [t.state for t in ev.step(rule(), high(), T0)] == ["pending", "firing"]


def test_keep_firing_for_holds_then_resolves() -> None:
    r, ev = rule(keep_firing_for="2m"), Evaluator()
    ev.step(r, high(), T0)
    assert ev.step(r, [], T0 + 60 * S) == [] and states(ev) == ["firing"]
    ev.step(r, high(), T0 + 90 * S)  # true again: the count restarts
    assert ev.step(r, [], T0 + 105 * S) == []  # false again: 2 minutes from here (Prometheus)
    assert ev.step(r, [], T0 + 224 * S) == []
    (t,) = ev.step(r, [], T0 + 225 * S)
    assert t.state == "resolved"


def test_one_alert_per_series_and_labels_annotations() -> None:
    r = rule(
        labels={"team": "llm"},
        annotations={"summary": "{{ $labels.model }} at {{ $value }} ({{ $labels.nope }})"},
    )
    ev = Evaluator()
    ev.step(r, high(0.25, "a") + high(0.0, "b") + high(0.5, "c"), T0)
    alerts = sorted(ev.active(), key=lambda a: a.labels["model"])
    assert [a.labels["model"] for a in alerts] == ["a", "c"]
    assert alerts[0].labels == {
        "model": "a", "provider": "p", "team": "llm", "alertname": "HighErrors",
        "severity": "warning",
    }  # fmt: skip
    assert alerts[0].annotations["summary"] == "a at 0.25 ()"


def test_templates_print_values_like_prometheus() -> None:
    assert [format_value(v) for v in (5.0, 0.0625, 1 / 6, 1e21, 2.5e-7)] == [
        "5", "0.0625", "0.16666666666666666", "1e+21", "2.5e-07",
    ]  # fmt: skip
    assert render("{{$value}}/{{ $labels.x }}", {"x": "y"}, 3.0) == "3/y"


def test_rule_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="no label 'feature'"):
        rule(group_by=["feature"])
    with pytest.raises(ValueError, match="metric is required"):
        AlertRule(name="A", signal="performance", threshold=0.9)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="invalid matcher"):
        RouteConfig(matchers=["=nope"])


def test_matchers_follow_alertmanager() -> None:
    labels = {"severity": "critical", "model": "gpt-4o"}
    assert parse_matcher('severity="critical"').matches(labels)
    assert parse_matcher("model=~gpt-.*").matches(labels)
    assert not parse_matcher('model=~"gpt"').matches(labels)  # anchored
    assert parse_matcher('team!="x"').matches(labels)
    assert not parse_matcher('model!~"gpt.*"').matches(labels)
    assert str(parse_matcher("a!~b")) == 'a!~"b"'


def make_alert(name: str, severity: str, model: str = "m", state: str = "firing") -> Alert:
    labels = {"alertname": name, "severity": severity, "model": model, "provider": "p"}
    return Alert(name, f"{name}-{model}", labels, {}, state, 1.0, T0, T0, T0)


def test_inhibition_mutes_the_matching_warning_only() -> None:
    rules = AlertsConfig().inhibit_rules
    crit, warn = make_alert("Crit", "critical"), make_alert("Warn", "warning")
    other = make_alert("Warn", "warning", model="other")
    firing = [crit, warn, other]
    assert inhibited_by(warn, firing, rules) == [crit.fingerprint]
    assert inhibited_by(other, firing, rules) == []  # different model
    assert inhibited_by(crit, firing, rules) == []
    custom = [InhibitRule(source_matchers=["alertname=Crit"], target_matchers=["severity=~.+"])]
    assert inhibited_by(other, firing, custom) == [crit.fingerprint]


def test_silences_have_a_time_window() -> None:
    alert = make_alert("Warn", "warning")
    s = Silence(
        "s1", (parse_matcher("alertname=Warn"), parse_matcher('model=~"m|n"')),
        T0 + 60 * S, T0 + 120 * S, "me", "maintenance", T0,
    )  # fmt: skip
    assert [s.status(T0 + k * S) for k in (0, 60, 119, 120)] == [
        "pending", "active", "active", "expired",
    ]  # fmt: skip
    assert silenced_by(alert, [s], T0) == [] and silenced_by(alert, [s], T0 + 90 * S) == ["s1"]
    assert silenced_by(make_alert("Other", "warning"), [s], T0 + 90 * S) == []


def route(**kw: Any) -> RouteConfig:
    base: dict[str, Any] = {
        "receiver": "default",
        "group_by": ["alertname"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
        "routes": [{"matchers": ['severity="critical"'], "receiver": "pager"}],
    }
    return RouteConfig.model_validate({**base, **kw})


def test_grouping_waits_batches_updates_and_repeats() -> None:
    d = Dispatcher(route())
    a1 = make_alert("Warn", "warning", "a")
    assert d.tick([a1], T0) == []  # group_wait
    a2 = make_alert("Warn", "warning", "b")
    (n,) = d.tick([a1, a2], T0 + 30 * S)
    assert n.receiver == "default" and n.group_labels == {"alertname": "Warn"}
    assert {a.labels["model"] for a in n.alerts} == {"a", "b"}
    a3 = make_alert("Warn", "warning", "c")
    assert d.tick([a1, a2, a3], T0 + 60 * S) == []  # group_interval not over
    (n,) = d.tick([a1, a2, a3], T0 + 330 * S)  # 5 min after the first flush
    assert len(n.alerts) == 3
    assert d.tick([a1, a2, a3], T0 + 630 * S) == []  # unchanged: waits for repeat_interval
    (n,) = d.tick([a1, a2, a3], T0 + 3930 * S)  # 1 h after the last notification
    assert len(n.alerts) == 3
    a1.state, a1.resolved_at = "resolved", T0 + 4000 * S
    (n,) = d.tick([a1, a2, a3], T0 + 4230 * S)
    assert [a.state for a in n.alerts if a.labels["model"] == "a"] == ["resolved"]
    assert d.tick([a1, a2, a3], T0 + 4530 * S) == []  # resolved is sent once


def test_routing_tree_picks_the_deepest_match_and_continue() -> None:
    d = Dispatcher(route())
    crit = make_alert("Crit", "critical")
    d.tick([crit], T0)
    (n,) = d.tick([crit], T0 + 30 * S)
    assert n.receiver == "pager"
    both = route(
        routes=[
            {"matchers": ["severity=critical"], "receiver": "pager", "continue": True},
            {"matchers": ["model=m"], "receiver": "chat", "group_wait": "0s"},
        ]
    )
    d = Dispatcher(both)
    assert [n.receiver for n in d.tick([crit], T0)] == ["chat"]
    assert [n.receiver for n in d.tick([crit], T0 + 30 * S)] == ["pager"]


# -- the service on a real store --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def insert_calls(store: Any, start: datetime, n: int, errors: int, model: str = "m") -> None:
    for i in range(n):
        ts = (start + i * S / 10).replace(tzinfo=None)
        status = 500 if i < errors else 200
        store.execute(
            "INSERT INTO llm_calls (id, ts, model, provider, status_code, duration_s) "
            "VALUES (?, ?, ?, 'p', ?, 0.1)",
            [f"{start.timestamp()}-{i}", ts, model, status],
        )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    yield {"path": tmp_path / "a.duckdb"}


async def run_service(path: Path, cfg: AlertsConfig, clock: Clock) -> Any:
    from vigil.alerts.service import AlertService

    store = open_store(str(path))
    pipeline = WritePipeline(store, VigilMetrics(), queue_max=1000, high_water_ratio=0.8,
                             batch_max=100, flush_interval=0.01, retry_after=1.0)  # fmt: skip
    pipeline.start()
    counts: dict[str, int] = {}
    service = AlertService(store, pipeline.run_exclusive, lambda: cfg, Sources(), clock,
                           on_firing=counts.update)  # fmt: skip
    await service.start()
    return service, store, pipeline, counts


async def close(service: Any, store: Any, pipeline: Any) -> None:
    await service.stop()
    pipeline.close()
    store.close()


CFG = VigilConfig.model_validate(
    {
        "alerts": {
            "default_rules": False,
            "rules": [
                {
                    "name": "Errs",
                    "signal": "error_ratio",
                    "window": "1m",
                    "threshold": 0.05,
                    "for": "30s",
                    "severity": "critical",
                },
            ],
        }
    }
).alerts


async def test_service_fires_persists_and_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "a.duckdb"
    service, store, pipeline, counts = await run_service(path, CFG, clock)
    await insert_calls(store, T0 - 50 * S, 100, 20)
    assert [t.state for t in await service.cycle()] == ["pending"]
    clock.now = T0 + 30 * S
    await insert_calls(store, clock.now - 50 * S, 100, 20, model="m")
    assert [t.state for t in await service.cycle()] == ["firing"]
    assert counts["critical"] == 1
    (fired,) = service.evaluator.active()
    await close(service, store, pipeline)

    clock.now = T0 + 45 * S  # restart mid-firing: still firing, same start, no new transition
    service, store, pipeline, counts = await run_service(path, CFG, clock)
    await insert_calls(store, clock.now - 12 * S, 100, 20)
    (again,) = service.evaluator.active()
    assert (again.state, again.fired_at, again.fingerprint) == ("firing", fired.fired_at,
                                                               fired.fingerprint)  # fmt: skip
    assert await service.cycle() == [] and counts["critical"] == 1
    clock.now = T0 + 5 * 60 * S  # errors stop (no calls in the window)
    assert [t.state for t in await service.cycle()] == ["resolved"]
    assert counts["critical"] == 0
    rows = store.fetch("SELECT event FROM alert_history ORDER BY ts, event")
    assert [r[0] for r in rows] == ["inactive->pending", "pending->firing", "firing->resolved"]
    await close(service, store, pipeline)


def test_receiver_and_alertmanager_urls_are_env_secrets(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(
        "alerts:\n"
        "  receivers:\n"
        "    - name: pager\n"
        "      webhook_urls: [env:PAGER_URL]\n"
        "      slack_urls: ['https://hooks.slack.example/services/T0/B0/slack-secret']\n"
        "  alertmanagers:\n"
        "    - url: https://vigil:am-secret@am.example:9093\n"
    )
    cfg = load_config(path, env={"PAGER_URL": "https://events.pd.example/hook/pd-secret"})
    receiver = cfg.alerts.receivers[0]
    assert receiver.webhook_urls[0].get_secret_value().endswith("/pd-secret")
    assert cfg.alerts.alertmanagers[0].url.get_secret_value().startswith("https://vigil:am")
    for text in (repr(cfg.alerts), str(redacted_dict(cfg))):
        for secret in ("pd-secret", "slack-secret", "am-secret"):
            assert secret not in text
    assert shown_url(receiver.slack_urls[0]) == "https://hooks.slack.example/********"


def test_the_signal_type_lists_every_signal() -> None:
    """`Signal` spells the names out for mypy and the JSON schema; it must match `SIGNALS`."""
    from typing import get_args

    from vigil.alerts.config import SIGNALS, Signal

    assert sorted(get_args(Signal)) == sorted(SIGNALS)
