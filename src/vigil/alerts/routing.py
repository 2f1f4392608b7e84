"""What happens to alerts after evaluation, as in Alertmanager: silences and inhibition mute them,
the routing tree sends the rest to receivers in groups, on `group_wait` / `group_interval` /
`repeat_interval` timing. Pure and clock-driven like the evaluator: `Dispatcher.tick(alerts, now)`
returns the notifications due now; sending them is `vigil.alerts.notify`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vigil.alerts.config import InhibitRule, Matcher, RouteConfig, matches_all, parse_matcher
from vigil.alerts.state import Alert

ROOT_DEFAULTS = {
    "group_by": ["alertname"],
    "group_wait": timedelta(seconds=30),
    "group_interval": timedelta(minutes=5),
    "repeat_interval": timedelta(hours=4),
}


@dataclass(frozen=True)
class Silence:
    """Alerts whose labels match every matcher are muted between `starts_at` and `ends_at`."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime

    def status(self, now: datetime) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def mutes(self, labels: dict[str, str], now: datetime) -> bool:
        return self.status(now) == "active" and matches_all(list(self.matchers), labels)


def silenced_by(alert: Alert, silences: list[Silence], now: datetime) -> list[str]:
    return [s.id for s in silences if s.mutes(alert.labels, now)]


class Inhibitor:
    """The inhibit rules with matchers parsed once and the firing sources indexed by their `equal`
    label values, so muting N alerts costs N lookups instead of N x firing comparisons."""

    def __init__(self, rules: list[InhibitRule], firing: list[Alert]) -> None:
        self.rules: list[tuple[list[Matcher], list[str], dict[tuple[str, ...], _Sources]]] = []
        for rule in rules:
            source = [parse_matcher(m) for m in rule.source_matchers]
            index: dict[tuple[str, ...], _Sources] = {}
            for src in firing:
                if matches_all(source, src.labels):
                    key = tuple(src.labels.get(k, "") for k in rule.equal)
                    fps, members = index.setdefault(key, ([], set()))
                    fps.append(src.fingerprint)
                    members.add(src.fingerprint)
            if index:
                target = [parse_matcher(m) for m in rule.target_matchers]
                self.rules.append((target, rule.equal, index))

    def muting(self, alert: Alert) -> list[str]:
        """Fingerprints of firing alerts that mute `alert` (an alert never mutes itself)."""
        out: list[str] = []
        for target, equal, index in self.rules:
            if matches_all(target, alert.labels):
                fps, members = index.get(tuple(alert.labels.get(k, "") for k in equal), _NONE)
                if alert.fingerprint in members:
                    out += [fp for fp in fps if fp != alert.fingerprint]
                else:
                    out += fps
        return out


_Sources = tuple[list[str], set[str]]
_NONE: _Sources = ([], set())


def inhibited_by(alert: Alert, firing: list[Alert], rules: list[InhibitRule]) -> list[str]:
    """Fingerprints of firing alerts that mute `alert` under the inhibit rules."""
    return Inhibitor(rules, firing).muting(alert)


@dataclass(frozen=True)
class Route:
    """A routing-tree node with its inherited settings resolved."""

    path: str
    receiver: str | None
    matchers: list[Matcher]
    group_by: list[str]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    continue_: bool
    routes: list[Route]

    @classmethod
    def build(cls, cfg: RouteConfig, parent: Route | None = None, path: str = "0") -> Route:
        def pick(name: str) -> object:
            own = getattr(cfg, name)
            if own is not None:
                return own
            return getattr(parent, name) if parent else ROOT_DEFAULTS[name]

        node = cls(
            path=path,
            receiver=cfg.receiver or (parent.receiver if parent else None),
            matchers=[parse_matcher(m) for m in cfg.matchers],
            group_by=list(pick("group_by")),  # type: ignore[call-overload]
            group_wait=pick("group_wait"),  # type: ignore[arg-type]
            group_interval=pick("group_interval"),  # type: ignore[arg-type]
            repeat_interval=pick("repeat_interval"),  # type: ignore[arg-type]
            continue_=cfg.continue_,
            routes=[],
        )
        node.routes.extend(cls.build(c, node, f"{path}.{i}") for i, c in enumerate(cfg.routes))
        return node

    def match(self, labels: dict[str, str]) -> list[Route]:
        """The deepest matching routes (Alertmanager's algorithm)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            found += hits
            if hits and not child.continue_:
                break
        return found or [self]


def group_key(route: Route, alert: Alert) -> tuple[str, dict[str, str]]:
    """The group an alert joins under `route`: the route and its `group_by` label values."""
    by = route.group_by
    labels = dict(alert.labels) if "..." in by else {k: alert.labels.get(k, "") for k in by}
    return f"{route.path}:{sorted(labels.items())}", labels


@dataclass(frozen=True)
class Notification:
    """One message to one receiver: a group of alerts (firing and just resolved)."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: list[Alert]


@dataclass
class _Group:
    route: Route
    labels: dict[str, str]
    next_flush: datetime
    last_notified: datetime | None = None
    sent_firing: frozenset[str] = frozenset()
    sent_resolved: set[str] = field(default_factory=set)


class Dispatcher:
    """Groups routed alerts and decides when each group notifies its receiver."""

    def __init__(self, route: RouteConfig) -> None:
        self.root = Route.build(route)
        self.groups: dict[str, _Group] = {}

    def tick(self, alerts: list[Alert], now: datetime) -> list[Notification]:
        """`alerts`: firing and recently resolved alerts that are neither silenced nor inhibited."""
        routed: dict[str, list[Alert]] = {}
        for alert in alerts:
            for route in self.root.match(alert.labels):
                if route.receiver is None:
                    continue
                key, labels = group_key(route, alert)
                if key not in self.groups:
                    self.groups[key] = _Group(route, labels, now + route.group_wait)
                routed.setdefault(key, []).append(alert)
        out: list[Notification] = []
        for key, group in list(self.groups.items()):
            members = routed.get(key, [])
            firing = [a for a in members if a.state == "firing"]
            resolved = [
                a
                for a in members
                if a.state == "resolved"
                and a.fingerprint in group.sent_firing
                and a.fingerprint not in group.sent_resolved
            ]
            if not firing and not resolved and not group.sent_firing:
                if not members:
                    del self.groups[key]
                continue
            if now < group.next_flush:
                continue
            fps = frozenset(a.fingerprint for a in firing)
            changed = fps != group.sent_firing or bool(resolved)
            repeat = (
                firing
                and group.last_notified is not None
                and now - group.last_notified >= group.route.repeat_interval
            )
            if (changed and (firing or resolved)) or repeat:
                assert group.route.receiver is not None
                out.append(Notification(group.route.receiver, key, group.labels, firing + resolved))
                group.last_notified = now
            group.next_flush = now + group.route.group_interval
            group.sent_firing = fps
            group.sent_resolved |= {a.fingerprint for a in resolved}
            if not members:
                del self.groups[key]
        return out


def seed(dispatcher: Dispatcher, alerts: list[Alert], now: datetime) -> None:
    """After a restart: groups whose firing alerts were already notified do not page again."""
    for alert in alerts:
        if alert.state != "firing" or "notified_at" not in alert.extra:
            continue
        for route in dispatcher.root.match(alert.labels):
            if route.receiver is None:
                continue
            key, labels = group_key(route, alert)
            group = dispatcher.groups.setdefault(
                key, _Group(route, labels, now + route.group_interval, now)
            )
            group.sent_firing = group.sent_firing | {alert.fingerprint}
