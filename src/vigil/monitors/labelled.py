"""Performance over the label look-back: realized (labels), estimated (CBPE) and concept drift.

Labels join predictions at read time, so each run recomputes every window of the look-back: a
window's realized metrics appear, and grow more certain, as its labels land, while its CBPE estimate
(available from the first prediction) stays alongside, and the estimate's error on the labelled rows
is tracked. Realized metrics are reported once a window has `min_rows` labels.

CBPE covers binary models that log `score` and multiclass models that log `probabilities`, given a
labelled reference with `score` (binary) or one `proba_<class>` column per class (multiclass).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from vigil.config.sections import MLModelConfig, MonitorsConfig
from vigil.monitors import cbpe, concept
from vigil.monitors.data import (
    PROBA_PREFIX,
    Frame,
    Reference,
    as_text,
    is_set,
    load_frame,
    numeric,
    reference_classes,
)
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
    model: MLModelConfig,
    label: np.ndarray,
    pred: np.ndarray,
    score: np.ndarray,
    proba: np.ndarray | None = None,
    classes: tuple[str, ...] = (),
) -> dict[str, float]:
    if model.task == "regression":
        return regression_metrics(numeric(label), numeric(pred))
    return classification_metrics(model.task, label, pred, score, _positive(model), proba, classes)


def _truth(reference: Reference) -> np.ndarray | None:
    truth = reference.get("label")
    return reference.get("target") if truth is None else truth


def _reference_proba(reference: Reference, classes: tuple[str, ...]) -> np.ndarray | None:
    """The reference's `proba_<class>` columns as one (rows, classes) matrix."""
    if not classes:
        return None
    return np.column_stack([numeric(reference.columns[PROBA_PREFIX + c]) for c in classes])


def reference_performance(model: MLModelConfig, reference: Reference | None) -> dict[str, float]:
    """Realized metrics on the reference (its `label`/`target`, `prediction`, `score`/`proba_*`)."""
    if reference is None:
        return {}
    truth = _truth(reference)
    pred = reference.get("prediction")
    if truth is None or pred is None:
        return {}
    score = reference.get("score")
    score = np.full(truth.size, np.nan) if score is None else numeric(score)
    if model.task == "regression":
        return regression_metrics(numeric(truth), numeric(pred))
    classes = reference_classes(reference) if model.task == "multiclass" else ()
    return _metrics(
        model, as_text(truth), as_text(pred), score, _reference_proba(reference, classes), classes
    )


def _calibrator(model: MLModelConfig, reference: Reference | None) -> cbpe.Calibrator | None:
    """CBPE needs a binary model whose reference holds scores and labels; None otherwise."""
    if model.task != "binary" or reference is None:
        return None
    score, truth = reference.get("score"), _truth(reference)
    if score is None or truth is None:
        return None
    s = numeric(score)
    ok = np.isfinite(s)
    return cbpe.fit_calibrator(s[ok], is_positive(as_text(truth)[ok], _positive(model)))


def _multiclass_calibrator(
    reference: Reference, classes: tuple[str, ...]
) -> cbpe.MulticlassCalibrator | None:
    """Per-class calibrators from the reference's labels and `proba_<class>` columns."""
    truth, scores = _truth(reference), _reference_proba(reference, classes)
    if truth is None or scores is None:
        return None
    text = as_text(truth)
    ok = np.isfinite(scores).all(axis=1) & is_set(text)
    if not ok.any():
        return None
    return cbpe.fit_multiclass_calibrator(scores[ok], text[ok], classes)


def _scored(
    model: MLModelConfig, reference: Reference | None, frame: Frame, classes: tuple[str, ...]
) -> cbpe.Scored | None:
    """The frame's CBPE inputs (calibrated on the reference), None when CBPE does not apply."""
    if model.task == "binary":
        calibrator = _calibrator(model, reference)
        scored = np.isfinite(frame.score)
        if calibrator is None or not scored.any():
            return None
        predicted = is_positive(frame.prediction, _positive(model))
        proba = calibrator(np.where(scored, frame.score, 0.0))
        return cbpe.Scored(predicted, proba, frame.score, scored)
    if model.task != "multiclass" or reference is None or frame.proba is None:
        return None
    multi = _multiclass_calibrator(reference, classes)
    scored = np.isfinite(frame.proba).all(axis=1)
    if multi is None or not scored.any():
        return None
    index = {c: i for i, c in enumerate(classes)}
    predicted = np.array([index.get(str(p), -1) for p in frame.prediction], dtype=np.int64)
    proba = multi(np.where(scored[:, None], frame.proba, 0.0))
    return cbpe.Scored(predicted, proba, frame.proba, scored)


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
    classes = reference_classes(reference) if model.task == "multiclass" else ()
    frame = load_frame(
        store,
        name,
        (),
        since=now - cfg.performance_lookback,
        with_features=False,
        classes=classes,
    )
    if cfg.window_size:
        count = min(max(math.ceil(frame.size / cfg.window_size), 1), MAX_WINDOWS)
    else:
        count = min(max(math.ceil(cfg.performance_lookback / cfg.window), 1), MAX_WINDOWS)
    windows = split(frame.ts_us, length=cfg.window, size=cfg.window_size, now=now, count=count)
    ref_perf = reference_performance(model, reference)
    scored = _scored(model, reference, frame, classes)
    has_label = is_set(frame.label)
    latest: dict[str, Any] = {}
    realized: dict[str, Any] = {}
    for window in windows:
        if window.size == 0:
            continue
        latest = _window(window, frame, has_label, scored, classes, model, cfg, ref_perf, results)
        if "realized" in latest:
            realized = {"window_start": latest["window_start"], **latest["realized"]}
    summary: dict[str, Any] = {
        "performance": latest,
        "latest_realized": realized,
        "reference_performance": ref_perf,
    }
    summary["concept_drift"] = _concept(frame, has_label, scored, model, cfg, ref_perf, results)
    return summary


def _window(
    window: Window,
    frame: Frame,
    has_label: np.ndarray,
    scored: cbpe.Scored | None,
    classes: tuple[str, ...],
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
            model,
            frame.label[labelled],
            frame.prediction[labelled],
            frame.score[labelled],
            None if frame.proba is None else frame.proba[labelled],
            classes,
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
    if scored is not None and scored.ok[rows].all():
        estimated = scored.estimate(rows)
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
            on_labels = scored.estimate(labelled)
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
    scored: cbpe.Scored | None,
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
    elif model.task == "binary":
        positive = _positive(model)
        err = is_positive(frame.prediction[rows], positive) != is_positive(
            frame.label[rows], positive
        )
    else:
        err = frame.prediction[rows].astype(str) != frame.label[rows].astype(str)
    expected = None
    if scored is not None and scored.ok[rows].all():
        expected = scored.expected_error(rows)
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
