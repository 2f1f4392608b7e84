"""Every drift statistic against scipy/numpy reference computations and hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial import distance as spd

from vigil.monitors import stats
from vigil.monitors.drift import (
    MethodOverride,
    choose_method,
    column_drift,
    dataset_drift,
)

RNG = np.random.default_rng(20240607)


def cats(**counts: int) -> np.ndarray:
    """An object array holding each key `count` times (categorical columns arrive as objects)."""
    return np.array([k for k, n in counts.items() for _ in range(n)], dtype=object)


# --- hand-checked small cases --------------------------------------------------------------------


def test_chisquare_by_hand() -> None:
    # expected 50/50, observed 30/70: (20^2/50) * 2 = 16 on 1 degree of freedom
    result = column_drift(cats(a=50, b=50), cats(a=30, b=70), "categorical", method="chisquare")
    assert result.statistic == pytest.approx(16.0)
    assert result.p_value == pytest.approx(6.334248366623996e-05)
    assert result.score == result.p_value and result.drifted


def test_z_test_by_hand() -> None:
    # share of rows != "a": 0.5 and 0.7, pooled 0.6 -> z = -0.2 / sqrt(0.24 * 0.02)
    result = column_drift(cats(a=50, b=50), cats(a=30, b=70), "categorical", method="z")
    z = -0.2 / math.sqrt(0.24 * 0.02)
    assert result.statistic == pytest.approx(z)
    assert result.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert result.drifted


def test_z_test_same_single_value_is_no_drift() -> None:
    result = column_drift(cats(a=10), cats(a=30), "categorical", method="z")
    assert result.p_value == 1.0 and not result.drifted


def test_wasserstein_by_hand() -> None:
    # W1([0, 1], [1, 2]) = 1; population std of the reference = 0.5
    ref, cur = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    result = column_drift(ref, cur, "numerical", method="wasserstein")
    assert result.statistic == pytest.approx(2.0) and result.drifted
    constant = column_drift(np.ones(10), np.ones(10) + 0.01, "numerical", method="wasserstein")
    assert constant.statistic == pytest.approx(10.0)  # std floored at 0.001


def test_jensenshannon_psi_hellinger_by_hand() -> None:
    ref, cur = cats(a=2, b=2), cats(a=1, b=3)  # shares (0.5, 0.5) vs (0.25, 0.75)
    m = (0.375, 0.625)
    js = 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1]))
    js += 0.5 * (0.25 * math.log(0.25 / m[0]) + 0.75 * math.log(0.75 / m[1]))
    got = column_drift(ref, cur, "categorical", method="jensenshannon")
    assert got.statistic == pytest.approx(math.sqrt(js)) and got.drifted
    psi = 0.25 * math.log(0.5 / 0.25) + (-0.25) * math.log(0.5 / 0.75)
    assert column_drift(ref, cur, "categorical", method="psi").statistic == pytest.approx(psi)
    bc = math.sqrt(0.5 * 0.25) + math.sqrt(0.5 * 0.75)
    hel = column_drift(ref, cur, "categorical", method="hellinger").statistic
    assert hel == pytest.approx(math.sqrt(1 - bc))


def test_psi_fills_empty_bins() -> None:
    # reference has no "b": its share becomes 1e-4 (the smallest non-empty share, 1.0, is > 1e-4)
    result = column_drift(cats(a=4), cats(a=2, b=2), "categorical", method="psi")
    expected = (1.0 - 0.5) * math.log(1.0 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert result.statistic == pytest.approx(expected)


def test_missing_values_are_dropped_and_counted() -> None:
    ref = np.array([1.0, 2.0, np.nan, 3.0, np.inf, 4.0, 5.0, 6.0])
    cur = np.array([1.0, 2.0, 3.0, -np.inf, 4.0, 5.0, 6.0])
    result = column_drift(ref, cur, "numerical", method="ks")
    assert (result.reference_size, result.reference_missing) == (6, 2)
    assert (result.current_size, result.current_missing) == (6, 1)
    assert result.p_value == pytest.approx(1.0)
    objects = np.array(["a", None, "b", float("nan"), "a"], dtype=object)
    result = column_drift(objects, objects, "categorical")
    assert (result.reference_size, result.reference_missing) == (3, 2)


def test_errors() -> None:
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="unknown drift method"):
        column_drift(x, x, "numerical", method="nope")
    with pytest.raises(ValueError, match="does not apply"):
        column_drift(cats(a=3), cats(a=3), "categorical", method="ks")
    with pytest.raises(ValueError, match="no non-missing"):
        column_drift(np.array([np.nan]), x, "numerical")
    with pytest.raises(ValueError, match="unknown column type"):
        column_drift(x, x, "weird")  # type: ignore[arg-type]


# --- the automatic choice ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "distinct", "column_type", "expected"),
    [
        (1000, 6, "numerical", "ks"),
        (1000, 5, "numerical", "chisquare"),
        (1000, 3, "numerical", "chisquare"),
        (1000, 2, "numerical", "z"),
        (1000, 3, "categorical", "chisquare"),
        (1000, 40, "categorical", "chisquare"),
        (1000, 2, "categorical", "z"),
        (1001, 6, "numerical", "wasserstein"),
        (1001, 5, "numerical", "jensenshannon"),
        (1001, 2, "categorical", "jensenshannon"),
        (50_000, 300, "categorical", "jensenshannon"),
    ],
)
def test_choose_method(rows: int, distinct: int, column_type: str, expected: str) -> None:
    values = np.arange(rows) % distinct
    ref = values.astype(float) if column_type == "numerical" else values.astype(str).astype(object)
    assert choose_method(ref, column_type, ref) == expected  # type: ignore[arg-type]


def test_choose_method_counts_distinct_values_of_both_samples() -> None:
    ref = np.array([0.0, 1.0] * 50)
    assert choose_method(ref, "numerical") == "z"
    assert choose_method(ref, "numerical", np.array([2.0, 3.0])) == "chisquare"
    assert choose_method(ref, "numerical", np.arange(10.0)) == "ks"
    assert choose_method(np.array(["x"] * 5000, dtype=object), "categorical") == "jensenshannon"
    assert choose_method(ref, "text") == "text_classifier"


# --- against scipy/numpy references --------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 40, 500, 20_000])
def test_ks_matches_scipy(n: int) -> None:
    ref, cur = RNG.normal(size=n), RNG.normal(0.1, 1.2, size=n + 7)
    got = stats.ks(ref, cur)
    expected = sps.ks_2samp(ref, cur)
    assert got.statistic == expected.statistic and got.p_value == expected.pvalue


@pytest.mark.parametrize("ties", [False, True])
def test_wasserstein_matches_scipy(ties: bool) -> None:
    for _ in range(20):
        n, m = RNG.integers(1, 3000, size=2)
        ref, cur = RNG.normal(size=n), RNG.standard_t(3, size=m) * 2 + 0.3
        if ties:
            ref, cur = np.round(ref), np.round(cur)
        assert stats.wasserstein(ref, cur) == pytest.approx(
            sps.wasserstein_distance(ref, cur), rel=1e-12, abs=1e-15
        )


def test_sturges_counts_match_numpy_histogram_bin_edges() -> None:
    for n in (50, 1023, 1024, 70_001):
        ref, cur = RNG.exponential(size=n), RNG.exponential(1.3, size=2 * n)
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        got_ref, got_cur = stats.sturges_counts(ref, cur)
        assert np.array_equal(got_ref, np.histogram(ref, edges)[0])
        assert np.array_equal(got_cur, np.histogram(cur, edges)[0])


def _binned_reference(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    return np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)


def test_numerical_jensenshannon_and_psi_match_numpy_binning() -> None:
    ref, cur = RNG.normal(size=5000), RNG.normal(0.2, 1.0, size=8000)
    p, q = _binned_reference(ref, cur)
    got = column_drift(ref, cur, "numerical", method="jensenshannon")
    assert got.statistic == pytest.approx(spd.jensenshannon(p, q), rel=1e-12)
    p[p == 0], q[q == 0] = 1e-4, 1e-4  # smallest shares here are > 1e-4
    got = column_drift(ref, cur, "numerical", method="psi")
    assert got.statistic == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-12)


def test_numerical_binning_uses_values_when_reference_has_few() -> None:
    ref, cur = RNG.integers(0, 20, size=3000).astype(float), RNG.integers(0, 21, size=3000) * 1.0
    keys = np.union1d(ref, cur)
    p = np.array([(ref == k).mean() for k in keys])
    q = np.array([(cur == k).mean() for k in keys])
    got = column_drift(ref, cur, "numerical", method="jensenshannon")
    assert got.statistic == pytest.approx(spd.jensenshannon(p, q), rel=1e-12)


def test_numerical_hellinger_matches_density_histograms() -> None:
    ref, cur = RNG.normal(size=3000).round(2), RNG.normal(0.3, 1, size=4000).round(2)
    edges = np.histogram_bin_edges(np.unique(np.concatenate([ref, cur])), bins="sturges")
    h1 = np.histogram(ref, edges, density=True)[0]
    h2 = np.histogram(cur, edges, density=True)[0]
    width = (edges[-1] - edges[0]) / (len(edges) - 1)
    expected = math.sqrt(1 - min(1.0, float(np.sum(np.sqrt(h1 * h2)) * width)))
    got = column_drift(ref, cur, "numerical", method="hellinger")
    assert got.statistic == pytest.approx(expected, rel=1e-9) and got.drifted


def test_chisquare_matches_scipy_on_random_categories() -> None:
    keys = np.array(list("abcdefg"), dtype=object)
    ref = RNG.choice(keys, 700, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05])
    cur = RNG.choice(keys, 400, p=[0.2, 0.2, 0.2, 0.2, 0.1, 0.05, 0.05])
    f_exp = np.array([(ref == k).sum() for k in keys]) * len(cur) / len(ref)
    f_obs = np.array([(cur == k).sum() for k in keys])
    expected = sps.chisquare(f_obs, f_exp)
    got = column_drift(ref, cur, "categorical")
    assert got.method == "chisquare"
    assert got.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert got.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_value_counts_of_objects_and_numbers() -> None:
    keys, counts = stats.value_counts(np.array(["b", "a", "b", "c"], dtype=object))
    assert keys.tolist() == ["a", "b", "c"] and counts.tolist() == [1, 2, 1]
    keys, ref, cur = stats.aligned_counts(np.array([3.0, 1.0, 1.0]), np.array([2.0, 3.0]))
    assert keys.tolist() == [1.0, 2.0, 3.0]
    assert ref.tolist() == [2, 0, 1] and cur.tolist() == [0, 1, 1]


# --- dataset level -------------------------------------------------------------------------------


def test_dataset_drift_share_and_overrides() -> None:
    n = 2000
    ref = {f"x{i}": RNG.normal(size=n) for i in range(4)}
    cur = {f"x{i}": RNG.normal(1.0 if i < 2 else 0.0, 1, size=n) for i in range(4)}
    schema = dict.fromkeys(ref, "numerical")
    result = dataset_drift(ref, cur, schema)  # type: ignore[arg-type]
    assert [c.method for c in result.columns] == ["wasserstein"] * 4
    assert result.drifted_columns == ["x0", "x1"]
    assert result.drift_share == 0.5 and result.drifted  # 0.5 >= 0.5
    assert not dataset_drift(ref, cur, schema, share_threshold=0.75).drifted  # type: ignore[arg-type]
    overridden = dataset_drift(
        ref,
        cur,
        schema,  # type: ignore[arg-type]
        overrides={"x0": MethodOverride(threshold=5.0), "x2": MethodOverride(method="ks")},
    )
    assert overridden.columns[0].threshold == 5.0 and not overridden.columns[0].drifted
    assert overridden.columns[2].method == "ks" and overridden.columns[2].p_value is not None
    assert overridden.drift_share == 0.25 and not overridden.drifted
