"""The evaluator's state machine: inactive -> pending -> firing -> resolved, per alert.

It is pure: `Evaluator.step(rule, samples, now)` takes the rule's current values and the time, and
returns the transitions. The clock is the caller's (tests drive it by hand), the store is the
service's, so the evaluator can later run on one elected replica without change. Semantics follow
Prometheus: a true condition makes an alert pending, firing once it has held for `for` (at once
when `for` is 0); a false condition drops a pending alert and resolves a firing one, unless it was
true within `keep_firing_for`. Resolved alerts are kept `RESOLVED_RETENTION` for notifications.
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
    text = _VALUE.sub(lambda _: format_value(value), template)
    return _LABEL.sub(lambda m: labels.get(m.group(1), ""), text)


def fingerprint(labels: dict[str, str]) -> str:
    """Stable id of a label set (sorted name=value pairs, hashed), like Alertmanager's."""
    text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert_labels(rule: AlertRule, series: dict[str, str]) -> dict[str, str]:
    return {**series, **rule.labels, "alertname": rule.name, "severity": rule.severity}


class Evaluator:
    """Alert states of every rule, advanced one evaluation at a time."""

    def __init__(self, alerts: Iterable[Alert] = ()) -> None:
        self.alerts: dict[tuple[str, str], Alert] = {(a.rule, a.fingerprint): a for a in alerts}

    def active(self) -> list[Alert]:
        return list(self.alerts.values())

    def step(self, rule: AlertRule, samples: list[Sample], now: datetime) -> list[Transition]:
        """Apply one evaluation of `rule` whose signal has `samples` now."""
        compare = _OPS[rule.op]
        out: list[Transition] = []
        true_now: set[str] = set()
        for sample in samples:
            if math.isnan(sample.value) or not compare(sample.value, rule.threshold):
                continue
            labels = alert_labels(rule, sample.labels)
            fp = fingerprint(labels)
            true_now.add(fp)
            annotations = {k: render(v, labels, sample.value) for k, v in rule.annotations.items()}
            alert = self.alerts.get((rule.name, fp))
            if alert is None or alert.state == "resolved":
                alert = Alert(rule.name, fp, labels, annotations, "pending", sample.value, now, now)
                self.alerts[(rule.name, fp)] = alert
                out.append(Transition(alert, "inactive", "pending", now))
            alert.value, alert.annotations, alert.last_true_at = sample.value, annotations, now
            if alert.state == "pending" and now - alert.active_at >= rule.for_:
                alert.state, alert.fired_at = "firing", now
                out.append(Transition(alert, "pending", "firing", now))
        for key, alert in list(self.alerts.items()):
            if key[0] != rule.name or alert.fingerprint in true_now:
                continue
            if alert.state == "pending":
                del self.alerts[key]
                out.append(Transition(alert, "pending", "inactive", now))
            elif alert.state == "firing" and now - alert.last_true_at >= rule.keep_firing_for:
                alert.state, alert.resolved_at = "resolved", now
                out.append(Transition(alert, "firing", "resolved", now))
            elif alert.resolved_at is not None and now - alert.resolved_at >= RESOLVED_RETENTION:
                del self.alerts[key]
        return out

    def drop_rules(self, keep: set[str], now: datetime) -> list[Transition]:
        """Forget alerts of rules that are gone (removed, disabled): firing ones resolve."""
        out: list[Transition] = []
        for key, alert in list(self.alerts.items()):
            if key[0] in keep:
                continue
            if alert.state == "firing":
                alert.state, alert.resolved_at = "resolved", now
                out.append(Transition(alert, "firing", "resolved", now))
            elif alert.state == "pending":
                del self.alerts[key]
                out.append(Transition(alert, "pending", "inactive", now))
            elif alert.resolved_at is not None and now - alert.resolved_at >= RESOLVED_RETENTION:
                del self.alerts[key]
        return out
