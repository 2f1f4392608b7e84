"""`/api/v1/monitors`: what the monitors found, per model, and a way to run them now (admin).

Reads come from the `monitor_runs` and `monitor_results` tables, so the answers are what the last
scheduled run stored (and what the gauges show), not a fresh computation.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from vigil.api.auth import require_admin
from vigil.api.errors import APIError, json_response
from vigil.ingest.state import ingest_state
from vigil.monitors.scheduler import run_monitors, summarize

router = APIRouter(
    prefix="/api/v1/monitors", tags=["monitors"], dependencies=[Depends(require_admin)]
)

RESULT_COLUMNS = (
    "monitor",
    "window_start",
    "window_end",
    "feature",
    "metric",
    "method",
    "value",
    "p_value",
    "threshold",
    "reference_value",
    "flagged",
    "reference_size",
    "current_size",
    "details",
)
RUN_COLUMNS = ("id", "ts", "model", "kind", "duration_s", "status", "error", "summary")


def _plain(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if name in ("details", "summary") and isinstance(value, str):
        return orjson.loads(value)
    return value


def _rows(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{c: _plain(c, v) for c, v in zip(columns, row, strict=True)} for row in rows]


async def _fetch(request: Request, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    store = request.app.state.vigil.store
    if store is None:
        raise APIError(503, "not_ready", "the store is not open yet")
    rows: list[tuple[Any, ...]] = await asyncio.to_thread(store.fetch, sql, params)
    return rows


_RUN_SELECT = f"SELECT {', '.join(RUN_COLUMNS)} FROM monitor_runs"


@router.get("")
async def list_monitors(request: Request) -> Response:
    """The latest run of every monitored model (ML models, LLM models, business metrics)."""
    rows = await _fetch(
        request,
        f"{_RUN_SELECT} QUALIFY row_number() OVER (PARTITION BY model, kind ORDER BY ts DESC) = 1 "
        "ORDER BY kind, model",
        [],
    )
    runs = _rows(RUN_COLUMNS, rows)
    seen = {r["model"] for r in runs}
    config = request.app.state.vigil.config
    pending = [m for m in _model_names(request) if m not in seen]
    return json_response(
        {
            "interval_s": config.monitors.interval.total_seconds(),
            "enabled": config.monitors.enabled,
            "models": runs,
            "not_yet_run": pending,
        }
    )


def _model_names(request: Request) -> list[str]:
    """Every ML model the registry knows: `ml_models` in the config and API declarations."""
    state = request.app.state.vigil
    return ingest_state(state).registry.names(state.config)


async def _latest_run(request: Request, model: str) -> dict[str, Any]:
    rows = await _fetch(request, f"{_RUN_SELECT} WHERE model = ? ORDER BY ts DESC LIMIT 1", [model])
    if not rows:
        if model in _model_names(request):
            raise APIError(404, "not_found", f"model {model!r} has not been monitored yet")
        raise APIError(404, "not_found", f"no monitor runs for model {model!r}")
    return _rows(RUN_COLUMNS, rows)[0]


@router.get("/{model}")
async def model_monitors(
    request: Request,
    model: str,
    monitor: str | None = Query(default=None, description="Only this monitor's results."),
    flagged: bool | None = Query(default=None, description="Only flagged (or unflagged) results."),
) -> Response:
    """The latest run of one model with every result it stored, grouped by monitor."""
    run = await _latest_run(request, model)
    where, params = ["run_id = ?"], [run["id"]]
    if monitor is not None:
        where.append("monitor = ?")
        params.append(monitor)
    if flagged is not None:
        where.append("flagged = ?")
        params.append(flagged)
    rows = await _fetch(
        request,
        f"SELECT {', '.join(RESULT_COLUMNS)} FROM monitor_results WHERE {' AND '.join(where)} "
        "ORDER BY monitor, window_start, feature, metric",
        params,
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for result in _rows(RESULT_COLUMNS, rows):
        grouped.setdefault(result.pop("monitor"), []).append(result)
    return json_response({"run": run, "monitors": grouped})


@router.get("/{model}/runs")
async def model_runs(
    request: Request, model: str, limit: int = Query(default=20, ge=1, le=1000)
) -> Response:
    """The model's most recent runs, newest first."""
    rows = await _fetch(
        request, f"{_RUN_SELECT} WHERE model = ? ORDER BY ts DESC LIMIT ?", [model, limit]
    )
    if not rows:
        await _latest_run(request, model)  # the 404 with its reason
    return json_response({"runs": _rows(RUN_COLUMNS, rows)})


@router.get("/{model}/history")
async def model_history(
    request: Request,
    model: str,
    monitor: str = Query(description="e.g. performance, data_drift, llm_quality"),
    metric: str | None = Query(default=None),
    feature: str | None = Query(default=None),
    limit: int = Query(default=500, ge=1, le=10_000),
) -> Response:
    """One series across runs: each run's value for each window (newest runs first)."""
    where, params = ["model = ?", "monitor = ?"], [model, monitor]
    for name, value in (("metric", metric), ("feature", feature)):
        if value is not None:
            where.append(f"{name} = ?")
            params.append(value)
    cols = ("ts", "window_start", "window_end", "feature", "metric", "method", "value", "flagged")
    rows = await _fetch(
        request,
        f"SELECT {', '.join(cols)} FROM monitor_results WHERE {' AND '.join(where)} "
        "ORDER BY ts DESC, window_start DESC LIMIT ?",
        [*params, limit],
    )
    return json_response({"points": _rows(cols, rows)})


@router.post("/run")
async def run_now(
    request: Request, model: str | None = Query(default=None, description="Only this ML model.")
) -> Response:
    """Run the monitors now (all, or one ML model) and return what each run found."""
    state = request.app.state.vigil
    if model is not None and model not in _model_names(request):
        raise APIError(
            404, "not_found", f"no ML model {model!r} (config ml_models or the registry)"
        )
    outcomes = await run_monitors(state, model=model)
    return json_response({"runs": [summarize(o) for o in outcomes]})
