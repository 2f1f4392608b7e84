"""Embedding (and text) drift through a model run: references from CSV (JSON text) and Parquet
(list columns), windows whose `features` hold JSON arrays, malformed vectors left out of drift
(they are data-quality issues), and a `previous` baseline with a malformed vector in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from vigil.config.sections import MLModelConfig, MonitorsConfig
from vigil.monitors.ml import evaluate_model
from vigil.monitors.results import MonitorResult
from vigil.records import Prediction
from vigil.store.duckdb import DuckDBStore

NOW = datetime(2026, 1, 1, 12, 2, 30, tzinfo=UTC)
DIM = 16
ROWS = 1000
"""Rows per window: enough for the classifier's AUC to sit well below 0.55 on unchanged data."""
SENTENCES = ["great product", "arrived late but works", "would not buy again, it broke", "ok"]
FEATURES: Any = {"x": "numerical", "review": "text", "vec": "embedding"}
MALFORMED: list[Any] = ["not a vector", [1.0, 2.0], [None] * DIM, 5, "[1, 2]"]
"""Not an array, wrong dimension, null components, a number, an array logged as a string."""


def _vectors(rng: np.random.Generator, n: int, shift: float = 0.0) -> list[list[float]]:
    return (rng.normal(size=(n, DIM)) + shift).tolist()  # type: ignore[no-any-return]


def _reference(tmp_path: Path, fmt: str) -> Path:
    rng = np.random.default_rng(1)
    n = 2 * ROWS
    vectors = _vectors(rng, n)
    columns = {
        "x": rng.normal(size=n),
        "review": [SENTENCES[i % len(SENTENCES)] for i in range(n)],
    }
    path = tmp_path / f"reference.{fmt}"
    if fmt == "csv":
        text = [orjson.dumps(v).decode() for v in vectors]
        pacsv.write_csv(pa.table({**columns, "vec": text}), path)
    else:
        pq.write_table(pa.table({**columns, "vec": vectors}), path)
    return path


def _run(
    tmp_path: Path,
    reference: Path,
    windows: list[list[Any]],
    baseline: str = "reference",
) -> list[MonitorResult]:
    """One prediction per `vec` value, a minute-long window per list (the last one open)."""
    rng = np.random.default_rng(2)
    start = NOW.replace(second=0) - timedelta(minutes=len(windows) - 1)
    predictions = []
    for minute, values in enumerate(windows):
        for i, vec in enumerate(values):
            features = {
                "x": float(rng.normal()),
                "review": SENTENCES[int(rng.integers(len(SENTENCES)))],
                "vec": vec,
            }
            ts = start + timedelta(minutes=minute, seconds=i * 30 / len(values))
            predictions.append(Prediction(ts=ts, model="m", features=features, prediction=1))
    store = DuckDBStore(tmp_path / "vigil.duckdb")
    store.write({Prediction: predictions})
    model = MLModelConfig(task="binary", features=FEATURES, reference=str(reference))
    cfg = MonitorsConfig(
        window=timedelta(minutes=1),
        windows=len(windows) - (baseline == "previous"),
        baseline=baseline,
        performance_lookback="1h",
    )
    return evaluate_model(store, "m", model, cfg, NOW).results


def _drift(results: list[MonitorResult], feature: str) -> list[MonitorResult]:
    return [r for r in results if r.monitor == "data_drift" and r.feature == feature]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_embedding_drift_runs_against_csv_and_parquet_references(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(3)
    clean, shifted = _vectors(rng, ROWS), _vectors(rng, ROWS, shift=0.5)
    results = _run(tmp_path, _reference(tmp_path, fmt), [clean, shifted])
    before, after = _drift(results, "vec")
    for r in (before, after):
        assert "skipped" not in r.details
        assert r.method == "embedding_classifier"
        assert (r.reference_size, r.current_size) == (2 * ROWS, ROWS)
    assert before.value is not None and before.value < 0.55 and not before.flagged
    assert after.value is not None and after.value > 0.9 and after.flagged
    text = _drift(results, "review")
    assert [r.method for r in text] == ["text_classifier"] * 2
    assert all("skipped" not in r.details for r in text)


def test_malformed_embeddings_are_left_out_of_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    window = _vectors(rng, ROWS - len(MALFORMED)) + MALFORMED
    results = _run(tmp_path, _reference(tmp_path, "csv"), [_vectors(rng, ROWS), window])
    r = _drift(results, "vec")[-1]
    assert "skipped" not in r.details and not r.flagged
    assert r.current_size == ROWS - len(MALFORMED)
    quality = {
        r.metric: r.value
        for r in results
        if r.monitor == "data_quality" and r.feature == "vec" and r.flagged
    }
    assert quality == {"type_violation": 3, "dimension_mismatch": 1, "non_finite": 1}


def test_previous_baseline_with_a_malformed_embedding_does_not_crash(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    first = _vectors(rng, ROWS - len(MALFORMED)) + MALFORMED
    windows = [first, _vectors(rng, ROWS), _vectors(rng, ROWS, shift=0.5)]
    results = _run(tmp_path, _reference(tmp_path, "csv"), windows, baseline="previous")
    compared, shifted = _drift(results, "vec")
    assert "skipped" not in compared.details and not compared.flagged
    assert compared.reference_size == ROWS - len(MALFORMED)
    assert shifted.flagged
    assert len([r for r in results if r.monitor == "window"]) == 2
