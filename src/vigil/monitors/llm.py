"""LLM quality signals per model, from `llm_calls` (gateway and ingest) and `feedback`.

Over the last `monitors.window` (sliding, ending now), per model:

- `calls`, `error_rate`: all calls; an error is `status_code >= 400` or an `error_type`;
- `empty_response_rate`: `metadata.empty_response = true`, or no output tokens;
- `refusal_rate`: `metadata.refusal = true`, `metadata.finish_reason = "content_filter"`, or a
  refusal phrase at the start of `metadata.output_text`;
- `truncation_rate`: `metadata.finish_reason = "length"`;
- `invalid_json_rate`: among calls with `metadata.response_format` `json_object`/`json_schema` (or
  `metadata.json_requested = true`): `metadata.json_valid = false`, or an `output_text` that is
  not JSON;
- `output_tokens_mean` and `output_length_drift`: output tokens against the windows before;
- `feedback_score`: mean `feedback.score` of feedback whose `call_id` is one of the window's calls;
- `cost_per_success`: total cost / successful calls;
- `prompt_drift` (opt-in, `monitors.prompt_drift`): added to these outcomes by the scheduler from
  `vigil.monitors.prompts`, since its embeddings are gateway calls made on the event loop.

Rates are over successful calls. The `metadata` keys are what the gateway and `llm_call` ingest
events must fill for the signals that need them (docs/monitors.md).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import numpy as np

from vigil.config.sections import MonitorsConfig
from vigil.monitors import drift
from vigil.monitors.results import MonitorResult, MonitorRun, Outcome
from vigil.store.base import Store

REFUSAL_PATTERN = (
    r"(?i)^\s*(i'?m sorry|i am sorry|sorry, (but )?i|i can(no|')t (help|assist|comply|provide)"
    r"|i cannot (help|assist|comply|provide)|i'?m (not able|unable) to|as an ai)"
)

_SIGNALS_SQL = """
WITH c AS (
    SELECT id, model, output_tokens, cost_usd,
           (status_code < 400 AND error_type IS NULL) AS ok,
           json_extract_string(metadata, '$.finish_reason') AS finish_reason,
           json_extract_string(metadata, '$.output_text') AS output_text,
           json_extract_string(metadata, '$.response_format') AS response_format,
           json_extract_string(metadata, '$.refusal') = 'true' AS refusal_flag,
           json_extract_string(metadata, '$.empty_response') = 'true' AS empty_flag,
           json_extract_string(metadata, '$.json_requested') = 'true' AS json_flag,
           json_extract_string(metadata, '$.json_valid') AS json_valid
    FROM llm_calls WHERE ts >= ? AND ts < ?
), s AS (
    SELECT *,
        ok AND (coalesce(empty_flag, false) OR coalesce(output_tokens, 0) = 0) AS empty,
        ok AND (coalesce(refusal_flag, false) OR finish_reason = 'content_filter'
                OR coalesce(regexp_matches(output_text, ?), false)) AS refusal,
        ok AND finish_reason = 'length' AS truncated,
        ok AND (coalesce(json_flag, false)
                OR response_format IN ('json_object', 'json_schema')) AS wants_json
    FROM c
)
SELECT s.model, count(*), count(*) FILTER (WHERE ok),
    count(*) FILTER (WHERE empty), count(*) FILTER (WHERE refusal),
    count(*) FILTER (WHERE truncated), count(*) FILTER (WHERE wants_json),
    count(*) FILTER (WHERE wants_json AND (json_valid = 'false' OR (json_valid IS NULL
        AND output_text IS NOT NULL AND NOT json_valid(output_text)))),
    sum(cost_usd), avg(output_tokens) FILTER (WHERE ok),
    (SELECT avg(f.score) FROM feedback f WHERE f.call_id IN (
        SELECT id FROM c WHERE c.model = s.model)),
    (SELECT count(f.score) FROM feedback f WHERE f.call_id IN (
        SELECT id FROM c WHERE c.model = s.model))
FROM s GROUP BY s.model ORDER BY s.model
"""


def _naive(ts: datetime) -> datetime:
    return (
        ts.replace(tzinfo=None) if ts.tzinfo is None else ts.astimezone(None).replace(tzinfo=None)
    )


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def evaluate_llm(store: Store, cfg: MonitorsConfig, now: datetime) -> list[Outcome]:
    """One outcome per LLM model that had calls in the current window."""
    from datetime import UTC

    started = time.perf_counter()
    end = now.astimezone(UTC).replace(tzinfo=None)
    start = end - cfg.window
    base_start = start - cfg.window * cfg.windows
    rows = store.fetch(_SIGNALS_SQL, [start, end, REFUSAL_PATTERN])
    outcomes = []
    for (
        model,
        n,
        ok,
        empty,
        refusal,
        truncated,
        wants_json,
        bad_json,
        cost,
        out_mean,
        feedback,
        feedback_n,
    ) in rows:
        signals: dict[str, float | None] = {
            "calls": float(n),
            "error_rate": _rate(n - ok, n),
            "empty_response_rate": _rate(empty, ok),
            "refusal_rate": _rate(refusal, ok),
            "truncation_rate": _rate(truncated, ok),
            "invalid_json_rate": _rate(bad_json, wants_json),
            "output_tokens_mean": out_mean,
            "feedback_score": feedback,
            "cost_per_success": (cost or 0.0) / ok if ok else None,
        }
        outcome = Outcome(MonitorRun(model=model, kind="llm", ts=now))
        common: dict[str, Any] = {"window_start": start, "window_end": end, "current_size": n}
        for signal, value in signals.items():
            outcome.results.append(
                MonitorResult.make(monitor="llm_quality", metric=signal, value=value, **common)
            )
        drift_row = _length_drift(store, model, base_start, start, end, common)
        if drift_row is not None:
            outcome.results.append(drift_row)
            signals["output_length_drift"] = float(drift_row.flagged)
        outcome.summary = {
            **{k: v for k, v in signals.items() if v is not None},
            "feedback_count": feedback_n,
            "json_requested": wants_json,
        }
        outcome.run.duration_s = time.perf_counter() - started
        outcomes.append(outcome)
    return outcomes


def _length_drift(
    store: Store,
    model: str,
    base_start: datetime,
    start: datetime,
    end: datetime,
    common: dict[str, Any],
) -> MonitorResult | None:
    """Output tokens of the window against the `windows` windows before it."""
    rows = store.fetch(
        "SELECT ts >= ?, output_tokens FROM llm_calls WHERE model = ? AND ts >= ? AND ts < ? "
        "AND status_code < 400 AND error_type IS NULL",
        [start, model, base_start, end],
    )
    if not rows:
        return None
    data = np.array(rows, dtype=np.float64)
    current, baseline = data[data[:, 0] == 1, 1], data[data[:, 0] == 0, 1]
    if current.size < 2 or baseline.size < 2:
        return None
    try:
        r = drift.column_drift(baseline, current, "numerical", column="output_tokens")
    except ValueError:
        return None
    return MonitorResult.make(
        monitor="llm_quality",
        metric="output_length_drift",
        feature="output_tokens",
        method=r.method,
        value=r.score,
        p_value=r.p_value,
        threshold=r.threshold,
        flagged=r.drifted,
        reference_size=r.reference_size,
        details={"statistic": r.statistic, "baseline_mean": float(baseline.mean())},
        **common,
    )
