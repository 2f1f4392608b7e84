"""One run of the monitors of one ML model: drift and data quality of its recent windows, then
performance (realized and estimated) and concept drift over the label look-back (`labelled.py`).

Pure computation on data read through `Store.fetch`; the scheduler runs it in a worker thread and
stores what it returns.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from vigil.config.sections import DriftOverride, MLModelConfig, MonitorsConfig
from vigil.monitors import drift, multivariate
from vigil.monitors.data import (
    Column,
    ColumnType,
    Frame,
    Reference,
    as_text,
    infer_schema,
    load_frame,
    load_reference,
    schema_of,
)
from vigil.monitors.labelled import evaluate_labelled
from vigil.monitors.quality import (
    Vectors,
    check_volume,
    check_window,
    column_vectors,
    embedding_vectors,
    is_array,
)
from vigil.monitors.results import OUTPUT_FEATURE, MonitorResult, MonitorRun, Outcome
from vigil.monitors.windows import Window, split, to_us
from vigil.store.base import Store


def _current_values(column: Column, kind: ColumnType) -> np.ndarray:
    """A window's feature as the drift API wants it: floats (NaN missing) or objects (None).

    Embeddings stay JSON text (None where not an array), parsed by `embedding_vectors`; text
    keeps only strings, as a number logged for a text feature is a type violation, not text.
    """
    if kind == "numerical":
        return column.numeric()
    if kind == "embedding":
        return _only(column, is_array(column))
    if kind == "text":
        return _only(column, column.json_type == "VARCHAR")
    return column.text


def _only(column: Column, keep: np.ndarray) -> np.ndarray:
    values = column.text.copy()
    values[~keep] = None
    return values


def _reference_values(values: np.ndarray, kind: ColumnType) -> np.ndarray:
    if kind == "numerical":
        return values.astype(np.float64) if values.dtype.kind in "fiub" else values
    if kind == "embedding":
        return values  # the cached reference's own array: its parsed vectors are cached with it
    return as_text(values)


def _embedding_drift(
    baseline: Vectors, current: Vectors, name: str, override: DriftOverride | None
) -> drift.DriftResult:
    """Domain-classifier drift between the finite vectors of the baseline's dimension.

    Other rows (not arrays, wrong dimension, null components) are already data-quality issues;
    they count as missing here, so a few bad rows do not void the test. The classifier sees the
    parsers' samples; the sizes reported are the rows compared and left out on each side.
    """
    dimension = baseline.common_dimension
    if dimension is None:
        raise ValueError(f"column {name!r}: no vectors in the baseline data")
    result = drift.column_drift(
        baseline.sample(dimension),
        current.sample(dimension),
        "embedding",
        column=name,
        method=override.method if override else None,
        threshold=override.threshold if override else None,
    )
    ref_size, cur_size = baseline.usable(dimension), current.usable(dimension)
    return replace(
        result,
        reference_size=ref_size,
        current_size=cur_size,
        reference_missing=baseline.dims.size - ref_size,
        current_missing=current.dims.size - cur_size,
    )


def _baselines(
    frame: Frame,
    windows: list[Window],
    schema: dict[str, ColumnType],
    reference: Reference | None,
    cfg: MonitorsConfig,
) -> tuple[list[Window], list[dict[str, np.ndarray] | None]]:
    """The windows to test and, for each, the columns it is compared with."""
    if cfg.baseline == "previous":
        out = []
        for before in windows[:-1]:
            sub = frame.take(before.rows)
            out.append(
                {n: _current_values(sub.features[n], k) for n, k in schema.items()}
                if before.size >= cfg.min_rows
                else None
            )
        return windows[1:], out
    ref = None
    if reference is not None:
        ref = {
            n: _reference_values(reference.columns[n], k)
            for n, k in schema.items()
            if n in reference.columns
        }
    return windows, [ref] * len(windows)


def _drift_results(
    window: Window,
    current: Frame,
    baseline: dict[str, np.ndarray],
    schema: dict[str, ColumnType],
    cfg: MonitorsConfig,
    overrides: Mapping[str, DriftOverride],
) -> list[MonitorResult]:
    """Per-feature drift (automatic method, or the model's `drift:` override) and the dataset
    verdict (share of drifted features)."""
    out: list[MonitorResult] = []
    tested = drifted = 0
    for name, kind in schema.items():
        if name not in baseline or name not in current.features:
            continue
        override = overrides.get(name)
        column = current.features[name]
        try:
            if kind == "embedding":
                ref = embedding_vectors(baseline[name])
                r = _embedding_drift(ref, column_vectors(column), name, override)
            else:
                r = drift.column_drift(
                    baseline[name],
                    _current_values(column, kind),
                    kind,
                    column=name,
                    method=override.method if override else None,
                    threshold=override.threshold if override else None,
                )
        except ValueError as exc:  # a column with no values on one side: nothing to compare
            out.append(
                _window_result(window, "data_drift", feature=name, details={"skipped": str(exc)})
            )
            continue
        tested += 1
        drifted += int(r.drifted)
        out.append(_drift_row(window, "data_drift", name, r))
    if tested:
        share = drifted / tested
        out.append(
            _window_result(
                window,
                "dataset_drift",
                metric="drift_share",
                value=share,
                threshold=cfg.drift_share,
                flagged=share >= cfg.drift_share,
                current_size=window.size,
                details={"drifted": drifted, "tested": tested},
            )
        )
    return out


def _drift_row(window: Window, monitor: str, feature: str, r: drift.DriftResult) -> MonitorResult:
    return _window_result(
        window,
        monitor,
        feature=feature,
        metric="score",
        method=r.method,
        value=r.score,
        p_value=r.p_value,
        threshold=r.threshold,
        flagged=r.drifted,
        reference_size=r.reference_size,
        current_size=r.current_size,
        details={"statistic": r.statistic, "column_type": r.column_type},
    )


def _output_drift(
    window: Window, current: Frame, reference: Reference | None
) -> list[MonitorResult]:
    """Drift of the model's output: its score when it logs one, else its predicted class."""
    if reference is None:
        return []
    if np.isfinite(current.score).any() and reference.get("score") is not None:
        ref, cur, kind = reference.columns["score"], current.score, "numerical"
    elif reference.get("prediction") is not None:
        ref, cur, kind = as_text(reference.columns["prediction"]), current.prediction, "categorical"
    else:
        return []
    try:
        r = drift.column_drift(ref, cur, kind, column=OUTPUT_FEATURE)  # type: ignore[arg-type]
    except ValueError:
        return []
    return [_drift_row(window, "output_drift", OUTPUT_FEATURE, r)]


def _multivariate_results(
    window: Window, current: Frame, baseline: dict[str, np.ndarray], schema: dict[str, ColumnType]
) -> list[MonitorResult]:
    """PCA reconstruction error of the window's tabular features against the baseline: catches
    correlated shifts that no single feature's test shows (multivariate.py)."""
    tabular = [
        n
        for n, kind in schema.items()
        if kind in ("numerical", "categorical") and n in baseline and n in current.features
    ]
    if len(tabular) < 2:
        return []
    ref = {n: baseline[n] for n in tabular}
    cur = {n: _current_values(current.features[n], schema[n]) for n in tabular}
    categorical = [n for n in tabular if schema[n] == "categorical"]
    try:
        r = multivariate.reconstruction_drift(ref, cur, categorical=categorical)
    except ValueError as exc:  # too few rows or columns to fit the reference
        return [_window_result(window, "multivariate_drift", details={"skipped": str(exc)})]
    return [
        _window_result(
            window,
            "multivariate_drift",
            metric=r.method,
            method=r.method,
            value=r.statistic,
            threshold=r.threshold,
            reference_value=r.reference_mean,
            flagged=r.drifted,
            reference_size=r.reference_size,
            current_size=r.current_size,
            details={"columns": list(r.columns), "components": r.components},
        )
    ]


def _window_result(window: Window, monitor: str, **kwargs: Any) -> MonitorResult:
    details = kwargs.pop("details", None) or {}
    details["closed"] = window.closed
    return MonitorResult.make(
        monitor=monitor,
        window_start=window.start,
        window_end=window.end,
        details=details,
        **kwargs,
    )


def evaluate_model(
    store: Store,
    name: str,
    model: MLModelConfig,
    cfg: MonitorsConfig,
    now: datetime,
) -> Outcome:
    """Every monitor of one model; errors in one part are reported, the others still run."""
    started = time.perf_counter()
    outcome = Outcome(MonitorRun(model=name, kind="ml", ts=now))
    reference = load_reference(model.reference)
    schema = schema_of(model.features, reference) or infer_schema(store, name)
    extra = 1 if cfg.baseline == "previous" else 0
    count = cfg.windows + extra
    if cfg.window_size:
        frame = load_frame(store, name, list(schema), last=cfg.window_size * count)
    else:
        step = cfg.window
        aligned = to_us(now) // int(step / timedelta(microseconds=1))
        since = datetime.fromtimestamp(0, now.tzinfo) + step * (aligned - count + 1)
        frame = load_frame(store, name, list(schema), since=since)
    windows = split(frame.ts_us, length=cfg.window, size=cfg.window_size, now=now, count=count)
    tested, baselines = _baselines(frame, windows, schema, reference, cfg)
    results = outcome.results
    drift_summary: dict[str, Any] = {}
    for window, baseline in zip(tested, baselines, strict=True):
        current = frame.take(window.rows)
        results.append(_window_result(window, "window", metric="predictions", value=window.size))
        if window.size < cfg.min_rows:
            continue
        if baseline is not None:
            rows = _drift_results(window, current, baseline, schema, cfg, model.drift)
            rows += _multivariate_results(window, current, baseline, schema)
            rows += _output_drift(
                window, current, reference if cfg.baseline == "reference" else None
            )
            results += rows
            drift_summary = _drift_summary(window, rows)
        for issue in check_window(
            current, schema, reference, min_rows=cfg.min_rows, limit=cfg.max_examples
        ):
            results.append(
                _window_result(
                    window,
                    "data_quality",
                    feature=issue.feature,
                    metric=issue.check,
                    value=issue.count,
                    flagged=issue.flagged,
                    reference_value=issue.reference_value,
                    current_size=window.size,
                    details={"rate": issue.rate, "examples": issue.examples},
                )
            )
    volume = check_volume(
        [w.size for w in windows], [w.closed for w in windows], cfg.volume_tolerance
    )
    if volume is not None and not cfg.window_size:
        last_closed = [w for w in windows if w.closed][-1]
        results.append(
            _window_result(
                last_closed,
                "data_quality",
                feature="*",
                metric="volume",
                value=volume.count,
                flagged=volume.flagged,
                reference_value=volume.reference_value,
                current_size=last_closed.size,
                details={"change": volume.rate, "examples": volume.examples},
            )
        )
    labelled_summary = evaluate_labelled(store, name, model, cfg, reference, now, results)
    quality = [r for r in results if r.monitor == "data_quality" and r.flagged]
    outcome.summary = {
        "task": model.task,
        "features": len(schema),
        "windows": len(tested),
        "drift": drift_summary,
        "quality_issues": sum(int(r.value or 0) for r in quality),
        "quality_checks_flagged": sorted({f"{r.feature}:{r.metric}" for r in quality}),
        **labelled_summary,
    }
    outcome.run.duration_s = time.perf_counter() - started
    return outcome


def _drift_summary(window: Window, rows: list[MonitorResult]) -> dict[str, Any]:
    share = next((r for r in rows if r.monitor == "dataset_drift"), None)
    return {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "closed": window.closed,
        "drift_share": share.value if share else None,
        "dataset_drift": bool(share.flagged) if share else False,
        "drifted_features": [
            r.feature for r in rows if r.monitor in ("data_drift", "output_drift") and r.flagged
        ],
    }
