"""Multiclass CBPE: hand-checked estimates, per-class calibration, and a monitor run of a
multiclass model whose reference has `proba_<class>` columns (agreement with NannyML is in
tests/test_cbpe_nannyml.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from vigil.config.sections import MLModelConfig, MonitorsConfig
from vigil.metrics import VigilMetrics
from vigil.monitors import cbpe
from vigil.monitors.data import load_frame, load_reference, schema_of
from vigil.monitors.ml import evaluate_model
from vigil.monitors.performance import multiclass_metrics
from vigil.monitors.results import export
from vigil.records import Label, Prediction
from vigil.store.duckdb import DuckDBStore

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
CLASSES = ("a", "b", "c")
# Calibrated, normalised probabilities of four rows and the predicted class of each.
PROBA = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]])
PREDICTED = np.array([0, 1, 2, 0])


def test_estimates_of_a_small_window_match_hand_counts() -> None:
    est = cbpe.estimate_multiclass(PREDICTED, PROBA, PROBA)
    assert est["accuracy"] == pytest.approx((0.7 + 0.6 + 0.5 + 0.5) / 4)
    # One-vs-rest expected counts (TP, FP, FN): a (1.2, 0.8, 0.3), b (0.6, 0.4, 0.9),
    # c (0.5, 0.5, 0.5).
    assert est["precision"] == pytest.approx((1.2 / 2.0 + 0.6 / 1.0 + 0.5 / 1.0) / 3)
    assert est["recall"] == pytest.approx((1.2 / 1.5 + 0.6 / 1.5 + 0.5 / 1.0) / 3)
    f1 = [1.2 / (1.2 + 0.55), 0.6 / (0.6 + 0.65), 0.5 / (0.5 + 0.5)]
    assert est["f1"] == pytest.approx(np.mean(f1))
    # Class a by hand: rows by score 0.7, 0.5, 0.2, 0.1 give expected TPR 0, 7/15, 12/15,
    # 14/15, 1 against FPR 0, 0.12, 0.32, 0.64, 1; trapezoids sum to 0.78.
    assert cbpe.expected_roc_auc(PROBA[:, 0], PROBA[:, 0]) == pytest.approx(0.78)
    per_class = [cbpe.expected_roc_auc(PROBA[:, j], PROBA[:, j]) or 0.0 for j in range(3)]
    assert est["roc_auc"] == pytest.approx(np.mean(per_class))


def test_certain_probabilities_give_the_realized_metrics() -> None:
    """With one-hot probabilities of the truth the expectation is the realized value."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 300)
    predicted = np.where(rng.random(300) < 0.7, truth, rng.integers(0, 3, 300))
    onehot = np.eye(3)[truth]
    score = np.clip(onehot * 0.4 + rng.random((300, 3)) * 0.6, 0, 1)
    est = cbpe.estimate_multiclass(predicted, onehot, score)
    names = np.array(CLASSES)
    realized = multiclass_metrics(names[truth], names[predicted], score, CLASSES)
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert est[metric] == pytest.approx(realized[metric]), metric


def test_unknown_and_unpredicted_classes() -> None:
    """A prediction outside the reference's classes is wrong for sure; a class never predicted
    in the window has no precision and is left out of the macro average (NannyML counts 0)."""
    predicted = np.array([0, -1, 0, 1])
    est = cbpe.estimate_multiclass(predicted, PROBA, PROBA)
    assert est["accuracy"] == pytest.approx((0.7 + 0.0 + 0.2 + 0.4) / 4)
    # Class c is never predicted: precision averages a (0.9 / 2.0) and b (0.4 / 1.0).
    assert est["precision"] == pytest.approx((0.9 / 2.0 + 0.4 / 1.0) / 2)
    scored = cbpe.Scored(predicted, PROBA, PROBA, np.ones(4, dtype=bool))
    assert scored.expected_error(np.arange(4)).tolist() == pytest.approx([0.3, 1.0, 0.8, 0.6])
    assert cbpe.estimate_multiclass(np.zeros(0, np.int64), PROBA[:0], PROBA[:0]) == {}


def test_normalise_rescales_rows_and_spreads_empty_ones() -> None:
    out = cbpe.normalise(np.array([[0.2, 0.2, 0.4], [0.0, 0.0, 0.0]]))
    assert out == pytest.approx(np.array([[0.25, 0.25, 0.5], [1 / 3, 1 / 3, 1 / 3]]))


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _sample(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    """A feature x, the true class probabilities, a sampled label and an overconfident model
    (logits tripled), so its probabilities need calibration."""
    x = rng.normal(shift, 1.0, n)
    logits = np.column_stack([x, -x, 0.5 * np.sin(3 * x)]) + rng.normal(0, 0.5, (n, 3))
    true_p = _softmax(logits)
    label = np.array([rng.choice(3, p=p) for p in true_p])
    model_p = np.round(_softmax(3 * logits), 4)
    return {"x": x, "label": label, "proba": model_p, "prediction": model_p.argmax(axis=1)}


def test_per_class_calibration_fixes_overconfident_probabilities() -> None:
    rng = np.random.default_rng(7)
    ref, cur = _sample(rng, 20000), _sample(rng, 5000, shift=0.5)
    names = np.array(CLASSES)
    calibrator = cbpe.fit_multiclass_calibrator(ref["proba"], names[ref["label"]], CLASSES)
    assert all(c is not cbpe.IDENTITY for c in calibrator.per_class)
    proba = calibrator(cur["proba"])
    assert proba.sum(axis=1) == pytest.approx(np.ones(5000))
    realized = np.mean(cur["prediction"] == cur["label"])
    raw = cbpe.estimate_multiclass(cur["prediction"], cur["proba"], cur["proba"])
    est = cbpe.estimate_multiclass(cur["prediction"], proba, cur["proba"])
    assert raw["accuracy"] - realized > 0.05  # the overconfidence CBPE would repeat
    assert est["accuracy"] == pytest.approx(realized, abs=0.02)


def _write_reference(path: Path, data: dict[str, np.ndarray]) -> Path:
    names = np.array(CLASSES)
    columns = {
        "x": data["x"],
        "label": names[data["label"]],
        "prediction": names[data["prediction"]],
    }
    columns |= {f"proba_{c}": data["proba"][:, j] for j, c in enumerate(CLASSES)}
    pacsv.write_csv(pa.table(columns), path)
    return path


def test_a_multiclass_model_with_a_reference_gets_estimates_per_window(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    reference = _write_reference(tmp_path / "reference.csv", _sample(rng, 5000))
    assert schema_of({}, load_reference(str(reference))) == {"x": "numerical"}
    cur = _sample(rng, 2400, shift=0.3)
    store = DuckDBStore(tmp_path / "vigil.duckdb")
    start = NOW - timedelta(minutes=4)
    predictions, labels = [], []
    for i in range(2400):
        ts = start + timedelta(seconds=i / 10)
        p = Prediction(
            ts=ts,
            model="cards",
            features={"x": float(cur["x"][i])},
            prediction=CLASSES[cur["prediction"][i]],
            probabilities={c: float(cur["proba"][i, j]) for j, c in enumerate(CLASSES)},
        )
        predictions.append(p)
        if i < 1200:  # the first two minutes are labelled
            labels.append(Label(ts=ts, prediction_id=p.id, label=CLASSES[cur["label"][i]]))
    store.write({Prediction: predictions, Label: labels})
    frame = load_frame(store, "cards", (), with_features=False, classes=("b", "zz"))
    assert frame.proba is not None and frame.proba.shape == (2400, 2)
    assert (
        frame.proba[:, 0] == pytest.approx(cur["proba"][:, 1]) and np.isnan(frame.proba[:, 1]).all()
    )

    model = MLModelConfig(task="multiclass", features={"x": "numerical"}, reference=str(reference))
    cfg = MonitorsConfig(window=timedelta(minutes=1), windows=4, performance_lookback="1h")
    outcome = evaluate_model(store, "cards", model, cfg, NOW)
    estimated = [r for r in outcome.results if r.monitor == "estimated_performance"]
    assert {r.method for r in estimated} == {"cbpe"}
    per_window: dict[object, set[str]] = {}
    for r in estimated:
        per_window.setdefault(r.window_start, set()).add(r.metric or "")
    assert len(per_window) == 5  # four whole minutes and the 30 s of the open one
    assert all(
        m == {"accuracy", "precision", "recall", "f1", "roc_auc"} for m in per_window.values()
    )
    roc = [r for r in estimated if r.metric == "roc_auc"]
    assert all(r.reference_value is not None for r in roc)  # reference AUC from proba_* columns
    errors = [r for r in outcome.results if r.monitor == "estimation_error"]
    assert {r.metric for r in errors} >= {"accuracy", "f1", "roc_auc"}
    # Realized - estimated accuracy, weighted by labels (one window of 300 labels has a sampling
    # sd of ~0.03): the estimate is unbiased to within sampling noise.
    labelled = {
        r.window_start: json.loads(r.details or "{}")["labelled"]
        for r in outcome.results
        if r.monitor == "performance" and r.metric == "accuracy"
    }
    acc = [(r.value or 0.0, labelled[r.window_start]) for r in errors if r.metric == "accuracy"]
    assert abs(sum(v * n for v, n in acc) / sum(n for _, n in acc)) < 0.05
    assert outcome.summary["concept_drift"]["labelled"] == 1200
    metrics = VigilMetrics()
    export(metrics, outcome)
    value = metrics.registry.get_sample_value(
        "vigil_model_performance_estimated", {"model": "cards", "metric": "accuracy"}
    )
    newest = max(
        (r for r in estimated if r.metric == "accuracy"), key=lambda r: r.window_start or NOW
    )
    assert value == pytest.approx(newest.value)
