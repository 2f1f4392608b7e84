"""Data-quality checks of text and embedding features: hand-counted small windows for every check,
references from CSV (JSON text) and Parquet (lists), and one model run through the monitors with
problems planted in its newest window."""

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
from vigil.metrics import VigilMetrics
from vigil.monitors.data import Column, Frame, Reference, load_reference
from vigil.monitors.ml import evaluate_model
from vigil.monitors.quality import EXAMPLE_CHARS, Issue, check_window
from vigil.monitors.results import export
from vigil.records import Prediction
from vigil.store.duckdb import DuckDBStore

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


def _frame(name: str, values: list[Any], types: list[str | None]) -> Frame:
    """One feature's raw values and JSON types, as `load_frame` gives them; ids a, b, c, ..."""
    n = len(values)
    frame = Frame(
        ids=np.array([chr(ord("a") + i) for i in range(n)], dtype=object),
        ts_us=np.arange(n, dtype=np.int64),
        prediction=np.full(n, None, dtype=object),
        score=np.full(n, np.nan),
        label=np.full(n, None, dtype=object),
    )
    frame.features[name] = Column(np.array(values, dtype=object), np.array(types, dtype=object))
    return frame


def _checks(
    frame: Frame, kind: Any, reference: Reference | None, min_rows: int = 1
) -> dict[str, Issue]:
    issues = check_window(frame, {"f": kind}, reference, min_rows=min_rows, limit=3)
    return {i.check: i for i in issues if i.feature == "f"}


# -- text ------------------------------------------------------------------------------------------
TEXT_REFERENCE = Reference({"f": np.array(["hi there", "hello", "greetings", ""], dtype=object)})
"""Non-blank lengths 8, 5, 9: range [5, 9]; one blank in four: 25 %."""
TEXT_CHECKS = ["missing", "type_violation", "empty", "length_out_of_range", "constant"]


def _text_window() -> Frame:
    return _frame(
        "f",
        ["héllo", "42", "   ", "x" * 300, None, "greetings"],
        ["VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", None, "VARCHAR"],
    )


def test_text_checks_count_type_blank_and_length_against_the_reference() -> None:
    found = _checks(_text_window(), "text", TEXT_REFERENCE)
    assert list(found) == TEXT_CHECKS
    assert found["missing"].count == 1
    bad = found["type_violation"]
    assert (bad.count, bad.flagged, bad.examples) == (1, True, [{"id": "b", "value": "42"}])
    # 1 blank in 6 (16.7 %) is below the reference's 25 % + 1 pt.
    empty = found["empty"]
    assert (empty.count, empty.reference_value, empty.flagged) == (1, 0.25, False)
    assert empty.examples == [{"id": "c", "value": "   "}]
    # "héllo" is 5 characters (6 bytes): inside [5, 9]; the 300 x's are not; blanks are `empty`'s.
    length = found["length_out_of_range"]
    assert (length.count, length.flagged) == (1, True)
    (example,) = length.examples
    assert example["id"] == "d" and example["length"] == 300 and example["range"] == [5, 9]
    assert example["value"] == "x" * EXAMPLE_CHARS + "…"
    assert not found["constant"].flagged


def test_text_without_reference_flags_blanks_above_the_tolerance() -> None:
    found = _checks(_text_window(), "text", None)
    assert found["empty"].flagged and found["empty"].reference_value is None
    assert list(found) == [c for c in TEXT_CHECKS if c != "length_out_of_range"]  # no lengths
    mostly_filled = _frame("f", ["a"] * 199 + [""], ["VARCHAR"] * 200)
    assert not _checks(mostly_filled, "text", None)["empty"].flagged  # 0.5 % <= 1 pt


def test_a_constant_text_is_flagged_when_the_reference_varies() -> None:
    same = _frame("f", ["same"] * 5, ["VARCHAR"] * 5)
    constant = _checks(same, "text", TEXT_REFERENCE, min_rows=5)["constant"]
    assert constant.flagged and constant.examples == [{"value": "same"}]
    assert not _checks(same, "text", TEXT_REFERENCE, min_rows=6)["constant"].flagged


# -- embeddings ------------------------------------------------------------------------------------
EMBEDDING_ROWS = ["[3, 4]", "[0.6, 0.8]", "[6, 8]", "[0, 0]"]
"""Dimension 2; norms 5, 1, 10, 0: non-zero range [1, 10]; one zero vector in four: 25 %."""
EMBEDDING_CHECKS = ["missing", "type_violation", "dimension_mismatch", "non_finite", "zero_vector"]
EMBEDDING_CHECKS += ["norm_out_of_range"]  # only with a reference


def _embedding_window() -> Frame:
    rows: list[tuple[str | None, str | None]] = [
        ("[3,4]", "ARRAY"),  # a: fine
        ("[1,2,3]", "ARRAY"),  # b: dimension 3
        ("[1,null]", "ARRAY"),  # c: NaN stored as null
        ("[0,0]", "ARRAY"),  # d: zero vector
        ("[30,40]", "ARRAY"),  # e: norm 50
        ("abc", "VARCHAR"),  # f: not an array
        ('["a",1]', "ARRAY"),  # g: a string component
        (None, None),  # h: missing
        ("[]", "ARRAY"),  # i: no components
    ]
    return _frame("f", [v for v, _ in rows], [t for _, t in rows])


@pytest.mark.parametrize(
    "reference",
    [
        np.array(EMBEDDING_ROWS, dtype=object),  # CSV: JSON text
        np.fromiter((orjson.loads(r) for r in EMBEDDING_ROWS), dtype=object, count=4),  # Parquet
    ],
    ids=["json-text", "lists"],
)
def test_embedding_checks_against_the_reference(reference: np.ndarray) -> None:
    found = _checks(_embedding_window(), "embedding", Reference({"f": reference}))
    assert list(found) == EMBEDDING_CHECKS
    assert found["missing"].count == 1
    bad = found["type_violation"]
    assert [e["id"] for e in bad.examples] == ["f", "g", "i"] and bad.count == 3 and bad.flagged
    dimension = found["dimension_mismatch"]
    assert (dimension.count, dimension.reference_value, dimension.flagged) == (1, 2, True)
    assert dimension.examples == [{"id": "b", "value": 3}]
    non_finite = found["non_finite"]
    assert non_finite.examples == [{"id": "c", "value": "[1,null]"}] and non_finite.flagged
    # 1 zero vector in 9 (11 %) is below the reference's 25 % + 1 pt.
    zero = found["zero_vector"]
    assert (zero.count, zero.reference_value, zero.flagged) == (1, 0.25, False)
    norm = found["norm_out_of_range"]
    assert (norm.count, norm.flagged) == (1, True)
    assert norm.examples == [{"id": "e", "value": 50.0, "range": [1.0, 10.0]}]


def test_embedding_checks_without_reference_use_the_window_majority() -> None:
    found = _checks(_embedding_window(), "embedding", None)
    assert found["dimension_mismatch"].reference_value == 2  # four of five arrays have 2
    assert found["dimension_mismatch"].examples == [{"id": "b", "value": 3}]
    assert found["zero_vector"].flagged  # 11 % > 0 + 1 pt
    assert list(found) == EMBEDDING_CHECKS[:-1]


def test_long_windows_are_parsed_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.monitors import quality

    monkeypatch.setattr(quality, "VECTOR_CHUNK_ROWS", 2)  # chunks split the planted rows
    found = _checks(_embedding_window(), "embedding", Reference({"f": np.array(EMBEDDING_ROWS)}))
    assert [found[c].count for c in ("type_violation", "dimension_mismatch", "non_finite")] == [
        3,
        1,
        1,
    ]
    assert found["norm_out_of_range"].examples[0]["id"] == "e"


def test_a_parquet_reference_keeps_embeddings_as_lists(tmp_path: Path) -> None:
    path = tmp_path / "reference.parquet"
    pq.write_table(pa.table({"f": [[3.0, 4.0], None, [0.0, 0.0]], "x": [1.0, 2.0, 3.0]}), path)
    reference = load_reference(str(path))
    assert reference is not None
    assert reference.columns["f"].tolist() == [[3.0, 4.0], None, [0.0, 0.0]]
    found = _checks(_embedding_window(), "embedding", reference)
    assert found["missing"].reference_value == pytest.approx(1 / 3)
    assert found["dimension_mismatch"].reference_value == 2


# -- through the monitors ----------------------------------------------------------------------
SENTENCES = ["great product", "arrived late but works", "would not buy again, it broke", "ok"]
DIM = 8


def _vector(rng: np.random.Generator, norm: float) -> list[float]:
    v = rng.normal(size=DIM)
    return [float(x) for x in v / np.linalg.norm(v) * norm]


def _write_reference(path: Path, rng: np.random.Generator) -> None:
    n = 1000
    norms = np.r_[1.0, 2.0, rng.uniform(1, 2, n - 2)]  # the range is [1, 2] exactly
    table = pa.table(
        {
            "x": rng.normal(size=n),
            "review": [SENTENCES[i % len(SENTENCES)] for i in range(n)],
            "vec": [orjson.dumps(_vector(rng, r)).decode() for r in norms],
        }
    )
    pacsv.write_csv(table, path)


def _features(rng: np.random.Generator, i: int, planted: bool) -> dict[str, Any]:
    """Clean features, or in the planted window the problem row `i` gets (100 rows)."""
    review: Any = SENTENCES[int(rng.integers(len(SENTENCES)))]
    vec: Any = _vector(rng, float(rng.uniform(1, 2)))
    if planted:
        if i < 10:
            review = " "  # 10 % blank
        elif i < 15:
            review = "a rambling review " * 20  # 5 % longer than any in the reference
        elif i < 17:
            review = 5  # not a string
        elif i < 20:
            vec = [0.0] * DIM  # 3 % zero vectors
        elif i < 25:
            vec = _vector(rng, 100.0)  # 5 % with a hundredfold norm
        elif i < 27:
            vec = vec[:4]  # wrong dimension
        elif i < 28:
            vec = [float("nan"), *vec[1:]]  # stored as null
        elif i < 30:
            vec = "not a vector"
    return {"x": float(rng.normal()), "review": review, "vec": vec}


def test_a_model_run_flags_planted_text_and_embedding_problems(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    reference = tmp_path / "reference.csv"
    _write_reference(reference, rng)
    store = DuckDBStore(tmp_path / "vigil.duckdb")
    start = NOW.replace(second=0) - timedelta(minutes=1)  # a clean closed window, then the open one
    predictions = []
    for minute in (0, 1):
        for i in range(100):
            ts = start + timedelta(minutes=minute, seconds=i * 0.3)
            features = _features(rng, i, planted=minute == 1)
            predictions.append(Prediction(ts=ts, model="reviews", features=features, prediction=1))
    store.write({Prediction: predictions})
    model = MLModelConfig(
        task="binary",
        features={"x": "numerical", "review": "text", "vec": "embedding"},
        reference=str(reference),
    )
    cfg = MonitorsConfig(window=timedelta(minutes=1), windows=2, performance_lookback="1h")
    outcome = evaluate_model(store, "reviews", model, cfg, NOW)
    quality = [r for r in outcome.results if r.monitor == "data_quality"]
    clean = {(r.feature, r.metric) for r in quality if r.flagged and r.window_start == start}
    assert clean == set()
    planted = {
        (r.feature, r.metric): r.value
        for r in quality
        if r.flagged and r.window_start == start + timedelta(minutes=1)
    }
    assert planted == {
        ("review", "empty"): 10,
        ("review", "length_out_of_range"): 5,
        ("review", "type_violation"): 2,
        ("vec", "zero_vector"): 3,
        ("vec", "norm_out_of_range"): 5,
        ("vec", "dimension_mismatch"): 2,
        ("vec", "non_finite"): 1,
        ("vec", "type_violation"): 2,
    }
    assert "vec:zero_vector" in outcome.summary["quality_checks_flagged"]
    metrics = VigilMetrics()
    export(metrics, outcome)
    sample = metrics.registry.get_sample_value
    labels = {"model": "reviews", "feature": "vec", "check": "norm_out_of_range"}
    assert sample("vigil_data_quality_issues", labels) == 5
