"""The alert service: one evaluation cycle = signals -> state machine -> silences/inhibition ->
routing -> deliveries, plus persistence. `alert_loop` runs it every `alerts.evaluation_interval`.

The service takes its clock, its store reader and its writer as arguments, so tests drive it by
hand and a later scale-out can run it on one elected replica only. Deliveries are fire-and-forget
tasks: the next cycle never waits for a receiver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from pydantic import SecretStr

from vigil.alerts import persist
from vigil.alerts.config import AlertRule
from vigil.alerts.defaults import effective_rules
from vigil.alerts.notify import (
    Delivery,
    DeliveryResult,
    alertmanager_alert,
    send,
    slack_payload,
    webhook_payload,
)
from vigil.alerts.routing import Dispatcher, Inhibitor, Notification, Silence, seed, silenced_by
from vigil.alerts.signals import Sources, evaluate_signals
from vigil.alerts.state import Alert, Evaluator, Transition
from vigil.config.sections import AlertsConfig
from vigil.store import Store

if TYPE_CHECKING:
    from vigil.app import VigilState

log = logging.getLogger("vigil.alerts")
T = TypeVar("T")
Writer = Callable[[Callable[[Store], T]], Awaitable[T]]


@dataclass
class _AMTarget:
    last_sent: datetime | None = None
    sent: set[str] = field(default_factory=set)


class AlertService:
    """Alert state of one Vigil process, advanced by `cycle()`."""

    def __init__(
        self,
        store: Store,
        write: Writer[Any],
        config: Callable[[], AlertsConfig],
        sources: Sources | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_firing: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self.store, self.write, self.config, self.clock = store, write, config, clock
        self.sources = sources or Sources()
        self.on_firing = on_firing
        self.evaluator = Evaluator()
        self.silences: dict[str, Silence] = {}
        self.api_rules: dict[str, AlertRule] = {}
        self._route = config().route
        self.dispatcher = Dispatcher(self._route)
        self._am: dict[str, _AMTarget] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.lock = asyncio.Lock()
        self.last_results: list[DeliveryResult] = []
        self.started = False
        self._saved: set[tuple[str, str]] = set()  # (rule, fingerprint) in `alert_state`

    async def start(self) -> None:
        """Load state, silences and API rules saved by a previous run."""
        alerts = await asyncio.to_thread(persist.load_state, self.store)
        self.evaluator = Evaluator(alerts)
        self._saved = {(a.rule, a.fingerprint) for a in alerts}
        seed(self.dispatcher, alerts, self.clock())
        silences = await asyncio.to_thread(persist.load_silences, self.store)
        self.silences = {s.id: s for s in silences}
        rules = await asyncio.to_thread(persist.load_api_rules, self.store)
        self.api_rules = {r.name: r for r in rules}
        self.started = True

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def rules(self) -> list[tuple[str, AlertRule]]:
        cfg = self.config()
        return effective_rules(
            cfg.rules, list(self.api_rules.values()), cfg.default_rules, cfg.disabled_defaults
        )

    def annotate(self, now: datetime) -> None:
        """Mark each alert with the silences and firing alerts that mute it."""
        cfg = self.config()
        alerts = self.evaluator.active()
        firing = [a for a in alerts if a.state == "firing"]
        silences = [s for s in self.silences.values() if s.status(now) == "active"]
        inhibitor = Inhibitor(cfg.inhibit_rules, firing)
        for a in alerts:
            a.extra["silenced_by"] = silenced_by(a, silences, now)
            a.extra["inhibited_by"] = inhibitor.muting(a)

    async def cycle(self, now: datetime | None = None) -> list[Transition]:
        """One evaluation of every rule at `now` (default: the clock)."""
        async with self.lock:
            return await self._cycle(now or self.clock())

    async def _cycle(self, now: datetime) -> list[Transition]:
        cfg = self.config()
        rules = [rule for _, rule in self.rules()]
        samples = await asyncio.to_thread(
            evaluate_signals, self.store.fetch, rules, now, self.sources
        )
        transitions: list[Transition] = []
        for rule in rules:
            transitions += self.evaluator.step(rule, samples.get(rule.name, []), now)
        transitions += self.evaluator.drop_rules({r.name for r in rules}, now)
        self.annotate(now)
        alerts = self.evaluator.active()
        self._export_firing(alerts)
        deliverable = [
            a
            for a in alerts
            if a.state in ("firing", "resolved")
            and not a.extra["silenced_by"]
            and not a.extra["inhibited_by"]
        ]
        if cfg.route != self._route:
            self._route, self.dispatcher = cfg.route, Dispatcher(cfg.route)
        notified_now: list[Alert] = []
        for n in self.dispatcher.tick(deliverable, now):
            for a in n.alerts:
                if a.state == "firing":
                    a.extra["notified_at"] = now
                    notified_now.append(a)
            self._notify(n, cfg)
        self._alertmanagers(cfg, alerts, deliverable, now, bool(transitions))
        await self._save(transitions, notified_now)
        return transitions

    async def _save(self, transitions: list[Transition], notified: list[Alert]) -> None:
        """Persist what moved (transitions, notified alerts) and delete alerts that are gone;
        values of unchanged alerts are not rewritten every cycle (the next cycle recomputes)."""
        current = {(a.rule, a.fingerprint): a for a in self.evaluator.active()}
        changed = {(t.alert.rule, t.alert.fingerprint) for t in transitions}
        changed |= {(a.rule, a.fingerprint) for a in notified}
        removed = [k for k in self._saved if k not in current]
        upserts = [current[k] for k in changed if k in current]
        if not (transitions or upserts or removed):
            return

        def save(store: Store) -> None:
            persist.save_transitions(store, transitions)
            persist.save_state(store, upserts, removed)

        await self.write(save)
        self._saved = set(current)

    def _export_firing(self, alerts: list[Alert]) -> None:
        counts = dict.fromkeys(("critical", "warning", "info"), 0)
        for a in alerts:
            if a.state == "firing":
                counts[a.severity] = counts.get(a.severity, 0) + 1
        if self.on_firing:
            self.on_firing(counts)

    def _notify(self, n: Notification, cfg: AlertsConfig) -> None:
        receiver = next((r for r in cfg.receivers if r.name == n.receiver), None)
        if receiver is None:
            log.warning("alert route names an unknown receiver", extra={"receiver": n.receiver})
            return
        alerts = [a for a in n.alerts if receiver.send_resolved or a.state == "firing"]
        if not alerts:
            return
        n = Notification(n.receiver, n.group_key, n.group_labels, alerts)
        tries = (receiver.timeout, receiver.max_attempts)
        for url in receiver.webhook_urls:
            body = webhook_payload(n, cfg.external_url)
            self._spawn(Delivery(n.receiver, "webhook", url, body, *tries, n.group_key))
        for url in receiver.slack_urls:
            self._spawn(Delivery(n.receiver, "slack", url, slack_payload(n), *tries, n.group_key))

    def _alertmanagers(
        self,
        cfg: AlertsConfig,
        alerts: list[Alert],
        deliverable: list[Alert],
        now: datetime,
        changed: bool,
    ) -> None:
        """Send every firing alert (and recent resolutions) to each Alertmanager, resent while
        firing; an alert that becomes silenced in Vigil is ended there (`endsAt` = now)."""
        interval = cfg.evaluation_interval
        for target in cfg.alertmanagers:
            base = target.url.get_secret_value().rstrip("/")
            st = self._am.setdefault(base, _AMTarget())
            firing = {a.fingerprint for a in deliverable if a.state == "firing"}
            due = st.last_sent is None or now - st.last_sent >= target.resend_interval
            if not (due or changed or firing != st.sent):
                continue
            ends = now + 4 * max(target.resend_interval, interval)
            body = []
            for a in alerts:
                if a.fingerprint in firing:
                    body.append(alertmanager_alert(a, ends, cfg.external_url))
                elif a.state == "resolved" and a.resolved_at is not None:
                    body.append(alertmanager_alert(a, a.resolved_at, cfg.external_url))
                elif a.fingerprint in st.sent:  # muted in Vigil since the last send
                    body.append(alertmanager_alert(a, now, cfg.external_url))
            st.last_sent, st.sent = now, firing
            if body:
                url = SecretStr(base + "/api/v2/alerts")
                self._spawn(Delivery("alertmanager", "alertmanager", url, body, target.timeout, 3))

    def _spawn(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        result = await send(self._session, delivery)
        try:
            await self.write(lambda store: persist.save_deliveries(store, [result]))
        except Exception:  # the pipeline is shutting down: the log line was already written
            log.debug("delivery log not saved", exc_info=True)
        self.last_results.append(result)
        del self.last_results[:-100]

    async def add_silence(self, silence: Silence) -> None:
        await self.write(lambda store: persist.save_silence(store, silence))
        self.silences[silence.id] = silence
        self.annotate(self.clock())

    async def put_rule(self, rule: AlertRule) -> None:
        now = self.clock()
        await self.write(lambda store: persist.save_api_rule(store, rule, now))
        self.api_rules[rule.name] = rule

    async def delete_rule(self, name: str) -> None:
        await self.write(lambda store: persist.delete_api_rule(store, name))
        self.api_rules.pop(name, None)


_SERVICES: dict[int, AlertService] = {}


def service_for(state: VigilState) -> AlertService:
    """The app's alert service (created on first use, by the loop or by an API call)."""
    service = _SERVICES.get(id(state))
    if service is None:
        assert state.store is not None and state.pipeline is not None
        sources = Sources()
        gateway = state.gateway
        if gateway is not None:
            sources.budgets = gateway.budgets.used_ratio

        def on_reload(_old: Any, _new: Any) -> None:
            sources.reloads.append(datetime.now(UTC))
            del sources.reloads[:-100]

        state.manager.subscribe(on_reload)
        gauge = state.metrics.alerts_firing

        def on_firing(counts: dict[str, int]) -> None:
            for severity, n in counts.items():
                gauge.labels(severity).set(n)

        service = AlertService(
            state.store,
            state.pipeline.run_exclusive,
            lambda: state.config.alerts,
            sources,
            on_firing=on_firing,
        )
        _SERVICES[id(state)] = service
    return service


async def alert_loop(state: VigilState) -> None:
    """Background job: evaluate every `alerts.evaluation_interval` while `alerts.enabled`."""
    service = service_for(state)
    try:
        if not service.started:
            await service.start()
        while True:
            cfg = state.config.alerts
            if cfg.enabled:
                try:
                    await service.cycle()
                except Exception:
                    log.exception("alert evaluation failed")
            pause = max(cfg.evaluation_interval, timedelta(milliseconds=50))
            await asyncio.sleep(pause.total_seconds())
    finally:
        await service.stop()
        _SERVICES.pop(id(state), None)
