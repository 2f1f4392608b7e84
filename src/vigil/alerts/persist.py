"""The alert tables (migration 7 and `alert_history`): SQL to save and load state, silences,
history, deliveries and API-defined rules.

Writers take a `Store` and run on the pipeline's writer thread (`pipeline.run_exclusive`); each
change of the evaluator state is saved in one transaction, so a crash leaves the old or the new:
after a restart a firing alert is still firing (no lost page) with its original `fired_at` (no
duplicate "new alert" notification).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from vigil.alerts.config import AlertRule, Matcher
from vigil.alerts.notify import DeliveryResult
from vigil.alerts.routing import Silence
from vigil.alerts.state import Alert, Transition
from vigil.store import Store


def naive(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts.astimezone(UTC).replace(tzinfo=None)


def aware(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts.replace(tzinfo=UTC)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _insert(store: Store, table: str, columns: Sequence[str], rows: list[list[Any]]) -> None:
    if not rows:
        return
    one = "(" + ", ".join("?" for _ in columns) + ")"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join(one for _ in rows)
    store.execute(sql, [v for row in rows for v in row])


STATE_COLUMNS = (
    "rule, fingerprint, state, labels, annotations, value, active_at, last_true_at, fired_at, "
    "resolved_at, notified_at"
)
_STATE_TYPES = dict.fromkeys(STATE_COLUMNS.split(", "), "VARCHAR") | {"value": "DOUBLE"}
_TIMES = ("active_at", "last_true_at", "fired_at", "resolved_at", "notified_at")


def _iso(ts: datetime | None) -> str | None:
    value = naive(ts)
    return None if value is None else value.isoformat(sep=" ")


def _json_insert(table: str, types: dict[str, str], times: Sequence[str]) -> str:
    """`INSERT ... SELECT` from ONE JSON parameter holding every row: DuckDB parses it in C, where
    binding 11 parameters per row cost ~2.5 s per 15,000 alerts (a 1,000-rule cycle)."""
    spec = _json({"r": [dict(types)]}).replace('{"r":', "", 1)[:-1]
    cols = [f"r.{c}::TIMESTAMP" if c in times else f"r.{c}" for c in types]
    return (
        f"INSERT INTO {table} ({', '.join(types)}) SELECT {', '.join(cols)} "
        f"FROM (SELECT unnest(from_json(?::JSON, '{spec}')) AS r)"
    )


_STATE_INSERT = _json_insert("alert_state", _STATE_TYPES, _TIMES)


def _state_row(a: Alert) -> dict[str, Any]:
    return {
        "rule": a.rule, "fingerprint": a.fingerprint, "state": a.state,
        "labels": _json(a.labels), "annotations": _json(a.annotations), "value": a.value,
        "active_at": _iso(a.active_at), "last_true_at": _iso(a.last_true_at),
        "fired_at": _iso(a.fired_at), "resolved_at": _iso(a.resolved_at),
        "notified_at": _iso(a.extra.get("notified_at")),
    }  # fmt: skip


def save_state(store: Store, changed: list[Alert], removed: Sequence[tuple[str, str]]) -> None:
    """Rewrite the `changed` alerts and delete the `removed` (rule, fingerprint), in one
    transaction: a steady cycle with 15,000 alerts writes only the few that moved."""
    keys = [f"{a.rule}:{a.fingerprint}" for a in changed] + [f"{r}:{f}" for r, f in removed]
    if not keys:
        return
    delete = (
        "DELETE FROM alert_state WHERE rule || ':' || fingerprint IN "
        """(SELECT unnest(from_json(?::JSON, '["VARCHAR"]')))"""
    )
    statements: list[tuple[str, list[Any]]] = [(delete, [_json(keys)])]
    if changed:
        statements.append((_STATE_INSERT, [_json([_state_row(a) for a in changed])]))
    store.transaction(statements)


def load_state(store: Store) -> list[Alert]:
    rows = store.fetch(f"SELECT {STATE_COLUMNS} FROM alert_state")
    out = []
    for rule, fp, state, labels, notes, value, active, last, fired, resolved, told in rows:
        alert = Alert(
            rule, fp, orjson.loads(labels), orjson.loads(notes), state, value,
            active.replace(tzinfo=UTC), last.replace(tzinfo=UTC), aware(fired), aware(resolved),
        )  # fmt: skip
        if told is not None:
            alert.extra["notified_at"] = aware(told)
        out.append(alert)
    return out


HISTORY_COLUMNS = ("id", "ts", "rule", "fingerprint", "severity", "state", "value", "labels",
                   "annotations", "event")  # fmt: skip


_HISTORY_INSERT = _json_insert(
    "alert_history", dict.fromkeys(HISTORY_COLUMNS, "VARCHAR") | {"value": "DOUBLE"}, ("ts",)
)


def save_transitions(store: Store, transitions: list[Transition]) -> None:
    rows = [
        {
            "id": uuid.uuid4().hex,
            "ts": _iso(t.ts),
            "rule": t.alert.rule,
            "fingerprint": t.alert.fingerprint,
            "severity": t.alert.severity,
            "state": t.state,
            "value": t.alert.value,
            "labels": _json(t.alert.labels),
            "annotations": _json(t.alert.annotations),
            "event": f"{t.previous}->{t.state}",
        }
        for t in transitions
    ]
    if rows:
        store.execute(_HISTORY_INSERT, [_json(rows)])


DELIVERY_COLUMNS = ("id", "ts", "receiver", "kind", "url", "ok", "attempts", "status", "error",
                    "group_key", "alerts")  # fmt: skip


def save_deliveries(store: Store, results: list[DeliveryResult]) -> None:
    rows = []
    for r in results:
        d = r.delivery
        body = d.body.get("alerts", d.body) if isinstance(d.body, dict) else d.body
        fps = (
            [a.get("fingerprint") or a.get("labels", {}).get("alertname") for a in body]
            if (isinstance(body, list))
            else []
        )
        rows.append([
            uuid.uuid4().hex, naive(r.ts), d.receiver, d.kind, d.display_url, r.ok, r.attempts,
            r.status, r.error, d.group_key, _json(fps),
        ])  # fmt: skip
    _insert(store, "alert_deliveries", DELIVERY_COLUMNS, rows)


SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, updated_at"


def save_silence(store: Store, s: Silence) -> None:
    matchers = [m.model_dump(by_alias=True) for m in s.matchers]
    sql = f"INSERT OR REPLACE INTO alert_silences ({SILENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    times = [naive(s.starts_at), naive(s.ends_at)]
    store.execute(
        sql, [s.id, _json(matchers), *times, s.created_by, s.comment, naive(s.updated_at)]
    )


def load_silences(store: Store) -> list[Silence]:
    rows = store.fetch(f"SELECT {SILENCE_COLUMNS} FROM alert_silences")
    out = []
    for sid, matchers, starts, ends, by, comment, updated in rows:
        parsed = tuple(Matcher.model_validate(m) for m in orjson.loads(matchers))
        utc = [t.replace(tzinfo=UTC) for t in (starts, ends, updated)]
        out.append(Silence(sid, parsed, utc[0], utc[1], by or "", comment or "", utc[2]))
    return out


def save_api_rule(store: Store, rule: AlertRule, now: datetime) -> None:
    definition = rule.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    store.execute(
        "INSERT OR REPLACE INTO alert_rules (name, definition, updated_at) VALUES (?, ?, ?)",
        [rule.name, _json({"name": rule.name, **definition}), naive(now)],
    )


def delete_api_rule(store: Store, name: str) -> None:
    store.execute("DELETE FROM alert_rules WHERE name = ?", [name])


def load_api_rules(store: Store) -> list[AlertRule]:
    rows = store.fetch("SELECT definition FROM alert_rules ORDER BY name")
    return [AlertRule.model_validate(orjson.loads(d)) for (d,) in rows]
