"""`GET /api/v1/stats` and `GET /api/v1/stats/models`: LLM traffic numbers from stored calls.

The time series answers "how did requests, tokens, cost, errors and latency move", per model,
provider, deployment, key or team, in buckets of any width; the comparison answers "which model
should I use" (the table people otherwise build by hand). Both compute from the rows in
`llm_calls` (gateway and ingested calls alike), so percentiles are exact, unlike
`histogram_quantile` over `/metrics` buckets. Queries: `vigil.api.stats_queries`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from vigil.api.auth import require_admin
from vigil.api.errors import APIError, json_response
from vigil.api.stats_cache import StatsCache
from vigil.api.stats_queries import (
    GROUP_COLUMNS,
    StatsQuery,
    build_comparison_sql,
    iso,
    measures,
    shape_series,
)
from vigil.config.durations import DURATION_FORMAT, format_duration, parse_duration

router = APIRouter(tags=["stats"], dependencies=[Depends(require_admin)])

MAX_POINTS_PER_SERIES = 20_000
"""More buckets than this per series is a mistake (1m buckets over two weeks), not a chart."""

DEFAULT_RANGE = timedelta(hours=1)
PERCENTILES = "exact: quantile_cont over stored calls = numpy.percentile(method='linear')"


def _bad(param: str, message: str, value: Any = None) -> APIError:
    return APIError(400, "invalid_parameter", message, {"param": param, "value": value})


def _parse_time(param: str, value: str | None, now: datetime, default: datetime) -> datetime:
    """ISO 8601 (naive means UTC), or a duration meaning that long before now (`24h`)."""
    if value is None or value == "":
        return default
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise _bad(
            param,
            f"{param} must be an ISO 8601 time or a duration before now ({DURATION_FORMAT})",
            value,
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _dimensions(param: str, value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in GROUP_COLUMNS]
    if unknown:
        raise _bad(param, f"{param} must be a comma list of {sorted(GROUP_COLUMNS)}", unknown)
    return names


def _query(
    request: Request,
    since: str | None,
    until: str | None,
    bucket: str | None,
    group_by: str | None,
) -> StatsQuery:
    now = datetime.now(UTC)
    end = _parse_time("until", until, now, now)
    start = _parse_time("since", since, end, end - DEFAULT_RANGE)
    if start >= end:
        raise _bad("since", "since must be before until", {"since": iso(start), "until": iso(end)})
    width: timedelta | None = None
    if bucket:
        try:
            width = parse_duration(bucket)
        except ValueError as exc:
            raise _bad("bucket", str(exc), bucket) from None
        if width < timedelta(seconds=1):
            raise _bad("bucket", "bucket must be at least 1s", bucket)
        if (end - start) / width > MAX_POINTS_PER_SERIES:
            raise _bad(
                "bucket",
                f"more than {MAX_POINTS_PER_SERIES} buckets per series: widen the bucket "
                "or shorten the range",
                bucket,
            )
    filters = tuple(
        (name, value)
        for name in GROUP_COLUMNS
        if (value := request.query_params.get(name)) is not None
    )
    dims = _dimensions("group_by", group_by, ("model",))
    return StatsQuery(start, end, width, dims, filters)


def _cache(request: Request) -> StatsCache:
    state = request.app.state.vigil
    cache: StatsCache | None = state.stats_cache
    if cache is None or cache.store is not state.store:
        cache = state.stats_cache = StatsCache(state.store, state.rollups)
    return cache


async def _fetch(request: Request, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    store = request.app.state.vigil.store
    rows: list[tuple[Any, ...]] = await asyncio.to_thread(store.fetch, sql, params)
    return rows


@router.get("/api/v1/stats")
async def stats(
    request: Request,
    since: str | None = Query(None, description="ISO 8601, or a duration before `until` (`24h`)."),
    until: str | None = Query(None, description="ISO 8601; default now."),
    bucket: str | None = Query(None, description="Bucket width (`1m`, `1h`); default: one."),
    group_by: str | None = Query(
        None, description=f"Comma list of {', '.join(GROUP_COLUMNS)}; default `model`."
    ),
) -> Response:
    """Requests, tokens, cost, error rate by class, latency and TTFT percentiles, throughput.

    One series per group, columnar: `ts` and every measure are parallel arrays over the buckets
    that have calls (epoch-aligned; the first and last are clipped to the range, and throughput
    divides by the clipped width). Percentiles are exact
    (linear interpolation, as numpy's default). Exact-match filters as query parameters: model,
    provider, deployment, key, team, source.
    """
    q = _query(request, since, until, bucket, group_by)
    rows = await asyncio.to_thread(_cache(request).rows, q)
    return json_response(
        {
            "since": iso(q.since),
            "until": iso(q.until),
            "bucket": format_duration(q.bucket) if q.bucket else None,
            "group_by": list(q.group_by),
            "filters": dict(q.filters),
            "percentiles": PERCENTILES,
            "series": shape_series(q, rows),
        }
    )


def _price(request: Request, model: Any) -> dict[str, float | None] | None:
    configured = request.app.state.vigil.config.models.get(model) if model else None
    if configured is None:
        return None
    p = configured.price
    return {
        "input_per_mtok": p.input_per_mtok,
        "output_per_mtok": p.output_per_mtok,
        "cached_input_per_mtok": p.cached_input_per_mtok,
    }


@router.get("/api/v1/stats/models")
async def compare_models(
    request: Request,
    since: str | None = Query(None, description="ISO 8601, or a duration before `until` (`7d`)."),
    until: str | None = Query(None, description="ISO 8601; default now."),
    group_by: str | None = Query(
        None, description=f"Comma list of {', '.join(GROUP_COLUMNS)}; default `model`."
    ),
) -> Response:
    """Model comparison over a range: avg and P95 latency, success rate, $/1M tokens, $/request.

    Sorted by requests (busiest first). `list_price` is the configured `models.<name>.price`
    when the model is configured. Exact-match filters as query parameters: model, provider,
    deployment, key, team, source.
    """
    q = _query(request, since, until, None, group_by)
    rows = await _fetch(request, *build_comparison_sql(q))
    seconds = (q.until - q.since).total_seconds()
    n = len(q.group_by)
    table = []
    for row in rows:
        group = dict(zip(q.group_by, row[:n], strict=True))
        m = measures(row[n + 1 :], seconds)
        tokens = m["input_tokens"] + m["output_tokens"]
        table.append(
            {
                **group,
                "requests": m["requests"],
                "success_rate": 1.0 - m["error_rate"]["total"],
                "avg_latency_s": m["latency_s"]["avg"],
                "p95_latency_s": m["latency_s"]["p95"],
                "p95_ttft_s": m["ttft_s"]["p95"],
                "input_tokens": m["input_tokens"],
                "output_tokens": m["output_tokens"],
                "cost_usd": m["cost_usd"],
                "cost_per_request_usd": m["cost_usd"] / m["requests"],
                "usd_per_million_tokens": m["cost_usd"] * 1e6 / tokens if tokens else None,
                "error_rate": m["error_rate"],
                "errors": m["errors"],
                "latency_s": m["latency_s"],
                "ttft_s": m["ttft_s"],
                "list_price": _price(request, group.get("model")),
            }
        )
    table.sort(key=lambda r: -int(r["requests"]))
    return json_response(
        {
            "since": iso(q.since),
            "until": iso(q.until),
            "group_by": list(q.group_by),
            "filters": dict(q.filters),
            "percentiles": PERCENTILES,
            "models": table,
        }
    )
