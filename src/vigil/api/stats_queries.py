"""The analytic queries behind `/api/v1/stats` and the model comparison, written once.

Both views aggregate the same measures over `llm_calls` (`MEASURES`), so a number means the same
thing in the time series and in the comparison table. Percentiles are exact: DuckDB's
`quantile_cont` over the stored values, which interpolates linearly between the two nearest ranks
(position `q * (n - 1)`), the definition numpy uses by default (`numpy.percentile(...,
method="linear")`). `tests/test_stats_api.py` checks they agree with numpy on the same stored
latencies (to floating-point rounding: numpy interpolates from the upper neighbour when the
fraction is >= 0.5, which can differ in the last bit).

Error classes are exclusive and checked in this order: `timeout` (`error_type = 'timeout'`,
whatever the status), `429`, `4xx` (other 400-499), `5xx` (500 and above).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

GROUP_COLUMNS: dict[str, str] = {
    "model": "model",
    "provider": "provider",
    "deployment": "deployment",
    "key": "key_id",
    "team": "team",
    "source": "source",
}
"""API names of the dimensions a caller may group or filter by -> `llm_calls` columns."""

_NOT_TIMEOUT = "error_type IS DISTINCT FROM 'timeout'"

MEASURES = f"""
    count(*) AS requests,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    coalesce(sum(cached_input_tokens), 0) AS cached_input_tokens,
    coalesce(sum(cost_usd), 0) AS cost_usd,
    count(*) FILTER (WHERE error_type = 'timeout') AS timeouts,
    count(*) FILTER (WHERE status_code = 429 AND {_NOT_TIMEOUT}) AS e429,
    count(*) FILTER (WHERE status_code BETWEEN 400 AND 499 AND status_code <> 429
                     AND {_NOT_TIMEOUT}) AS e4xx,
    count(*) FILTER (WHERE status_code >= 500 AND {_NOT_TIMEOUT}) AS e5xx,
    avg(duration_s) AS latency_avg,
    quantile_cont(duration_s, [0.5, 0.95, 0.99]) AS latency_q,
    quantile_cont(ttft_s, [0.5, 0.95]) AS ttft_q
"""
"""One list-valued `quantile_cont` per column sorts each group once for all its percentiles."""

EPOCH = datetime(1970, 1, 1)
EPOCH_UTC = EPOCH.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StatsQuery:
    """A validated stats request: range, bucket width (None: one bucket), dimensions, filters."""

    since: datetime
    until: datetime
    bucket: timedelta | None
    group_by: tuple[str, ...]
    filters: tuple[tuple[str, str], ...] = ()


def _naive(ts: datetime) -> datetime:
    """The store keeps naive UTC timestamps."""
    return ts.astimezone(UTC).replace(tzinfo=None)


def _micros(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1_000_000)


def build_sql(q: StatsQuery) -> tuple[str, list[Any]]:
    """The SQL (DuckDB dialect) and parameters of one stats request."""
    dims = [f"{GROUP_COLUMNS[g]} AS {g}" for g in q.group_by]
    bucket = "epoch_us(ts) // ?" if q.bucket else "0"
    params: list[Any] = [_micros(q.bucket)] if q.bucket else []
    where = ["ts >= ?", "ts < ?"]
    params += [_naive(q.since), _naive(q.until)]
    for name, value in q.filters:
        where.append(f"{GROUP_COLUMNS[name]} = ?")
        params.append(value)
    select = ", ".join([*dims, f"{bucket} AS bucket", MEASURES])
    keys = ", ".join([*q.group_by, "bucket"])
    sql = (
        f"SELECT {select} FROM llm_calls WHERE {' AND '.join(where)} "
        f"GROUP BY {keys} ORDER BY {keys}"
    )
    return sql, params


def _ratio(n: int, d: int) -> float:
    return n / d if d else 0.0


def _quantiles(values: Sequence[float] | None, names: Sequence[str]) -> dict[str, float | None]:
    if values is None:
        return dict.fromkeys(names)
    return dict(zip(names, values, strict=True))


def iso(ts: datetime) -> str:
    """UTC timestamp as ISO 8601 with a `Z`."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def measures(row: Sequence[Any], seconds: float) -> dict[str, Any]:
    """The JSON of one aggregate row (`MEASURES` columns, in order) over `seconds` of time."""
    requests, tin, tout, tcached, cost, timeouts, e429, e4xx, e5xx, avg, lat_q, ttft_q = row
    errors = timeouts + e429 + e4xx + e5xx
    return {
        "requests": requests,
        "input_tokens": int(tin),
        "output_tokens": int(tout),
        "cached_input_tokens": int(tcached),
        "cost_usd": float(cost),
        "errors": {"total": errors, "4xx": e4xx, "5xx": e5xx, "429": e429, "timeout": timeouts},
        "error_rate": {
            "total": _ratio(errors, requests),
            "4xx": _ratio(e4xx, requests),
            "5xx": _ratio(e5xx, requests),
            "429": _ratio(e429, requests),
            "timeout": _ratio(timeouts, requests),
        },
        "latency_s": {"avg": avg, **_quantiles(lat_q, ("p50", "p95", "p99"))},
        "ttft_s": _quantiles(ttft_q, ("p50", "p95")),
        "throughput": {
            "requests_per_s": requests / seconds if seconds > 0 else None,
            "output_tokens_per_s": int(tout) / seconds if seconds > 0 else None,
        },
    }


def _div(num: Sequence[float], den: Sequence[float]) -> list[float | None]:
    return [n / d if d else None for n, d in zip(num, den, strict=True)]


def _pick(lists: Sequence[Sequence[float] | None], i: int) -> list[float | None]:
    return [v[i] if v is not None else None for v in lists]


def _columns(cols: Sequence[Sequence[Any]], seconds: list[float]) -> dict[str, Any]:
    """One series' `MEASURES` columns -> the same JSON as `measures`, with arrays as values."""
    requests, tin, tout, tcached, cost, timeouts, e429, e4xx, e5xx, avg, lat_q, ttft_q = cols
    errors = [sum(e) for e in zip(timeouts, e429, e4xx, e5xx, strict=True)]
    return {
        "requests": list(requests),
        "input_tokens": [int(v) for v in tin],
        "output_tokens": [int(v) for v in tout],
        "cached_input_tokens": [int(v) for v in tcached],
        "cost_usd": [float(v) for v in cost],
        "errors": {
            "total": errors,
            "4xx": list(e4xx),
            "5xx": list(e5xx),
            "429": list(e429),
            "timeout": list(timeouts),
        },
        "error_rate": {
            "total": _div(errors, requests),
            "4xx": _div(e4xx, requests),
            "5xx": _div(e5xx, requests),
            "429": _div(e429, requests),
            "timeout": _div(timeouts, requests),
        },
        "latency_s": {
            "avg": list(avg),
            "p50": _pick(lat_q, 0),
            "p95": _pick(lat_q, 1),
            "p99": _pick(lat_q, 2),
        },
        "ttft_s": {"p50": _pick(ttft_q, 0), "p95": _pick(ttft_q, 1)},
        "throughput": {
            "requests_per_s": _div(requests, seconds),
            "output_tokens_per_s": _div([int(v) for v in tout], seconds),
        },
    }


def bounds_us(q: StatsQuery) -> tuple[int, int, int]:
    """The bucket width (0: one bucket) and the range, in epoch microseconds."""
    width = _micros(q.bucket) if q.bucket else 0
    return width, _micros(_naive(q.since) - EPOCH), _micros(_naive(q.until) - EPOCH)


def at_us(epoch_us: int) -> datetime:
    """Epoch microseconds -> aware UTC datetime."""
    return EPOCH_UTC + timedelta(microseconds=epoch_us)


def shape_series(q: StatsQuery, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows ordered by group then bucket -> one columnar series per group.

    Each series holds its non-empty buckets as parallel arrays (`ts`, `requests`, ...): compact
    JSON for charts, and built by transposing rows instead of one dict per point (8,640 points
    per day at 1-minute buckets for 6 models).
    """
    n_dims = len(q.group_by)
    width, since_us, until_us = bounds_us(q)
    bounds = [i for i in range(1, len(rows)) if rows[i][:n_dims] != rows[i - 1][:n_dims]]
    series: list[dict[str, Any]] = []
    stamps: dict[int, str] = {}  # every series has the same buckets: format each time once
    for a, b in zip([0, *bounds], [*bounds, len(rows)], strict=True):
        if a == b:
            continue
        cols = list(zip(*rows[a:b], strict=True))
        if width:
            starts = [max(k * width, since_us) for k in cols[n_dims]]
            ends = [min((k + 1) * width, until_us) for k in cols[n_dims]]
        else:
            starts, ends = [since_us], [until_us]
        seconds = [(e - s) / 1e6 for s, e in zip(starts, ends, strict=True)]
        group = dict(zip(q.group_by, rows[a][:n_dims], strict=True))
        ts = [stamps.get(s) or stamps.setdefault(s, iso(at_us(s))) for s in starts]
        series.append({"group": group, "ts": ts, **_columns(cols[n_dims + 1 :], seconds)})
    return series


def build_comparison_sql(
    q: StatsQuery,
) -> tuple[str, list[Any]]:
    """Whole-range measures per group, for the comparison table (no time buckets)."""
    return build_sql(StatsQuery(q.since, q.until, None, q.group_by, q.filters))
