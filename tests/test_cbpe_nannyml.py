"""CBPE agrees with NannyML's on datasets NannyML ships (synthetic car loans, binary; synthetic
credit-card products, multiclass).

NannyML lives in its own virtualenv (it pins pandas, scikit-learn and friends that Vigil does not
need): `.venv-peers` next to `.venv` (scripts/peers-venv.sh), or the interpreter named by
`VIGIL_NANNYML_PYTHON`. It runs
as a subprocess that prints its per-chunk estimates and where its dataset files are; Vigil reads the
same CSV files with pyarrow and estimates the same chunks.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv
import pytest

from vigil.monitors import cbpe
from vigil.monitors.performance import binary_metrics

ROOT = Path(__file__).resolve().parents[1]
NANNYML_PYTHON = Path(
    os.environ.get("VIGIL_NANNYML_PYTHON", ROOT / ".venv-peers" / "bin" / "python")
)
CHUNK = 5000

SCRIPT = f"""
import json, os, warnings
warnings.filterwarnings("ignore")
import nannyml as nml
from nannyml.datasets import data as data_pkg
ref, ana, _ = nml.load_synthetic_car_loan_dataset()
est = nml.CBPE(y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="repaid",
               problem_type="classification_binary", metrics=["accuracy", "roc_auc", "f1"],
               chunk_size={CHUNK})
est.fit(ref)
df = est.estimate(ana).filter(period="analysis").to_df()
print(json.dumps({{
    "data_dir": os.path.dirname(data_pkg.__file__),
    "needs_calibration": bool(est.needs_calibration),
    "start": df[("chunk", "start_index")].tolist(),
    "end": df[("chunk", "end_index")].tolist(),
    **{{m: df[(m, "value")].tolist() for m in ("accuracy", "roc_auc", "f1")}},
}}))
"""

MC_CLASSES = ("highstreet_card", "prepaid_card", "upmarket_card")
MC_SCRIPT = f"""
import json, warnings
warnings.filterwarnings("ignore")
import nannyml as nml
from nannyml.calibration import NoopCalibrator
ref, ana, _ = nml.load_synthetic_multiclass_classification_dataset()
est = nml.CBPE(y_pred_proba={{c: "y_pred_proba_" + c for c in {list(MC_CLASSES)!r}}},
               y_pred="y_pred", y_true="y_true", problem_type="classification_multiclass",
               metrics=["accuracy", "roc_auc", "f1"], chunk_size={CHUNK})
est.fit(ref)
df = est.estimate(ana).filter(period="analysis").to_df()
print(json.dumps({{
    "calibrated": {{c: not isinstance(k, NoopCalibrator) for c, k in est._calibrators.items()}},
    "start": df[("chunk", "start_index")].tolist(),
    "end": df[("chunk", "end_index")].tolist(),
    **{{m: df[(m, "value")].tolist() for m in ("accuracy", "roc_auc", "f1")}},
}}))
"""


def _run_nannyml(script: str) -> dict[str, Any]:
    """Run `script` with NannyML's interpreter; its last stdout line is JSON."""
    if not NANNYML_PYTHON.exists():
        pytest.skip(f"NannyML's virtualenv not found at {NANNYML_PYTHON} (see Makefile)")
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    out = subprocess.run(
        [str(NANNYML_PYTHON), "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def nannyml_result() -> dict[str, Any]:
    return _run_nannyml(SCRIPT)


@pytest.fixture(scope="module")
def nannyml_multiclass(nannyml_result: dict[str, Any]) -> dict[str, Any]:
    return {**_run_nannyml(MC_SCRIPT), "data_dir": nannyml_result["data_dir"]}


def _read(path: Path) -> dict[str, np.ndarray]:
    table = pacsv.read_csv(path)
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


def test_estimates_match_nannyml_per_chunk(nannyml_result: dict[str, Any]) -> None:
    data = Path(nannyml_result["data_dir"])
    ref = _read(data / "synthetic_car_loan_reference.csv")
    ana = _read(data / "synthetic_car_loan_analysis.csv")
    calibrator = cbpe.fit_calibrator(ref["y_pred_proba"], ref["repaid"].astype(bool))
    assert (calibrator is not cbpe.IDENTITY) == nannyml_result["needs_calibration"]
    score = ana["y_pred_proba"].astype(np.float64)
    predicted = ana["y_pred"].astype(bool)
    proba = calibrator(score)
    for i, (lo, hi) in enumerate(zip(nannyml_result["start"], nannyml_result["end"], strict=True)):
        rows = slice(lo, hi + 1)
        ours = cbpe.estimate(predicted[rows], proba[rows], score[rows])
        for metric in ("accuracy", "roc_auc", "f1"):
            theirs = nannyml_result[metric][i]
            # The issue asks for 0.01; the method is the same, so they agree to rounding.
            assert ours[metric] == pytest.approx(theirs, abs=1e-6), (i, metric, ours, theirs)


def test_estimates_track_realized_performance_on_reference(
    nannyml_result: dict[str, Any],
) -> None:
    """On the reference itself (labels known) the estimate is close to the realized metric."""
    ref = _read(Path(nannyml_result["data_dir"]) / "synthetic_car_loan_reference.csv")
    score = ref["y_pred_proba"].astype(np.float64)
    truth = ref["repaid"].astype(bool)
    predicted = ref["y_pred"].astype(bool)
    proba = cbpe.fit_calibrator(score, truth)(score)
    estimated = cbpe.estimate(predicted, proba, score)
    realized = binary_metrics(truth, predicted, score)
    for metric in ("accuracy", "roc_auc", "f1"):
        assert estimated[metric] == pytest.approx(realized[metric], abs=0.01)


def _multiclass_estimates(
    nannyml: dict[str, Any], calibrator: cbpe.MulticlassCalibrator, data: dict[str, np.ndarray]
) -> list[dict[str, float]]:
    score = np.column_stack([data[f"y_pred_proba_{c}"].astype(np.float64) for c in MC_CLASSES])
    index = {c: i for i, c in enumerate(MC_CLASSES)}
    predicted = np.array([index.get(str(p), -1) for p in data["y_pred"]], dtype=np.int64)
    proba = calibrator(score)
    chunks = zip(nannyml["start"], nannyml["end"], strict=True)
    return [
        cbpe.estimate_multiclass(predicted[lo : hi + 1], proba[lo : hi + 1], score[lo : hi + 1])
        for lo, hi in chunks
    ]


def test_multiclass_estimates_match_nannyml_per_chunk(nannyml_multiclass: dict[str, Any]) -> None:
    data = Path(nannyml_multiclass["data_dir"])
    ref = _read(data / "mc_reference.csv")
    ana = _read(data / "mc_analysis.csv")
    scores = np.column_stack([ref[f"y_pred_proba_{c}"].astype(np.float64) for c in MC_CLASSES])
    calibrator = cbpe.fit_multiclass_calibrator(scores, ref["y_true"], MC_CLASSES)
    ours = _multiclass_estimates(nannyml_multiclass, calibrator, ana)
    # NannyML's calibrators, as far as the choice goes: whether to calibrate is decided on random
    # held-out splits that differ between the two (for prepaid_card the decision is borderline).
    same_choice = cbpe.MulticlassCalibrator(
        MC_CLASSES,
        tuple(
            c if nannyml_multiclass["calibrated"][name] else cbpe.IDENTITY
            for name, c in zip(MC_CLASSES, calibrator.per_class, strict=True)
        ),
    )
    as_nannyml = _multiclass_estimates(nannyml_multiclass, same_choice, ana)
    for metric in ("accuracy", "roc_auc", "f1"):
        theirs = np.array(nannyml_multiclass[metric])
        gap = np.abs(np.array([o[metric] for o in ours]) - theirs)
        assert gap.max() < 0.01, (metric, gap)
        same = np.abs(np.array([o[metric] for o in as_nannyml]) - theirs)
        assert same.max() < 1e-5, (metric, same)
