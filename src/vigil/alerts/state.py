"""The evaluator's state machine: inactive -> pending -> firing -> resolved, per alert.

It is pure: `Evaluator.step(rule, samples, now)` takes the rule's current values and the time, and
returns the transitions. The clock is the caller's (tests drive it by hand), the store is the
service's, so the evaluator can later run on one elected replica without change. Semantics follow
Prometheus: a true condition makes an alert pending, firing once it has held for `for` (at once
when `for` is 0); a false condition drops a pending alert and resolves a firing one, unless the
condition has been false for less than `keep_firing_for` (counted, as in Prometheus, from the
first evaluation that found it false; not persisted, so a restart restarts that count).
Resolved alerts are kept `RESOLVED_RETENTION` for notifications.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vigil.alerts.config import AlertRule

RESOLVED_RETENTION = timedelta(minutes=15)

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_VALUE = re.compile(r"\{\{\s*\$value\s*\}\}")
_LABEL = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SENTINEL = "\x00value\x00"
_CACHE_MAX = 200_000
_Series = tuple[AlertRule, dict[str, str], str, dict[str, str]]


@dataclass(frozen=True)
class Sample:
    """One series of a rule's signal: its labels (`group_by` values) and current value."""

    labels: dict[str, str]
    value: float


@dataclass
class Alert:
    """One alert instance: a rule applied to one series."""

    rule: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # pending | firing | resolved
    value: float
    active_at: datetime
    last_true_at: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    keep_firing_since: datetime | None = None  # first evaluation false while firing
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


@dataclass(frozen=True)
class Transition:
    """A state change, stored in `alert_history` (`state` is the new state)."""

    alert: Alert
    previous: str  # inactive | pending | firing
    state: str  # pending | firing | resolved | inactive
    ts: datetime


def format_value(value: float) -> str:
    """`{{ $value }}` as Prometheus prints it (Go's shortest float form): 5, 0.0625, 1e+21."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exp.lstrip('+-').rjust(2, '0')}"
    return text


def render(template: str, labels: dict[str, str], value: float) -> str:
    """Fill `{{ $value }}` and `{{ $labels.name }}` (missing labels render empty, as in Go)."""
    return _fill_labels(template, labels).replace(_SENTINEL, format_value(value))


def _fill_labels(template: str, labels: dict[str, str]) -> str:
    """The labels filled in, `{{ $value }}` left as `_SENTINEL` for a cheap per-sample replace."""
    text = _VALUE.sub(_SENTINEL, template)
    return _LABEL.sub(lambda m: labels.get(m.group(1), ""), text)


def fingerprint(labels: dict[str, str]) -> str:
    """Stable id of a label set (sorted name=value pairs, hashed), like Alertmanager's."""
    text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert_labels(rule: AlertRule, series: dict[str, str]) -> dict[str, str]:
    """Series labels (empty ones dropped: an empty label is no label, as in Prometheus), the
    rule's labels, `alertname` and `severity`."""
    kept = {k: v for k, v in series.items() if v != ""}
    return {**kept, **rule.labels, "alertname": rule.name, "severity": rule.severity}


class Evaluator:
    """Alert states of every rule, advanced one evaluation at a time.

    Alerts are indexed by rule, so a step costs the rule's own alerts, not every alert: with
    1,000 rules and 15,000 alerts a flat scan per rule made a cycle take a minute.
    """

    def __init__(self, alerts: Iterable[Alert] = ()) -> None:
        self.by_rule: dict[str, dict[str, Alert]] = {}
        for a in alerts:
            self.by_rule.setdefault(a.rule, {})[a.fingerprint] = a
        self._cache: dict[tuple[int, tuple[tuple[str, str], ...]], _Series] = {}

    def _series(self, rule: AlertRule, series: dict[str, str]) -> _Series:
        """Labels, fingerprint and label-filled annotation templates of a series, computed once
        per rule and series (hashing and templating every sample every cycle cost ~40% of it)."""
        key = (id(rule), tuple(series.items()))  # the entry keeps `rule` alive: ids stay unique
        found = self._cache.get(key)
        if found is None or found[0] is not rule:
            if len(self._cache) > _CACHE_MAX:
                self._cache.clear()
            labels = alert_labels(rule, series)
            templates = {k: _fill_labels(v, labels) for k, v in rule.annotations.items()}
            found = self._cache[key] = (rule, labels, fingerprint(labels), templates)
        return found

    def active(self) -> list[Alert]:
        return [a for alerts in self.by_rule.values() for a in alerts.values()]

    def step(self, rule: AlertRule, samples: list[Sample], now: datetime) -> list[Transition]:
        """Apply one evaluation of `rule` whose signal has `samples` now."""
        compare = _OPS[rule.op]
        out: list[Transition] = []
        true_now: set[str] = set()
        alerts = self.by_rule.setdefault(rule.name, {})
        for sample in samples:
            if math.isnan(sample.value) or not compare(sample.value, rule.threshold):
                continue
            _, labels, fp, templates = self._series(rule, sample.labels)
            true_now.add(fp)
            text = format_value(sample.value)
            annotations = {k: t.replace(_SENTINEL, text) for k, t in templates.items()}
            alert = alerts.get(fp)
            if alert is None or alert.state == "resolved":
                alert = Alert(rule.name, fp, labels, annotations, "pending", sample.value, now, now)
                alerts[fp] = alert
                out.append(Transition(alert, "inactive", "pending", now))
            alert.value, alert.annotations, alert.last_true_at = sample.value, annotations, now
            alert.keep_firing_since = None
            if alert.state == "pending" and now - alert.active_at >= rule.for_:
                alert.state, alert.fired_at = "firing", now
                out.append(Transition(alert, "pending", "firing", now))
        for fp, alert in list(alerts.items()):
            if fp in true_now:
                continue
            if alert.state == "pending":
                del alerts[fp]
                out.append(Transition(alert, "pending", "inactive", now))
            elif alert.state == "firing":
                alert.keep_firing_since = alert.keep_firing_since or now
                if now - alert.keep_firing_since >= rule.keep_firing_for:
                    alert.state, alert.resolved_at = "resolved", now
                    out.append(Transition(alert, "firing", "resolved", now))
            elif alert.resolved_at is not None and now - alert.resolved_at >= RESOLVED_RETENTION:
                del alerts[fp]
        if not alerts:
            del self.by_rule[rule.name]
        return out

    def drop_rules(self, keep: set[str], now: datetime) -> list[Transition]:
        """Forget alerts of rules that are gone (removed, disabled): firing ones resolve."""
        out: list[Transition] = []
        for name in [name for name in self.by_rule if name not in keep]:
            alerts = self.by_rule[name]
            for fp, alert in list(alerts.items()):
                if alert.state == "firing":
                    alert.state, alert.resolved_at = "resolved", now
                    out.append(Transition(alert, "firing", "resolved", now))
                elif alert.state == "pending":
                    del alerts[fp]
                    out.append(Transition(alert, "pending", "inactive", now))
                elif (
                    alert.resolved_at is not None and now - alert.resolved_at >= RESOLVED_RETENTION
                ):
                    del alerts[fp]
            if not alerts:
                del self.by_rule[name]
        return out
