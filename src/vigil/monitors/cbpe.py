"""Confidence-based performance estimation (CBPE): performance of a classifier before labels.

If the model's positive-class probability p is calibrated, a row predicted positive is a true
positive with probability p and a false positive with 1 - p (the other way round when predicted
negative). Summing these expectations gives an expected confusion matrix per window, hence expected
accuracy, precision, recall and F1; the expected ROC curve weights each row's contribution to the
true- and false-positive rates by p and 1 - p in the order of the model's scores.

Scores are recalibrated on the reference data (isotonic regression) only when a held-out check shows
that calibration lowers the expected calibration error; well-calibrated scores are used as they are.
Multiclass models are estimated one-vs-rest, as NannyML does: each class's probability is
calibrated on its own (by the same rule), the calibrated probabilities are rescaled to sum to 1 per
row, and the binary estimates of the classes are macro-averaged; accuracy is the mean calibrated
probability of the predicted class. The method (and so Vigil's results) matches NannyML's CBPE:
tests/test_cbpe_nannyml.py compares them per chunk on datasets NannyML ships.

CBPE assumes the relation between inputs and target is unchanged (pure covariate shift). When the
realized metric, once labels land, falls well below the estimate, that assumption broke: the gap is
evidence of concept drift (`vigil.monitors.concept`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


@dataclass(frozen=True, slots=True)
class Calibrator:
    """A monotone map from model score to calibrated probability (identity when `x` is empty)."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, score: np.ndarray) -> np.ndarray:
        if self.x.size == 0:
            return np.asarray(score, dtype=np.float64)
        out: np.ndarray = np.interp(score, self.x, self.y)
        return out


IDENTITY = Calibrator(np.zeros(0), np.zeros(0))


def fit_isotonic(score: np.ndarray, truth: np.ndarray) -> Calibrator:
    """Isotonic regression of truth on score; equal scores are pooled first (weighted by count)."""
    order = np.argsort(score, kind="stable")
    s, t = score[order], truth[order].astype(np.float64)
    ux, start, counts = np.unique(s, return_index=True, return_counts=True)
    means = np.add.reduceat(t, start) / counts
    fitted = isotonic_regression(means, weights=counts.astype(np.float64), increasing=True).x
    return Calibrator(ux, np.asarray(fitted))


def calibration_error(truth: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins of the sorted probabilities."""
    n = proba.size
    bins = min(bins, n // 2) if n <= 2 * bins else bins
    if bins < 1:
        return 0.0
    order = np.argsort(proba, kind="stable")
    p, t = proba[order], truth[order].astype(np.float64)
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    sizes = np.diff(edges)
    keep = sizes > 0
    p_mean = np.add.reduceat(p, edges[:-1][keep]) / sizes[keep]
    t_mean = np.add.reduceat(t, edges[:-1][keep]) / sizes[keep]
    return float(np.sum(sizes[keep] / n * np.abs(p_mean - t_mean)))


def fit_calibrator(
    score: np.ndarray,
    truth: np.ndarray,
    *,
    splits: int = 10,
    test_share: float = 0.1,
    seed: int = 42,
) -> Calibrator:
    """Isotonic calibrator when it improves held-out calibration on the reference, else identity.

    Repeated stratified 90/10 splits: each split fits on the 90 % and calibrates the 10 %; the
    pooled held-out probabilities are compared before and after calibration.
    """
    truth = truth.astype(bool)
    if truth.all() or not truth.any() or score.size < 20:
        return IDENTITY
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(truth), np.flatnonzero(~truth)
    held_truth, before, after = [], [], []
    for _ in range(splits):
        test = np.concatenate(
            [
                rng.choice(idx, max(round(idx.size * test_share), 1), replace=False)
                for idx in (pos, neg)
            ]
        )
        train = np.setdiff1d(np.arange(score.size), test, assume_unique=True)
        calibrator = fit_isotonic(score[train], truth[train])
        held_truth.append(truth[test])
        before.append(score[test])
        after.append(calibrator(score[test]))
    t = np.concatenate(held_truth)
    if calibration_error(t, np.concatenate(before)) > calibration_error(t, np.concatenate(after)):
        return fit_isotonic(score, truth)
    return IDENTITY


def expected_roc_auc(proba: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the expected ROC curve: rows in descending score order add p to the expected
    true positives and 1 - p to the false positives; tied scores move the curve together."""
    if proba.size == 0:
        return None
    order = np.argsort(-score, kind="stable")
    s, p = score[order], proba[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tps = np.r_[0.0, np.cumsum(p)[last_of_tie]]
    fps = np.r_[0.0, np.cumsum(1.0 - p)[last_of_tie]]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return None
    tpr, fpr = tps / tps[-1], fps / fps[-1]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def estimate(predicted: np.ndarray, proba: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Expected metrics of one window from predictions (bool), calibrated P(positive) and scores."""
    n = proba.size
    if n == 0:
        return {}
    tp = float(np.sum(np.where(predicted, proba, 0.0)))
    fp = float(np.sum(np.where(predicted, 1.0 - proba, 0.0)))
    fn = float(np.sum(np.where(predicted, 0.0, proba)))
    tn = float(n - tp - fp - fn)
    out: dict[str, float] = {"accuracy": (tp + tn) / n}
    if tp + fp > 0:
        out["precision"] = tp / (tp + fp)
    if tp + fn > 0:
        out["recall"] = tp / (tp + fn)
    if tp + 0.5 * (fp + fn) > 0:
        out["f1"] = tp / (tp + 0.5 * (fp + fn))
    auc = expected_roc_auc(proba, score)
    if auc is not None:
        out["roc_auc"] = auc
    return out


def expected_error(predicted: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per row, the probability the prediction is wrong (CBPE's expectation of the 0/1 error)."""
    return np.where(predicted, 1.0 - proba, proba)


def normalise(proba: np.ndarray) -> np.ndarray:
    """Rows rescaled to sum to 1 (uniform where a row sums to 0): per-class calibration breaks the
    sum, and the expected counts of a row must add up to one prediction."""
    total = proba.sum(axis=1, keepdims=True)
    uniform = np.full_like(proba, 1.0 / max(proba.shape[1], 1))
    out: np.ndarray = np.divide(proba, total, out=uniform, where=total != 0)
    return out


@dataclass(frozen=True, slots=True)
class MulticlassCalibrator:
    """One calibrator per class (one-vs-rest), columns in `classes` order; output rows sum to 1."""

    classes: tuple[str, ...]
    per_class: tuple[Calibrator, ...]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        columns = [calibrate(scores[:, j]) for j, calibrate in enumerate(self.per_class)]
        return normalise(np.column_stack(columns))


def fit_multiclass_calibrator(
    scores: np.ndarray, truth: np.ndarray, classes: tuple[str, ...]
) -> MulticlassCalibrator:
    """Per class, `fit_calibrator` on that class's probability against `truth == class`."""
    truth = truth.astype(str)
    return MulticlassCalibrator(
        classes,
        tuple(fit_calibrator(scores[:, j], truth == c) for j, c in enumerate(classes)),
    )


def estimate_multiclass(
    predicted: np.ndarray, proba: np.ndarray, score: np.ndarray
) -> dict[str, float]:
    """Expected metrics of one window of a multiclass model.

    `predicted` holds class indices (-1 for a class outside the calibrator's), `proba` the
    calibrated, normalised probabilities and `score` the model's own, both (rows, classes).
    Precision, recall, F1 and ROC AUC are macro averages of the one-vs-rest binary estimates over
    the classes where they are defined; accuracy is the expected share of correct predictions.
    """
    n = predicted.size
    if n == 0:
        return {}
    known = np.flatnonzero(predicted >= 0)
    out: dict[str, float] = {"accuracy": float(proba[known, predicted[known]].sum() / n)}
    per_class = [estimate(predicted == j, proba[:, j], score[:, j]) for j in range(proba.shape[1])]
    for metric in ("precision", "recall", "f1", "roc_auc"):
        values = [m[metric] for m in per_class if metric in m]
        if values:
            out[metric] = float(np.mean(values))
    return out


@dataclass(frozen=True, slots=True)
class Scored:
    """A frame's CBPE inputs, so callers need not know the task.

    Binary: `predicted` is bool and `proba`/`score` are P(positive) per row. Multiclass:
    `predicted` is the class index and `proba`/`score` have one column per class. `ok` marks rows
    whose scores were all logged; only windows of such rows are estimated.
    """

    predicted: np.ndarray
    proba: np.ndarray
    score: np.ndarray
    ok: np.ndarray

    def estimate(self, rows: np.ndarray) -> dict[str, float]:
        p, s, y = self.proba[rows], self.score[rows], self.predicted[rows]
        return estimate(y, p, s) if p.ndim == 1 else estimate_multiclass(y, p, s)

    def expected_error(self, rows: np.ndarray) -> np.ndarray:
        """Per row, the probability the prediction is wrong."""
        y, p = self.predicted[rows], self.proba[rows]
        if p.ndim == 1:
            return expected_error(y, p)
        right = np.where(y >= 0, p[np.arange(y.size), np.maximum(y, 0)], 0.0)
        wrong: np.ndarray = 1.0 - right
        return wrong
