"""The univariate drift statistics, on clean 1-D numpy arrays (missing values already dropped).

Each function reproduces the rule Evidently documents and implements for the method of the same
name (binning, zero filling, which side of the threshold counts as drift), so a Vigil verdict can be
compared with an Evidently one. The arithmetic is vectorised: counting goes through
`np.unique`/`np.histogram`, sorting happens once per numerical column, and scipy supplies the
distributions (KS, chi-square, normal), never a Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as sps
from scipy.spatial import distance as spd

FloatArray = npt.NDArray[np.float64]
"""A 1-D float64 array."""


@dataclass(frozen=True, slots=True)
class Stat:
    """One computed statistic: the value itself and its p-value when the method is a test."""

    statistic: float
    p_value: float | None = None


# --- counting -----------------------------------------------------------------------------------


def value_counts(values: np.ndarray) -> tuple[np.ndarray, npt.NDArray[np.int64]]:
    """Distinct values (sorted) and their counts.

    Object arrays (strings from CSV/Parquet) are counted through pyarrow's hash table: sorting a
    million Python strings with `np.unique` costs seconds, hashing them costs milliseconds.
    """
    if values.dtype == object:
        import pyarrow as pa
        import pyarrow.compute as pc

        counted = pc.value_counts(pa.array(values, from_pandas=True)).flatten()
        keys = np.asarray(counted[0].to_numpy(zero_copy_only=False), dtype=object)
        counts = np.asarray(counted[1].to_numpy(zero_copy_only=False), dtype=np.int64)
        order = _sort_order(keys)
        return keys[order], counts[order]
    if values.dtype.kind in "iu" and len(values) and values.min() >= 0 and values.max() < 1 << 16:
        counts = np.bincount(values)  # codes from `factorize`: no sort needed
        present = np.flatnonzero(counts)
        return present.astype(values.dtype), counts[present].astype(np.int64)
    keys, counts = np.unique(values, return_counts=True)
    return keys, counts.astype(np.int64)


def factorize(
    reference: np.ndarray, current: np.ndarray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], np.ndarray] | None:
    """Two object columns as integer codes numbered in the sorted order of their values, missing
    values (None/NaN) dropped, plus the values themselves; None if pyarrow cannot type them.

    One hash pass per column replaces the repeated conversions and counts of every method, and
    since codes sort like values, "the smallest value" (Z-test) is code 0.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        both = pa.concat_arrays(
            [pa.array(reference, from_pandas=True), pa.array(current, from_pandas=True)]
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    encoded = pc.dictionary_encode(both)
    keys = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(), dtype=np.int64)
    order = _sort_order(keys)
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # code -1 (missing) stays -1
    codes = rank[codes]
    return codes[: len(reference)], codes[len(reference) :], keys[order]


def _sort_order(keys: np.ndarray) -> npt.NDArray[np.intp]:
    """Sort order for distinct object keys; mixed types fall back to sorting by their text."""
    try:
        return np.argsort(keys, kind="stable")
    except TypeError:
        return np.argsort(np.array([f"{type(k).__name__}:{k}" for k in keys]), kind="stable")


def aligned_counts(
    reference: np.ndarray, current: np.ndarray
) -> tuple[np.ndarray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Counts of every value seen in either sample, aligned on the union of their values."""
    ref_keys, ref_counts = value_counts(reference)
    cur_keys, cur_counts = value_counts(current)
    keys = np.concatenate([ref_keys, cur_keys])
    if keys.dtype == object:
        merged_keys, inverse = _object_union(keys)
    else:
        merged_keys, inverse = np.unique(keys, return_inverse=True)
    ref = np.zeros(len(merged_keys), dtype=np.int64)
    cur = np.zeros(len(merged_keys), dtype=np.int64)
    np.add.at(ref, inverse[: len(ref_keys)], ref_counts)
    np.add.at(cur, inverse[len(ref_keys) :], cur_counts)
    return merged_keys, ref, cur


def _object_union(keys: np.ndarray) -> tuple[np.ndarray, npt.NDArray[np.intp]]:
    index: dict[object, int] = {}
    inverse = np.fromiter((index.setdefault(k, len(index)) for k in keys), np.intp, len(keys))
    merged = np.empty(len(index), dtype=object)
    merged[:] = list(index)
    order = _sort_order(merged)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return merged[order], rank[inverse]


def sturges_counts(
    reference: FloatArray, current: FloatArray, *, n_points: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Histogram counts of both samples on equal-width bins over their joint range.

    The number of bins is Sturges' rule (`log2(n) + 1`) as `np.histogram_bin_edges(..., "sturges")`
    computes it on the concatenated sample, done here from the joint min/max and size alone so
    the million-row current window is never copied. `n_points` replaces the size in the rule
    (Evidently's Hellinger distance counts distinct values instead of rows).
    """
    lo = float(min(reference.min(), current.min()))
    hi = float(max(reference.max(), current.max()))
    n = n_points if n_points is not None else len(reference) + len(current)
    if hi > lo:
        width = (hi - lo) / (np.log2(n) + 1.0)
        bins = int(np.ceil((hi - lo) / width))
    else:
        lo, hi, bins = lo - 0.5, hi + 0.5, 1
    ref = np.histogram(reference, bins=bins, range=(lo, hi))[0]
    cur = np.histogram(current, bins=bins, range=(lo, hi))[0]
    return ref.astype(np.int64), cur.astype(np.int64)


def binned_shares(
    reference: np.ndarray, current: np.ndarray, *, numerical: bool, fill_zeros: bool
) -> tuple[FloatArray, FloatArray]:
    """Share of each sample per bin: Sturges bins for a numerical column with more than 20
    distinct reference values, one bin per distinct value otherwise (Evidently's binning for
    Jensen-Shannon and PSI). With `fill_zeros`, empty bins get a small share so logarithms stay
    finite (PSI): a millionth of the smallest non-empty share, or 1e-4 if that is larger."""
    if numerical and len(np.unique(reference)) > 20:
        ref_counts, cur_counts = sturges_counts(reference, current)
    else:
        _, ref_counts, cur_counts = aligned_counts(reference, current)
    ref = ref_counts / len(reference)
    cur = cur_counts / len(current)
    if fill_zeros:
        ref, cur = _fill_zeros(ref), _fill_zeros(cur)
    return ref, cur


def _fill_zeros(shares: FloatArray) -> FloatArray:
    smallest = float(shares[shares != 0].min())
    filled = shares.copy()
    filled[filled == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return filled


# --- the methods ----------------------------------------------------------------------------------


def ks(reference: FloatArray, current: FloatArray) -> Stat:
    """Two-sample Kolmogorov-Smirnov (two-sided; exact for small samples, asymptotic above 10k)."""
    result = sps.ks_2samp(reference, current)
    return Stat(float(result.statistic), float(result.pvalue))


def chisquare(reference: np.ndarray, current: np.ndarray) -> Stat:
    """Pearson's chi-square of current counts against reference frequencies scaled to the current
    size. A category absent from the reference makes the statistic infinite (p = 0)."""
    _, ref, cur = aligned_counts(reference, current)
    expected = ref * (len(current) / len(reference))
    with np.errstate(divide="ignore", invalid="ignore"):
        result = sps.chisquare(cur, expected)
    return Stat(float(result.statistic), float(result.pvalue))


def z_proportions(reference: np.ndarray, current: np.ndarray) -> Stat:
    """Two-proportion Z-test on the share of rows different from the smallest value.

    Two samples holding the same single value have p = 1 (the pooled variance would be zero).
    """
    keys, ref, cur = aligned_counts(reference, current)
    if len(keys) == 1:
        return Stat(0.0, 1.0)
    n1, n2 = len(reference), len(current)
    p1 = (n1 - ref[0]) / n1
    p2 = (n2 - cur[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    p_value = 2 * (1 - sps.norm.cdf(np.abs(z)))
    return Stat(float(z), float(p_value))


def wasserstein_normed(reference: FloatArray, current: FloatArray) -> Stat:
    """First Wasserstein distance divided by the reference's (population) standard deviation,
    floored at 0.001 so a constant reference does not divide by zero."""
    norm = max(float(np.std(reference)), 0.001)
    return Stat(wasserstein(reference, current) / norm)


def wasserstein(u: FloatArray, v: FloatArray, *, chunk: int = 1 << 16) -> float:
    """W1 = integral of |F_u - F_v|, on the merged sorted sample (same value as scipy's
    `wasserstein_distance`, with one sort per sample and a linear merge instead of argsorts).
    The CDFs are evaluated `chunk` points at a time so the temporaries stay small."""
    u_sorted = np.sort(u)
    v_sorted = np.sort(v)
    merged = np.concatenate([u_sorted, v_sorted])
    merged.sort(kind="stable")  # timsort: a linear merge of the two sorted runs
    total = 0.0
    for start in range(0, len(merged) - 1, chunk):
        window = merged[start : start + chunk + 1]
        points = window[:-1]
        u_cdf = np.searchsorted(u_sorted, points, side="right") / len(u)
        u_cdf -= np.searchsorted(v_sorted, points, side="right") / len(v)
        total += float(np.dot(np.abs(u_cdf), np.diff(window)))
    return total


def jensenshannon(reference: np.ndarray, current: np.ndarray, *, numerical: bool) -> Stat:
    """Jensen-Shannon distance (natural log, so within [0, sqrt(ln 2)]) of the binned shares."""
    ref, cur = binned_shares(reference, current, numerical=numerical, fill_zeros=False)
    return Stat(float(spd.jensenshannon(ref, cur)))


def psi(reference: np.ndarray, current: np.ndarray, *, numerical: bool) -> Stat:
    """Population stability index: sum of (ref - cur) * ln(ref / cur) over the binned shares."""
    ref, cur = binned_shares(reference, current, numerical=numerical, fill_zeros=True)
    return Stat(float(np.sum((ref - cur) * np.log(ref / cur))))


def hellinger(reference: np.ndarray, current: np.ndarray, *, numerical: bool) -> Stat:
    """Hellinger distance sqrt(1 - BC), BC the Bhattacharyya coefficient of the two shares.

    Numerical columns use equal-width bins whose count follows Sturges' rule on the number of
    distinct values (as Evidently does), categorical columns one bin per value.
    """
    if numerical:
        distinct = len(np.unique(np.concatenate([reference, current])))
        ref_counts, cur_counts = sturges_counts(reference, current, n_points=distinct)
    else:
        _, ref_counts, cur_counts = aligned_counts(reference, current)
    coefficient = float(np.sum(np.sqrt(ref_counts / len(reference) * (cur_counts / len(current)))))
    return Stat(float(np.sqrt(1.0 - min(max(coefficient, 0.0), 1.0))))
