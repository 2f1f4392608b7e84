"""`/api/v1/alerts`: current alerts, their history, the delivery log and the rules (admin).

The JSON is what the web UI reads; its shape is documented in docs/alerts.md and the OpenAPI schema.
Rules defined here (`POST /api/v1/alerts/rules`) are stored and survive restarts; rules from
`vigil.yaml` and the built-in ones are read-only through the API.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from vigil.alerts.config import AlertRule
from vigil.alerts.notify import iso
from vigil.alerts.service import AlertService, service_for
from vigil.alerts.state import Alert
from vigil.api.auth import require_admin
from vigil.api.errors import APIError, json_response

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], dependencies=[Depends(require_admin)])


async def alert_service(request: Request) -> AlertService:
    state = request.app.state.vigil
    if state.store is None or state.pipeline is None:
        raise APIError(503, "not_ready", "the store is not open yet")
    service = service_for(state)
    if not service.started:
        await service.start()
    return service


def alert_json(a: Alert) -> dict[str, Any]:
    """One alert as the API and the UI see it."""
    muted = bool(a.extra.get("silenced_by") or a.extra.get("inhibited_by"))
    return {
        "rule": a.rule,
        "fingerprint": a.fingerprint,
        "state": a.state,
        "severity": a.severity,
        "value": a.value,
        "labels": a.labels,
        "annotations": a.annotations,
        "activeAt": iso(a.active_at),
        "firedAt": iso(a.fired_at) if a.fired_at else None,
        "resolvedAt": iso(a.resolved_at) if a.resolved_at else None,
        "silencedBy": a.extra.get("silenced_by", []),
        "inhibitedBy": a.extra.get("inhibited_by", []),
        "suppressed": muted,
    }


@router.get("")
async def list_alerts(
    request: Request,
    state: str | None = Query(None, description="pending, firing or resolved"),
    severity: str | None = Query(None, description="critical, warning or info"),
) -> Response:
    """Alerts now: pending, firing and resolved in the last 15 minutes, newest first."""
    service = await alert_service(request)
    service.annotate(service.clock())
    alerts = [
        alert_json(a)
        for a in service.evaluator.active()
        if (state is None or a.state == state) and (severity is None or a.severity == severity)
    ]
    alerts.sort(key=lambda a: a["activeAt"], reverse=True)
    return json_response({"alerts": alerts})


def _ts(value: Any) -> Any:
    return iso(value.replace(tzinfo=UTC)) if isinstance(value, datetime) else value


@router.get("/history")
async def history(
    request: Request,
    rule: str | None = None,
    fingerprint: str | None = None,
    since: datetime | None = Query(None, description="ISO 8601; default: everything kept"),
    limit: int = Query(200, ge=1, le=5000),
) -> Response:
    """Every state transition (`event` is `previous->new`), newest first."""
    service = await alert_service(request)
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    for column, value in (("rule", rule), ("fingerprint", fingerprint)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("ts >= ?")
        params.append(since.astimezone(UTC).replace(tzinfo=None))
    sql = (
        "SELECT ts, rule, fingerprint, severity, state, value, labels, annotations, event "
        f"FROM alert_history WHERE {' AND '.join(where)} ORDER BY ts DESC LIMIT {limit}"
    )
    rows = await asyncio.to_thread(service.store.fetch, sql, params)
    keys = ("ts", "rule", "fingerprint", "severity", "state", "value", "labels", "annotations")
    out = []
    for row in rows:
        item = dict(zip(keys, row[:8], strict=True))
        item["ts"] = _ts(item["ts"])
        item["labels"] = orjson.loads(item["labels"] or "{}")
        item["annotations"] = orjson.loads(item["annotations"] or "{}")
        item["event"] = row[8]
        out.append(item)
    return json_response({"history": out})


@router.get("/deliveries")
async def deliveries(request: Request, limit: int = Query(200, ge=1, le=5000)) -> Response:
    """The delivery log: one row per notification sent or given up, newest first."""
    service = await alert_service(request)
    sql = (
        "SELECT ts, receiver, kind, url, ok, attempts, status, error, group_key, alerts "
        f"FROM alert_deliveries ORDER BY ts DESC LIMIT {limit}"
    )
    rows = await asyncio.to_thread(service.store.fetch, sql, [])
    keys = ("ts", "receiver", "kind", "url", "ok", "attempts", "status", "error", "groupKey")
    out = []
    for row in rows:
        item = dict(zip(keys, row[:9], strict=True))
        item["ts"] = _ts(item["ts"])
        item["alerts"] = orjson.loads(row[9] or "[]")
        out.append(item)
    return json_response({"deliveries": out})


@router.get("/rules")
async def list_rules(request: Request) -> Response:
    """Every rule evaluated now, with where it comes from (`default`, `config`, `api`)."""
    service = await alert_service(request)
    rules = [
        {"source": source, **rule.model_dump(mode="json", by_alias=True)}
        for source, rule in service.rules()
    ]
    return json_response({"rules": rules})


@router.post("/rules", status_code=201)
async def put_rule(request: Request, rule: AlertRule) -> Response:
    """Add or replace an API-defined rule (same fields as a `vigil.yaml` rule)."""
    service = await alert_service(request)
    if any(r.name == rule.name for r in request.app.state.vigil.config.alerts.rules):
        raise APIError(409, "conflict", f"rule {rule.name!r} is defined in the config file")
    await service.put_rule(rule)
    return json_response({"source": "api", **rule.model_dump(mode="json", by_alias=True)}, 201)


@router.delete("/rules/{name}")
async def delete_rule(request: Request, name: str) -> Response:
    """Delete an API-defined rule; its firing alerts resolve at the next evaluation."""
    service = await alert_service(request)
    if name not in service.api_rules:
        raise APIError(404, "not_found", f"no API-defined rule {name!r}")
    await service.delete_rule(name)
    return json_response({"deleted": name})


@router.post("/evaluate")
async def evaluate(request: Request) -> Response:
    """Evaluate every rule now (as the background job does) and return the transitions."""
    service = await alert_service(request)
    transitions = await service.cycle()
    out = [
        {
            "rule": t.alert.rule,
            "fingerprint": t.alert.fingerprint,
            "from": t.previous,
            "to": t.state,
        }
        for t in transitions
    ]
    return json_response({"transitions": out})
