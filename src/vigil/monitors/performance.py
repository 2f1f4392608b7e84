"""Realized performance from labels: the metrics a team already knows, computed with numpy.

Classification: accuracy, precision, recall, F1 (of the positive class for binary models, macro
averages for multiclass), ROC AUC and log loss when the model logs a positive-class score (macro
one-vs-rest ROC AUC for multiclass models that log per-class probabilities).
Regression: MAE, RMSE, MAPE (rows whose truth is 0 are left out) and R². A metric that is undefined
on a window (one class only, no scores) is absent rather than 0, so it never looks like a drop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

EPS = 1e-15
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2")
HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve as the Mann-Whitney U statistic (ties count half)."""
    pos = int(y.sum())
    neg = int(y.size - pos)
    if pos == 0 or neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def log_loss(y: np.ndarray, score: np.ndarray) -> float:
    p = np.clip(score, EPS, 1 - EPS)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def binary_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray | None = None
) -> dict[str, float]:
    """Metrics of the positive class; `y_true`/`y_pred` are booleans, `score` P(positive)."""
    out: dict[str, float | None] = {}
    n = y_true.size
    if n == 0:
        return {}
    tp = float(np.count_nonzero(y_true & y_pred))
    fp = float(np.count_nonzero(~y_true & y_pred))
    fn = float(np.count_nonzero(y_true & ~y_pred))
    out["accuracy"] = float(np.count_nonzero(y_true == y_pred)) / n
    out["precision"] = _ratio(tp, tp + fp)
    out["recall"] = _ratio(tp, tp + fn)
    out["f1"] = _ratio(2 * tp, 2 * tp + fp + fn)
    if score is not None and np.isfinite(score).all():
        out["roc_auc"] = roc_auc(y_true, score)
        out["log_loss"] = log_loss(y_true, score)
    return {k: v for k, v in out.items() if v is not None}


def multiclass_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None = None,
    classes: Sequence[str] = (),
) -> dict[str, float]:
    """Accuracy and macro-averaged precision, recall and F1 over the classes seen; with `proba`
    (one column per class of `classes`), the macro one-vs-rest ROC AUC over the classes where it
    is defined (both present), so it is comparable with CBPE's estimate."""
    if y_true.size == 0:
        return {}
    out = _confusion_metrics(y_true, y_pred)
    if proba is not None and classes and np.isfinite(proba).all():
        truth = y_true.astype(str)
        aucs = [roc_auc(truth == c, proba[:, j]) for j, c in enumerate(classes)]
        defined = [a for a in aucs if a is not None]
        if defined:
            out["roc_auc"] = float(np.mean(defined))
    return out


def _confusion_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 from the confusion matrix of the classes seen."""
    classes, t = np.unique(np.concatenate([y_true, y_pred]).astype(str), return_inverse=True)
    k = classes.size
    truth, pred = t[: y_true.size], t[y_true.size :]
    confusion = np.bincount(truth * k + pred, minlength=k * k).reshape(k, k).astype(np.float64)
    tp = np.diag(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / confusion.sum(axis=0)
        recall = tp / confusion.sum(axis=1)
        f1 = 2 * tp / (confusion.sum(axis=0) + confusion.sum(axis=1))
    return {
        "accuracy": float(tp.sum() / y_true.size),
        "precision": float(np.nanmean(precision)),
        "recall": float(np.nanmean(recall)),
        "f1": float(np.nanmean(f1)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(y_true) & np.isfinite(y_pred)
    y, p = y_true[ok], y_pred[ok]
    if y.size == 0:
        return {}
    err = p - y
    out = {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err**2).mean()))}
    nz = y != 0
    if nz.any():
        out["mape"] = float(np.abs(err[nz] / y[nz]).mean())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    if ss_tot > 0:
        out["r2"] = 1.0 - float((err**2).sum()) / ss_tot
    return out


def is_positive(values: np.ndarray, positive: str) -> np.ndarray:
    """Label or prediction text -> bool; `true`/`1`/`1.0` all mean the positive class `1`."""
    text = np.array(["" if v is None else str(v) for v in values], dtype=object)
    hits: np.ndarray = text == positive
    if positive in {"1", "true", "1.0"}:
        hits |= np.isin(text, ["1", "true", "1.0", "True"])
    return hits


def classification_metrics(
    task: str,
    label: np.ndarray,
    prediction: np.ndarray,
    score: np.ndarray,
    positive: str,
    proba: np.ndarray | None = None,
    classes: Sequence[str] = (),
) -> dict[str, float]:
    """Dispatch on the task; rows are already restricted to labelled ones."""
    if task == "binary":
        has_score = bool(score.size) and bool(np.isfinite(score).all())
        return binary_metrics(
            is_positive(label, positive),
            is_positive(prediction, positive),
            score if has_score else None,
        )
    return multiclass_metrics(label.astype(str), prediction.astype(str), proba, classes)
