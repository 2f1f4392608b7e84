"""JSON the web UI needs beyond the stats, monitors, traces and logs APIs (admin token required).

- `GET /api/v1/calls` and `/api/v1/calls/{id}`: stored LLM calls, newest first (the drill-down
  from a model to its calls and on to their trace).
- `GET /api/v1/ui/overview`: the live tiles, from cheap aggregates only (no percentile over the
  whole day), so the Overview stays fast on a big store.
- `GET /api/v1/ui/budgets`: every key and team budget with spend so far and the burn rate.
- `GET /api/v1/ui/config`: the effective config with every secret masked.
- `GET /api/v1/ui/traces/{id}`: a trace with secret-looking strings masked (captured prompts).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.api.pagination import decode_cursor, encode_cursor, iso, json_value, parse_time
from vigil.api.traces import get_trace
from vigil.config.redact import redacted_dict
from vigil.gateway.budgets import period_start
from vigil.jsonlog import MASK
from vigil.jsonlog import mask_secrets as mask_text

router = APIRouter(tags=["ui"], dependencies=[Depends(require_admin)])


def mask_secrets(value: Any) -> Any:
    """Strings with credential-shaped parts masked as in the logs, recursively (prompts and
    captured bodies may quote keys)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: MASK if _secret_name(k) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(w in lowered for w in ("api_key", "apikey", "authorization", "password", "secret"))


async def _fetch(request: Request, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    store = request.app.state.vigil.store
    rows: list[tuple[Any, ...]] = await asyncio.to_thread(store.fetch, sql, params)
    return rows


_CALL_COLUMNS = (
    "id, ts, model, provider, deployment, source, key_id, team, status_code, error_type, "
    "input_tokens, output_tokens, cost_usd, duration_s, ttft_s, stream, retries, trace_id"
)
_CALL_NAMES = [c.strip() for c in _CALL_COLUMNS.split(",")]


def _call(row: tuple[Any, ...]) -> dict[str, Any]:
    call = dict(zip(_CALL_NAMES, row, strict=False))
    call["ts"] = iso(call["ts"])
    return call


@router.get("/api/v1/calls")
async def list_calls(
    request: Request,
    model: str | None = Query(None),
    key: str | None = Query(None, description="Virtual key alias (as calls store it)."),
    team: str | None = Query(None),
    errors: bool = Query(False, description="Only failed calls."),
    since: str | None = Query(None, description="ISO 8601 time or a duration before now."),
    until: str | None = Query(None, description="ISO 8601 time or a duration before now."),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
) -> dict[str, Any]:
    """LLM calls matching every filter, newest first, keyset-paginated."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    for column, value in (("model", model), ("key_id", key), ("team", team)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if errors:
        where.append("(error_type IS NOT NULL OR status_code >= 400)")
    for op, bound in ((">=", parse_time("since", since)), ("<", parse_time("until", until))):
        if bound is not None:
            where.append(f"ts {op} ?")
            params.append(bound)
    after = decode_cursor(cursor)
    if after is not None:
        where.append("(ts < ? OR (ts = ? AND id < ?))")
        params += [after[0], after[0], after[1]]
    rows = await _fetch(
        request,
        f"SELECT {_CALL_COLUMNS} FROM llm_calls WHERE {' AND '.join(where)} "
        "ORDER BY ts DESC, id DESC LIMIT ?",
        [*params, limit + 1],
    )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1][1], page[-1][0]) if len(rows) > limit else None
    return {"calls": [_call(r) for r in page], "next_cursor": next_cursor}


@router.get("/api/v1/calls/{call_id}")
async def get_call(request: Request, call_id: str) -> dict[str, Any]:
    """One call with its metadata (secret-looking strings masked)."""
    rows = await _fetch(
        request,
        f"SELECT {_CALL_COLUMNS}, request_id, metadata, request_body, response_body "
        "FROM llm_calls WHERE id = ? LIMIT 1",
        [call_id],
    )
    if not rows:
        raise APIError(404, "not_found", f"no call {call_id!r}")
    *columns, request_id, metadata, request_body, response_body = rows[0]
    call = _call(tuple(columns))
    call["request_id"] = request_id
    call["metadata"] = mask_secrets(json_value(metadata))
    call["request_body"] = mask_secrets(request_body)
    call["response_body"] = mask_secrets(response_body)
    return call


@router.get("/api/v1/ui/traces/{trace_id}")
async def masked_trace(request: Request, trace_id: str) -> dict[str, Any]:
    """`GET /api/v1/traces/{id}` with captured prompts' secret-looking strings masked."""
    trace: dict[str, Any] = mask_secrets(await get_trace(request, trace_id))
    return trace


@router.get("/api/v1/ui/overview")
async def overview(request: Request) -> dict[str, Any]:
    """Live tiles: the last 5 minutes' rate, errors and P95, and today's cost (UTC)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    recent = now - timedelta(minutes=5)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await _fetch(
        request,
        "SELECT count(*) FILTER (WHERE ts >= ?), "
        "count(*) FILTER (WHERE ts >= ? AND (error_type IS NOT NULL OR status_code >= 400)), "
        "count(*) FILTER (WHERE ts >= ? AND status_code = 429), "
        "quantile_cont(duration_s, 0.95) FILTER (WHERE ts >= ?), "
        "coalesce(sum(cost_usd), 0), count(*) FROM llm_calls WHERE ts >= ? AND ts < ?",
        [recent, recent, recent, recent, min(day, recent), now + timedelta(seconds=1)],
    )
    requests, errors, limited, p95, _, _ = rows[0]
    cost = await _fetch(
        request, "SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE ts >= ?", [day]
    )
    return {
        "window_s": 300,
        "requests_per_s": requests / 300.0,
        "error_rate": errors / requests if requests else 0.0,
        "rate_limited": limited,
        "p95_latency_s": p95,
        "cost_today_usd": float(cost[0][0]),
        "as_of": iso(now),
    }


@router.get("/api/v1/ui/budgets")
async def budgets(request: Request) -> dict[str, Any]:
    """Key and team budgets: spend this period, share used, and spend projected at period end."""
    state = request.app.state.vigil
    now = datetime.now(UTC)
    wanted: list[tuple[str, str, float, str]] = []
    if state.gateway is not None:
        for key in state.gateway.keys.all():
            if key.budget_usd is not None and key.revoked_at is None:
                wanted.append(("key", key.alias, key.budget_usd, key.budget_period))
    for team, cfg in state.config.budgets.teams.items():
        wanted.append(("team", team, cfg.budget_usd, cfg.period))
    out = []
    for scope, name, budget, period in wanted:
        start = period_start(period, now)
        column = "team" if scope == "team" else "key_id"  # gateway calls store the key's alias
        rows = await _fetch(
            request,
            f"SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE {column} = ? AND ts >= ?",
            [name, start.replace(tzinfo=None)],
        )
        spent = float(rows[0][0])
        end = _period_end(period, start)
        elapsed = max((now - start).total_seconds(), 1.0)
        per_hour = spent / elapsed * 3600
        projected = spent + per_hour * max((end - now).total_seconds(), 0) / 3600
        out.append(
            {
                "scope": scope,
                "name": name,
                "period": period,
                "budget_usd": budget,
                "spent_usd": spent,
                "used_ratio": spent / budget if budget else 1.0,
                "burn_usd_per_hour": per_hour,
                "projected_usd": projected,
                "resets_at": end.isoformat(),
            }
        )
    return {"budgets": out}


def _period_end(period: str, start: datetime) -> datetime:
    if period == "daily":
        return start + timedelta(days=1)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)


@router.get("/api/v1/ui/config")
async def effective_config(request: Request) -> dict[str, Any]:
    """The running config, secrets masked."""
    return redacted_dict(request.app.state.vigil.config)


OPTIONAL_ROUTES = {
    "alerts": "/api/v1/alerts",
    "alerts_history": "/api/v1/alerts/history",
    "silences": "/api/v1/silences",
}


@router.get("/api/v1/ui/features")
async def features(request: Request) -> dict[str, bool]:
    """Which optional APIs this server has, so the UI shows empty states instead of 404s."""
    paths = set(request.app.openapi().get("paths", {}))  # cached by FastAPI after the first call
    return {name: path in paths for name, path in OPTIONAL_ROUTES.items()}
