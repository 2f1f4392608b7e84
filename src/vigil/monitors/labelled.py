"""Performance over the label look-back: realized (labels), estimated (CBPE) and concept drift.

Labels join predictions at read time, so each run recomputes every window of the look-back: a
window's realized metrics appear, and grow more certain, as its labels land, while its CBPE estimate
(available from the first prediction) stays alongside, and the estimate's error on the labelled rows
is tracked. Realized metrics are reported once a window has `min_rows` labels.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from vigil.config.sections import MLModelConfig, MonitorsConfig
from vigil.monitors import cbpe, concept
from vigil.monitors.data import Frame, Reference, as_text, is_set, load_frame, numeric
from vigil.monitors.performance import (
    HIGHER_IS_BETTER,
    classification_metrics,
    is_positive,
    regression_metrics,
)
from vigil.monitors.results import MonitorResult
from vigil.monitors.windows import Window, split, to_datetime

MAX_WINDOWS = 500


def _positive(model: MLModelConfig) -> str:
    return model.positive_class or "1"


def _metrics(
    model: MLModelConfig, label: np.ndarray, pred: np.ndarray, score: np.ndarray
) -> dict[str, float]:
    if model.task == "regression":
        return regression_metrics(numeric(label), numeric(pred))
    return classification_metrics(model.task, label, pred, score, _positive(model))


def reference_performance(model: MLModelConfig, reference: Reference | None) -> dict[str, float]:
    """Realized metrics on the reference (its `label`/`target`, `prediction` and `score`)."""
    if reference is None:
        return {}
    truth = reference.get("label")
    if truth is None:
        truth = reference.get("target")
    pred = reference.get("prediction")
    if truth is None or pred is None:
        return {}
    score = reference.get("score")
    score = np.full(truth.size, np.nan) if score is None else numeric(score)
    if model.task == "regression":
        return regression_metrics(numeric(truth), numeric(pred))
    return classification_metrics(
        model.task, as_text(truth), as_text(pred), score, _positive(model)
    )


def _calibrator(model: MLModelConfig, reference: Reference | None) -> cbpe.Calibrator | None:
    """CBPE needs a binary model whose reference holds scores and labels; None otherwise."""
    if model.task != "binary" or reference is None:
        return None
    score, truth = reference.get("score"), reference.get("label")
    if truth is None:
        truth = reference.get("target")
    if score is None or truth is None:
        return None
    s = numeric(score)
    ok = np.isfinite(s)
    return cbpe.fit_calibrator(s[ok], is_positive(as_text(truth)[ok], _positive(model)))


def _worse(metric: str, value: float, ref: float | None, tolerance: float) -> bool:
    if ref is None:
        return False
    if metric in HIGHER_IS_BETTER:
        return value < ref - tolerance
    return value > ref * (1 + tolerance) if ref > 0 else value > tolerance


def evaluate_labelled(
    store: Any,
    name: str,
    model: MLModelConfig,
    cfg: MonitorsConfig,
    reference: Reference | None,
    now: datetime,
    results: list[MonitorResult],
) -> dict[str, Any]:
    """Append performance, estimate and concept-drift results; return the summary's part."""
    frame = load_frame(store, name, (), since=now - cfg.performance_lookback, with_features=False)
    if cfg.window_size:
        count = min(max(math.ceil(frame.size / cfg.window_size), 1), MAX_WINDOWS)
    else:
        count = min(max(math.ceil(cfg.performance_lookback / cfg.window), 1), MAX_WINDOWS)
    windows = split(frame.ts_us, length=cfg.window, size=cfg.window_size, now=now, count=count)
    ref_perf = reference_performance(model, reference)
    calibrator = _calibrator(model, reference)
    has_label = is_set(frame.label)
    proba = None
    scored = np.isfinite(frame.score)
    if calibrator is not None and scored.any():
        proba = calibrator(np.where(scored, frame.score, 0.0))
    predicted = is_positive(frame.prediction, _positive(model)) if model.task == "binary" else None
    latest: dict[str, Any] = {}
    realized: dict[str, Any] = {}
    for window in windows:
        if window.size == 0:
            continue
        latest = _window(window, frame, has_label, proba, predicted, model, cfg, ref_perf, results)
        if "realized" in latest:
            realized = {"window_start": latest["window_start"], **latest["realized"]}
    summary: dict[str, Any] = {
        "performance": latest,
        "latest_realized": realized,
        "reference_performance": ref_perf,
    }
    summary["concept_drift"] = _concept(
        frame, has_label, proba, predicted, model, cfg, ref_perf, results
    )
    return summary


def _window(
    window: Window,
    frame: Frame,
    has_label: np.ndarray,
    proba: np.ndarray | None,
    predicted: np.ndarray | None,
    model: MLModelConfig,
    cfg: MonitorsConfig,
    ref_perf: dict[str, float],
    results: list[MonitorResult],
) -> dict[str, Any]:
    rows = window.rows
    labelled = rows[has_label[rows]]
    coverage = labelled.size / rows.size
    common = {"window_start": window.start, "window_end": window.end, "current_size": rows.size}
    results.append(
        MonitorResult.make(
            monitor="performance",
            metric="label_coverage",
            value=coverage,
            details={"labelled": int(labelled.size), "closed": window.closed},
            **common,
        )
    )
    out: dict[str, Any] = {"window_start": window.start.isoformat(), "label_coverage": coverage}
    if labelled.size >= cfg.min_rows:
        realized = _metrics(
            model, frame.label[labelled], frame.prediction[labelled], frame.score[labelled]
        )
        for metric, value in realized.items():
            ref = ref_perf.get(metric)
            results.append(
                MonitorResult.make(
                    monitor="performance",
                    metric=metric,
                    value=value,
                    reference_value=ref,
                    threshold=cfg.performance_tolerance,
                    flagged=_worse(metric, value, ref, cfg.performance_tolerance),
                    details={"labelled": int(labelled.size)},
                    **common,
                )
            )
        out["realized"] = realized
    if proba is not None and predicted is not None and np.isfinite(frame.score[rows]).all():
        estimated = cbpe.estimate(predicted[rows], proba[rows], frame.score[rows])
        for metric, value in estimated.items():
            ref = ref_perf.get(metric)
            results.append(
                MonitorResult.make(
                    monitor="estimated_performance",
                    metric=metric,
                    method="cbpe",
                    value=value,
                    reference_value=ref,
                    threshold=cfg.performance_tolerance,
                    flagged=_worse(metric, value, ref, cfg.performance_tolerance),
                    **common,
                )
            )
        out["estimated"] = estimated
        if "realized" in out:
            on_labels = cbpe.estimate(predicted[labelled], proba[labelled], frame.score[labelled])
            for metric, value in out["realized"].items():
                if metric in on_labels:
                    results.append(
                        MonitorResult.make(
                            monitor="estimation_error",
                            metric=metric,
                            method="cbpe",
                            value=value - on_labels[metric],
                            details={"realized": value, "estimated": on_labels[metric]},
                            **common,
                        )
                    )
    return out


def _concept(
    frame: Frame,
    has_label: np.ndarray,
    proba: np.ndarray | None,
    predicted: np.ndarray | None,
    model: MLModelConfig,
    cfg: MonitorsConfig,
    ref_perf: dict[str, float],
    results: list[MonitorResult],
) -> dict[str, Any]:
    """Page-Hinkley on the (excess) error stream of labelled predictions, in prediction order."""
    rows = np.flatnonzero(has_label)
    if rows.size <= concept.MIN_INSTANCES:
        return {"detected": False, "labelled": int(rows.size)}
    if model.task == "regression":
        err = np.abs(numeric(frame.prediction[rows]) - numeric(frame.label[rows]))
        err = err / (ref_perf.get("mae") or np.nanmean(err) or 1.0)
        err = np.nan_to_num(err)
        expected = None
    elif model.task == "binary" and predicted is not None:
        err = predicted[rows] != is_positive(frame.label[rows], _positive(model))
        ok = proba is not None and bool(np.isfinite(frame.score[rows]).all())
        expected = (
            cbpe.expected_error(predicted[rows], proba[rows]) if ok and proba is not None else None
        )
    else:
        err = frame.prediction[rows].astype(str) != frame.label[rows].astype(str)
        expected = None
    stream = concept.excess_error(err, expected)
    ph = concept.page_hinkley(stream, delta=cfg.concept_delta, threshold=cfg.concept_threshold)
    ts = frame.ts_us[rows]
    alarms = [
        {
            "detected_at": to_datetime(ts[a]).isoformat(),
            "change_at": to_datetime(ts[c]).isoformat(),
            "excess_error_before": before,
            "excess_error_after": after,
        }
        for a, c, before, after in zip(
            ph.alarms, ph.change_points, ph.mean_before, ph.mean_after, strict=True
        )
    ]
    detected = bool(alarms)
    results.append(
        MonitorResult.make(
            monitor="concept_drift",
            metric="page_hinkley",
            method="page_hinkley",
            value=float(len(alarms)),
            threshold=cfg.concept_threshold,
            flagged=detected,
            window_start=to_datetime(ts[0]),
            window_end=to_datetime(ts[-1] + 1),
            current_size=int(rows.size),
            details={
                "stream": "excess_error" if expected is not None else "error",
                "statistic": ph.statistic,
                "delta": cfg.concept_delta,
                "alarms": alarms,
            },
        )
    )
    return {"detected": detected, "alarms": alarms[-3:], "labelled": int(rows.size)}
