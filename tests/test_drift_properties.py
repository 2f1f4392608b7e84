"""Property tests: identical samples never drift; a shift of k standard deviations drifts for k
above the bounds documented in docs/drift-methods.md ("How large a shift is always caught")."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vigil.monitors.drift import METHODS, column_drift

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)
samples = hnp.arrays(np.float64, st.integers(1, 300), elements=finite)
letters = st.sampled_from(["a", "b", "c", "d", "e"])
labels = hnp.arrays(object, st.integers(1, 300), elements=letters)


@FAST
@given(samples, st.sampled_from(sorted(METHODS)))
def test_identical_numerical_samples_never_drift(values: np.ndarray, method: str) -> None:
    result = column_drift(values, values.copy(), "numerical", method=method)
    assert not result.drifted, result


@FAST
@given(labels, st.sampled_from(["chisquare", "z", "jensenshannon", "psi", "hellinger"]))
def test_identical_categorical_samples_never_drift(values: np.ndarray, method: str) -> None:
    assert not column_drift(values, values.copy(), "categorical", method=method).drifted


@FAST
@given(samples, st.sampled_from([None, "ks", "wasserstein", "jensenshannon"]))
def test_identical_samples_never_drift_with_the_automatic_choice(
    values: np.ndarray, method: str | None
) -> None:
    if method is None or len(np.unique(values)) > 1:
        assert not column_drift(values, values[::-1].copy(), "numerical", method=method).drifted


def _spread(values: np.ndarray) -> bool:
    std = float(np.std(values))
    return std > 1e-3 and np.isfinite(std)


@FAST
@given(
    hnp.arrays(np.float64, st.integers(2, 400), elements=finite),
    st.floats(0.1001, 50),
)
def test_wasserstein_catches_any_shift_above_a_tenth_of_a_std(values: np.ndarray, k: float) -> None:
    """W1 between a sample and itself shifted by c is exactly |c|: normed, it is k >= 0.1."""
    if not _spread(values):
        return
    shifted = values + k * float(np.std(values))
    result = column_drift(values, shifted, "numerical", method="wasserstein")
    assert result.statistic >= 0.1 * (1 - 1e-9) and result.drifted


@FAST
@given(
    hnp.arrays(np.float64, st.integers(50, 400), elements=finite),
    st.floats(2.0, 50),
)
def test_ks_catches_any_shift_of_two_stds_with_50_rows(values: np.ndarray, k: float) -> None:
    """For any distribution, a shift by k std moves the CDF by at least (k - 1/(2t)) / (2t + k)
    somewhere (Chebyshev-type tail bound, t = 1): D >= 0.375 at k = 2, which the KS test rejects
    at the 5% level for 50 rows on each side."""
    if not _spread(values):
        return
    shifted = values + k * float(np.std(values))
    result = column_drift(values, shifted, "numerical", method="ks")
    assert result.statistic >= 0.375 - 1e-9 and result.drifted


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["normal", "uniform", "lognormal", "exponential"]),
    st.floats(1.0, 10.0),
    st.sampled_from(["jensenshannon", "psi", "hellinger", None]),
)
def test_binned_distances_catch_a_one_std_shift(
    seed: int, family: str, k: float, method: str | None
) -> None:
    """On continuous data with a large reference (the automatic choice is Wasserstein), a shift of
    one standard deviation or more is caught by every binned distance too; three for lognormal
    data, whose long tail stretches the equal-width bins (Sturges, over both samples) so most of
    the mass sits in the first bins on both sides (at one sd about 1 seed in 10 is missed, at two
    1 in 100, at three none of 300)."""
    if family == "lognormal":
        k = max(k, 3.0)
    rng = np.random.default_rng(seed)
    draw = getattr(rng, family)
    ref, cur = draw(size=5000), draw(size=20_000)
    cur = cur + k * float(np.std(ref))
    result = column_drift(ref, cur, "numerical", method=method)
    assert result.drifted, result
