"""Monitors in-process: windows, metrics against hand/scipy computations, Page-Hinkley, data
quality, CBPE calibration, and a full run of one model on a store holding the demo's drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from vigil.config.sections import DriftOverride, MLModelConfig, MonitorsConfig
from vigil.metrics import VigilMetrics
from vigil.monitors import cbpe, concept
from vigil.monitors.data import Column, Frame, Reference, load_frame
from vigil.monitors.ml import evaluate_model
from vigil.monitors.performance import binary_metrics, regression_metrics, roc_auc
from vigil.monitors.quality import check_volume, check_window
from vigil.monitors.results import MonitorResult, MonitorRun, Outcome, export
from vigil.monitors.windows import count_windows, time_windows, to_us
from vigil.records import Label, Prediction
from vigil.sim import churn
from vigil.sim.reference import write_reference
from vigil.store.duckdb import DuckDBStore

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


def test_time_windows_are_aligned_and_the_last_is_open() -> None:
    ts = np.array([to_us(NOW - timedelta(seconds=s)) for s in (130, 70, 65, 10, 1)])[::-1]
    ts = np.sort(ts)
    windows = time_windows(ts, timedelta(minutes=1), NOW, 3)
    assert [w.start.minute for w in windows] == [58, 59, 0]
    assert [w.size for w in windows] == [1, 2, 2]
    assert [w.closed for w in windows] == [True, True, False]


def test_count_windows_end_at_the_newest_row() -> None:
    windows = count_windows(np.arange(25, dtype=np.int64), 10, 3)
    assert [w.rows.tolist()[0] for w in windows] == [0, 5, 15]
    assert [w.closed for w in windows] == [False, True, True]


def test_classification_metrics_match_hand_counts_and_scipy() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    score = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    pred = score >= 0.5
    m = binary_metrics(y, pred, score)
    tp, fp, fn = np.sum(y & pred), np.sum(~y & pred), np.sum(y & ~pred)
    assert m["accuracy"] == pytest.approx(np.mean(y == pred))
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))
    assert m["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    u = stats.mannwhitneyu(score[y], score[~y]).statistic
    assert m["roc_auc"] == pytest.approx(u / (y.sum() * (~y).sum()))
    expected_ll = -np.mean(y * np.log(score.clip(1e-15)) + (~y) * np.log((1 - score).clip(1e-15)))
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert roc_auc(np.array([True, True]), np.array([0.1, 0.2])) is None


def test_regression_metrics() -> None:
    m = regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 3.0]))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert m["mape"] == pytest.approx((1 + 0 + 0.25) / 3)
    assert m["r2"] == pytest.approx(1 - 2 / (((np.array([1, 2, 4]) - 7 / 3) ** 2).sum()))


def test_page_hinkley_finds_a_rise_and_stays_quiet_on_a_stable_stream() -> None:
    rng = np.random.default_rng(1)
    stable = (rng.random(20_000) < 0.25).astype(float) - 0.25
    assert concept.page_hinkley(stable).alarms == []
    shifted = np.r_[stable[:2000], (rng.random(1000) < 0.5).astype(float) - 0.25]
    found = concept.page_hinkley(shifted)
    assert found.alarms and 2000 <= found.alarms[0] < 2400
    assert 1900 <= found.change_points[0] <= 2100


def test_cbpe_keeps_calibrated_scores_and_recalibrates_skewed_ones() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(20_000)
    y = rng.random(20_000) < p
    assert cbpe.fit_calibrator(p, y) is cbpe.IDENTITY
    skewed = p**3  # under-confident on positives: isotonic calibration must fix it
    fixed = cbpe.fit_calibrator(skewed, y)
    assert fixed is not cbpe.IDENTITY
    assert cbpe.calibration_error(y, fixed(skewed)) < 0.02
    est = cbpe.estimate(skewed >= 0.125, fixed(skewed), skewed)
    assert est["accuracy"] == pytest.approx(np.mean((skewed >= 0.125) == y), abs=0.01)


def _frame(values: dict[str, list[Any]], types: dict[str, list[Any]]) -> Frame:
    n = len(next(iter(values.values())))
    frame = Frame(
        ids=np.array(["a", "b", "b", "d", "e"][:n], dtype=object),
        ts_us=np.arange(n, dtype=np.int64),
        prediction=np.full(n, None, dtype=object),
        score=np.full(n, np.nan),
        label=np.full(n, None, dtype=object),
        extra_keys=np.array([0, 1, 0, 0, 0][:n]),
    )
    for name in values:
        frame.features[name] = Column(
            np.array(values[name], dtype=object), np.array(types[name], dtype=object)
        )
    return frame


def test_quality_checks_count_issues_with_examples() -> None:
    frame = _frame(
        {"x": ["1", None, "abc", "50", "2"], "c": ["red", "red", "blue", "pink", None]},
        {
            "x": ["BIGINT", None, "VARCHAR", "BIGINT", "BIGINT"],
            "c": ["VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "NULL"],
        },
    )
    ref = Reference({"x": np.array([0.0, 5.0, 10.0]), "c": np.array(["red", "blue"], dtype=object)})
    issues = check_window(frame, {"x": "numerical", "c": "categorical"}, ref, min_rows=1, limit=2)
    found = {(i.feature, i.check): i for i in issues}
    assert found[("x", "missing")].count == 1 and found[("x", "missing")].flagged
    assert found[("x", "type_violation")].examples == [{"id": "b", "value": "abc"}]
    assert found[("x", "out_of_range")].count == 1
    assert found[("c", "unseen_category")].examples == [{"id": "d", "value": "pink"}]
    assert found[("*", "schema_violation")].count == 1
    assert found[("id", "duplicate_id")].count == 1
    constant = _frame({"x": ["3"] * 5}, {"x": ["BIGINT"] * 5})
    issues = check_window(constant, {"x": "numerical"}, ref, min_rows=5, limit=1)
    assert any(i.check == "constant" and i.flagged for i in issues)
    volume = check_volume([100, 110, 90, 20, 5], [True, True, True, True, False], 0.5)
    assert volume is not None and volume.flagged and volume.reference_value == 100


@pytest.fixture(scope="module")
def drifted_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[DuckDBStore, Path]:
    """Eight minutes of churn predictions at 10/s, drifted for the last four, labelled (30 s
    late) except for the last minute."""
    tmp = tmp_path_factory.mktemp("monitors")
    store = DuckDBStore(tmp / "vigil.duckdb")
    reference = write_reference(tmp / "reference.csv", n=5000)
    rng = np.random.default_rng(3)
    start = NOW - timedelta(minutes=8)
    predictions, labels = [], []
    for i in range(4800):
        ts = start + timedelta(seconds=i / 10)
        drifted = ts >= NOW - timedelta(minutes=4)
        features = churn.sample_features(rng, drifted)
        predicted, score = churn.predict(features)
        p = Prediction(
            ts=ts, model=churn.MODEL, features=features, prediction=predicted, score=score
        )
        predictions.append(p)
        if ts < NOW - timedelta(minutes=1):
            truth = churn.true_label(rng, features, drifted)
            labels.append(Label(ts=ts + timedelta(seconds=30), prediction_id=p.id, label=truth))
    store.write({Prediction: predictions, Label: labels})
    return store, reference


def _model(reference: Path) -> MLModelConfig:
    feats: dict[str, Any] = {f: "numerical" for f in churn.NUMERICAL}
    feats |= {f: "categorical" for f in churn.CATEGORICAL}
    return MLModelConfig(
        task="binary", features=feats, reference=str(reference), positive_class="1"
    )


def test_a_model_run_flags_drift_quality_performance_and_concept_drift(
    drifted_store: tuple[DuckDBStore, Path],
) -> None:
    store, reference = drifted_store
    cfg = MonitorsConfig(window=timedelta(minutes=1), windows=8, performance_lookback="1h")
    outcome = evaluate_model(store, churn.MODEL, _model(reference), cfg, NOW)
    by = lambda monitor: [r for r in outcome.results if r.monitor == monitor]  # noqa: E731
    shares = {r.window_start: r for r in by("dataset_drift")}
    drift_start = NOW - timedelta(minutes=4)  # mid-window: that window is half drifted
    assert len(shares) == 8
    for r in shares.values():
        assert r.window_start is not None and r.window_end is not None
        if r.window_end <= drift_start:
            assert not r.flagged
        if r.window_start >= drift_start:
            assert r.flagged
    assert any(r.flagged and r.feature == "monthly_charges" for r in by("data_quality"))
    realized = [r for r in by("performance") if r.metric == "accuracy"]
    assert realized[0].value is not None and realized[0].value > 0.65
    assert realized[-1].value is not None and realized[-1].value < 0.62 and realized[-1].flagged
    coverage = [r.value for r in by("performance") if r.metric == "label_coverage"]
    assert coverage[0] == 1.0 and coverage[-1] == 0.0
    estimated = [r for r in by("estimated_performance") if r.metric == "accuracy"]
    assert len(estimated) == 9  # every window with predictions, labelled or not
    errors = [r.value for r in by("estimation_error") if r.metric == "accuracy"]
    assert (
        abs(errors[0] or 0) < 0.08 and (errors[-1] or 0) < -0.1
    )  # concept drift: realized << estimated
    multi = by("multivariate_drift")
    assert len(multi) == 8 and all(r.value is not None and r.threshold for r in multi)
    assert "monthly_charges" in str(multi[-1].details)  # the tabular features it was fitted on
    (concept_row,) = by("concept_drift")
    assert concept_row.flagged
    assert outcome.summary["concept_drift"]["detected"]
    metrics = VigilMetrics()
    export(metrics, outcome)
    assert metrics.registry.get_sample_value(
        "vigil_dataset_drift_share", {"model": churn.MODEL}
    ) == pytest.approx(shares[max(k for k in shares if k is not None)].value)


def test_baseline_previous_and_count_windows(drifted_store: tuple[DuckDBStore, Path]) -> None:
    store, reference = drifted_store
    cfg = MonitorsConfig(window_size=400, windows=6, baseline="previous")
    outcome = evaluate_model(store, churn.MODEL, _model(reference), cfg, NOW)
    shares = [r for r in outcome.results if r.monitor == "dataset_drift"]
    assert len(shares) == 6
    # Rolling comparison: only the window where the drift starts differs from the one before it.
    assert 1 <= sum(r.flagged for r in shares) <= 2


def test_load_frame_takes_the_last_label_of_a_prediction(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "v.duckdb")
    p = Prediction(model="m", features={"x": 1}, prediction=1)
    store.write(
        {
            Prediction: [p],
            Label: [
                Label(ts=NOW, prediction_id=p.id, label=0),
                Label(ts=NOW + timedelta(hours=1), prediction_id=p.id, label=1),
            ],
        }
    )
    frame = load_frame(store, "m", ["x"])
    assert frame.label.tolist() == ["1"] and frame.features["x"].numeric().tolist() == [1.0]
    run = Outcome(MonitorRun(model="m"), [MonitorResult.make(monitor="x", value=float("nan"))])
    assert run.results[0].value is None


def test_per_feature_drift_overrides_replace_method_and_threshold(
    drifted_store: tuple[DuckDBStore, Path],
) -> None:
    store, reference = drifted_store
    model = _model(reference).model_copy(
        update={
            "drift": {
                "monthly_charges": DriftOverride(method="wasserstein", threshold=5.0),
                "plan": DriftOverride(method="psi"),
            }
        }
    )
    cfg = MonitorsConfig(window=timedelta(minutes=1), windows=8, performance_lookback="1h")
    outcome = evaluate_model(store, churn.MODEL, model, cfg, NOW)
    rows = [r for r in outcome.results if r.monitor == "data_drift"]
    charges = [r for r in rows if r.feature == "monthly_charges"]
    assert charges and all(r.method == "wasserstein" and r.threshold == 5.0 for r in charges)
    assert not any(r.flagged for r in charges)  # a threshold no shift here reaches
    assert all(r.method == "psi" for r in rows if r.feature == "plan")
    automatic = {r.method for r in rows if r.feature == "tenure_months"}
    assert automatic and automatic.isdisjoint({"psi"})
