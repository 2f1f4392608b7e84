"""ML-model views for the web UI (admin token required).

- `GET /api/v1/ui/ml/{model}/distributions`: per feature, the reference and current shares on
  the same bins, so drift can be seen and not only read as a p-value.
- `GET /api/v1/ui/ml/{model}/coverage`: predictions, labelled predictions and realized accuracy
  per time bucket (performance over time with its label coverage).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.api.pagination import iso, parse_seconds, parse_time
from vigil.monitors.data import load_frame, load_reference, numeric
from vigil.monitors.stats import aligned_counts

router = APIRouter(tags=["ui"], dependencies=[Depends(require_admin)])

MAX_CATEGORIES = 20
MAX_BINS = 24


def _numerical(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return {"bins": [], "reference": [], "current": []}
    joined = np.concatenate([ref, cur])
    edges = np.histogram_bin_edges(joined, bins="sturges")
    if len(edges) - 1 > MAX_BINS:
        edges = np.linspace(edges[0], edges[-1], MAX_BINS + 1)
    r = np.histogram(ref, edges)[0] / ref.size
    c = np.histogram(cur, edges)[0] / cur.size
    labels = [f"{edges[i]:.3g} to {edges[i + 1]:.3g}" for i in range(len(edges) - 1)]
    return {"bins": labels, "reference": r.tolist(), "current": c.tolist()}


def _categorical(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    ref = np.array([str(v) for v in ref if v is not None], dtype=object)
    cur = np.array([str(v) for v in cur if v is not None], dtype=object)
    if ref.size == 0 or cur.size == 0:
        return {"bins": [], "reference": [], "current": []}
    keys, r, c = aligned_counts(ref, cur)
    order = np.argsort(-(r + c))[:MAX_CATEGORIES]
    return {
        "bins": [str(keys[i]) for i in order],
        "reference": (r[order] / ref.size).tolist(),
        "current": (c[order] / cur.size).tolist(),
    }


def _distributions(state: Any, model: str, since: Any, last: int) -> dict[str, Any]:
    cfg = state.config.ml_models.get(model)
    if cfg is None:
        raise APIError(404, "not_found", f"no ML model {model!r} configured")
    reference = load_reference(cfg.reference)
    features = {k: v for k, v in cfg.features.items() if v in ("numerical", "categorical")}
    frame = load_frame(state.store, model, list(features), since=since, last=last)
    out = []
    for name, kind in features.items():
        column = frame.features.get(name)
        ref = reference.get(name) if reference is not None else None
        if column is None or ref is None:
            continue
        if kind == "numerical":
            shares = _numerical(numeric(ref), column.numeric())
        else:
            shares = _categorical(ref, column.text[column.present()])
        out.append({"feature": name, "kind": kind, **shares})
    return {"model": model, "current_size": frame.size, "features": out}


@router.get("/api/v1/ui/ml/{model}/distributions")
async def distributions(
    request: Request,
    model: str,
    since: str | None = Query("1h", description="ISO 8601 time or a duration before now."),
    last: int = Query(20_000, ge=100, le=200_000, description="At most this many predictions."),
) -> dict[str, Any]:
    """Reference vs current shares per numerical and categorical feature."""
    state = request.app.state.vigil
    lo = parse_time("since", since)
    result: dict[str, Any] = await asyncio.to_thread(_distributions, state, model, lo, last)
    return result


@router.get("/api/v1/ui/ml/{model}/coverage")
async def coverage(
    request: Request,
    model: str,
    since: str | None = Query("24h"),
    bucket: str | None = Query("1h", description="Bucket width (`5m`, `1h`)."),
) -> dict[str, Any]:
    """Per bucket: predictions, how many have a label, and accuracy on the labelled ones."""
    lo = parse_time("since", since)
    width = parse_seconds("bucket", bucket) or 3600.0
    if width < 60:
        raise APIError(400, "invalid_parameter", "bucket must be at least 1m")
    sql = (
        "SELECT time_bucket(to_microseconds(?::BIGINT), p.ts) AS b, count(*), count(l.label), "
        "avg(CASE WHEN l.label IS NULL THEN NULL WHEN json_extract_string(l.label, '$') = "
        "json_extract_string(p.prediction, '$') THEN 1.0 ELSE 0.0 END) "
        "FROM predictions p LEFT JOIN (SELECT prediction_id, arg_max(label, ts) AS label "
        "FROM labels GROUP BY prediction_id) l ON l.prediction_id = p.id "
        "WHERE p.model = ? AND p.ts >= ? GROUP BY b ORDER BY b"
    )
    store = request.app.state.vigil.store
    rows = await asyncio.to_thread(store.fetch, sql, [int(width * 1e6), model, lo])
    return {
        "model": model,
        "ts": [iso(r[0]) for r in rows],
        "predictions": [r[1] for r in rows],
        "labelled": [r[2] for r in rows],
        "label_coverage": [r[2] / r[1] if r[1] else 0.0 for r in rows],
        "accuracy": [r[3] for r in rows],
    }
