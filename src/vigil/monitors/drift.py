"""Univariate and dataset-level data drift: which method, which threshold, which verdict.

The automatic choice of method, the default thresholds and the side of the threshold that counts as
drift follow Evidently's documented defaults (docs/drift-methods.md), so a Vigil result can be
checked against an Evidently report on the same data. The statistics themselves live in
`vigil.monitors.stats`; this module owns cleaning (missing values are dropped and counted), the
method registry, per-column overrides and the share-of-drifted-columns rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from vigil.monitors import stats

ColumnType = Literal["numerical", "categorical", "text", "embedding"]
"""How a column is compared: numbers, labels, free text or fixed-size vectors (2-D arrays)."""

COLUMN_TYPES: tuple[ColumnType, ...] = get_args(ColumnType)

SMALL_REFERENCE = 1000
"""At or below this many reference rows, drift is judged with tests (p-values); above, distances."""


@dataclass(frozen=True)
class DriftResult:
    """The drift verdict of one column."""

    column: str
    column_type: ColumnType
    method: str
    statistic: float
    """The test statistic or the distance."""
    p_value: float | None
    score: float
    """The value compared with `threshold`: the p-value for tests, the distance otherwise."""
    threshold: float
    drifted: bool
    reference_size: int
    """Rows compared after dropping missing values (see `reference_missing`)."""
    current_size: int
    reference_missing: int = 0
    current_missing: int = 0


@dataclass(frozen=True)
class DatasetDriftResult:
    """Per-column verdicts and the dataset verdict: drifted when the share reaches the threshold."""

    columns: list[DriftResult]
    drift_share: float
    share_threshold: float
    drifted: bool

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]


@dataclass(frozen=True)
class MethodOverride:
    """A per-column choice that replaces the automatic method and/or its default threshold."""

    method: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class Method:
    """A registered drift method: its default threshold and whether it is a test (p-values,
    drift when small) or a distance (drift when large)."""

    name: str
    display_name: str
    threshold: float
    is_test: bool
    column_types: frozenset[ColumnType]
    compute: Callable[[np.ndarray, np.ndarray, bool], stats.Stat]
    drift_at_threshold: bool = True
    """Whether a score equal to the threshold counts as drift (Evidently: KS `<=`, chi/Z `<`)."""

    def is_drift(self, score: float, threshold: float) -> bool:
        if self.is_test:
            return score <= threshold if self.drift_at_threshold else score < threshold
        return score >= threshold


_NUM: frozenset[ColumnType] = frozenset({"numerical"})
_BOTH: frozenset[ColumnType] = frozenset({"numerical", "categorical"})

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("ks", "K-S p_value", 0.05, True, _NUM, lambda r, c, n: stats.ks(r, c)),
        Method(
            "chisquare",
            "chi-square p_value",
            0.05,
            True,
            _BOTH,
            lambda r, c, n: stats.chisquare(r, c),
            drift_at_threshold=False,
        ),
        Method(
            "z",
            "Z-test p_value",
            0.05,
            True,
            _BOTH,
            lambda r, c, n: stats.z_proportions(r, c),
            drift_at_threshold=False,
        ),
        Method(
            "wasserstein",
            "Wasserstein distance (normed)",
            0.1,
            False,
            _NUM,
            lambda r, c, n: stats.wasserstein_normed(r, c),
        ),
        Method(
            "jensenshannon",
            "Jensen-Shannon distance",
            0.1,
            False,
            _BOTH,
            lambda r, c, n: stats.jensenshannon(r, c, numerical=n),
        ),
        Method("psi", "PSI", 0.1, False, _BOTH, lambda r, c, n: stats.psi(r, c, numerical=n)),
        Method(
            "hellinger",
            "Hellinger distance",
            0.1,
            False,
            _BOTH,
            lambda r, c, n: stats.hellinger(r, c, numerical=n),
        ),
    )
}
"""Every univariate method by name. Evidently registers chi-square and Z for categorical columns
only; Vigil also accepts them for numerical columns with few values (they are chosen there)."""


def drop_missing(values: np.ndarray, column_type: ColumnType) -> tuple[np.ndarray, int]:
    """The values without missing ones (NaN, None, and +-inf for numbers), and how many went."""
    if column_type == "embedding":
        matrix = np.asarray(values, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError("an embedding column must be a 2-D array (rows x dimensions)")
        keep = np.isfinite(matrix).all(axis=1)
        return matrix[keep], int(len(matrix) - keep.sum())
    if column_type == "numerical":
        numbers = np.asarray(values, dtype=np.float64).ravel()
        keep = np.isfinite(numbers)
        return (numbers if keep.all() else numbers[keep]), int(len(numbers) - keep.sum())
    if values.dtype.kind == "f":
        keep = ~np.isnan(values)
    elif values.dtype == object:
        import pyarrow as pa
        import pyarrow.compute as pc

        keep = pc.is_valid(pa.array(values, from_pandas=True)).to_numpy(zero_copy_only=False)
    else:
        return values, 0
    return (values if keep.all() else values[keep]), int(len(values) - keep.sum())


def _clean(
    reference: np.ndarray, current: np.ndarray, column_type: ColumnType
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Both samples without missing values, and how many each lost. Categorical object columns
    become integer codes in the sorted order of their values (see `stats.factorize`)."""
    if column_type == "categorical" and reference.dtype == object and current.dtype == object:
        coded = stats.factorize(reference, current)
        if coded is not None:
            ref, cur, _ = coded
            ref_keep, cur_keep = ref >= 0, cur >= 0
            return (
                ref[ref_keep], cur[cur_keep],
                int(len(ref) - ref_keep.sum()), int(len(cur) - cur_keep.sum()),
            )  # fmt: skip
    ref, ref_missing = drop_missing(reference, column_type)
    cur, cur_missing = drop_missing(current, column_type)
    return ref, cur, ref_missing, cur_missing


def _distinct_values(reference: np.ndarray, current: np.ndarray, limit: int) -> int:
    """Number of distinct values of both samples, computed exactly only when it is <= `limit`.

    Evidently counts distinct values over reference and current together; the current window can be
    a million rows, so the reference is counted first and the current one only if it might matter.
    """
    ref_keys, _ = stats.value_counts(reference)
    if len(ref_keys) > limit:
        return len(ref_keys)
    cur_keys, _ = stats.value_counts(current)
    return len(set(ref_keys.tolist()) | set(cur_keys.tolist()))


def choose_method(
    reference: np.ndarray, column_type: ColumnType, current: np.ndarray | None = None
) -> str:
    """Evidently's default method for a column (its `_get_default_stattest`).

    Reference of at most 1000 rows: numerical with more than 5 distinct values -> `ks`; otherwise
    (numerical or categorical) more than 2 distinct values -> `chisquare`, else `z`. Larger
    reference: numerical with more than 5 distinct values -> `wasserstein`, anything else ->
    `jensenshannon`. Distinct values are counted over reference and `current` together (as
    Evidently does) when `current` is given, over the reference alone otherwise. Both arrays must
    be already free of missing values. Text and embedding columns use Vigil's own methods.
    """
    if column_type == "text":
        return "text_classifier"
    if column_type == "embedding":
        return "embedding_classifier"
    other = current if current is not None else reference[:0]
    distinct = _distinct_values(reference, other, 5)
    if len(reference) <= SMALL_REFERENCE:
        if column_type == "numerical" and distinct > 5:
            return "ks"
        return "chisquare" if distinct > 2 else "z"
    if column_type == "numerical" and distinct > 5:
        return "wasserstein"
    return "jensenshannon"


def column_drift(
    reference: np.ndarray,
    current: np.ndarray,
    column_type: ColumnType,
    *,
    column: str = "",
    method: str | None = None,
    threshold: float | None = None,
) -> DriftResult:
    """Compare one column of the current window with the reference.

    Missing values are dropped first (and counted in the result); `method` and `threshold`
    override the automatic choice and the method's default threshold.
    Raises ValueError for an unknown method or type, or a sample empty after cleaning.
    """
    if column_type not in COLUMN_TYPES:
        raise ValueError(f"unknown column type {column_type!r}; expected one of {COLUMN_TYPES}")
    ref, cur, ref_missing, cur_missing = _clean(
        np.asarray(reference), np.asarray(current), column_type
    )
    for name, sample in (("reference", ref), ("current", cur)):
        if len(sample) == 0:
            raise ValueError(f"column {column!r}: no non-missing values in the {name} data")
    chosen = method or choose_method(ref, column_type, cur)
    if column_type in ("text", "embedding"):
        from vigil.monitors import multivariate

        found = multivariate.unstructured_drift(
            ref, cur, column_type, method=chosen, threshold=threshold
        )
        return DriftResult(
            column,
            column_type,
            chosen,
            found.statistic,
            None,
            found.statistic,
            found.threshold,
            found.drifted,
            len(ref),
            len(cur),
            ref_missing,
            cur_missing,
        )
    spec = METHODS.get(chosen)
    if spec is None:
        raise ValueError(f"unknown drift method {chosen!r}; expected one of {sorted(METHODS)}")
    if column_type not in spec.column_types:
        raise ValueError(f"method {chosen!r} does not apply to {column_type} columns")
    result = spec.compute(ref, cur, column_type == "numerical")
    score = result.p_value if spec.is_test and result.p_value is not None else result.statistic
    limit = spec.threshold if threshold is None else threshold
    return DriftResult(
        column=column,
        column_type=column_type,
        method=chosen,
        statistic=result.statistic,
        p_value=result.p_value,
        score=score,
        threshold=limit,
        drifted=bool(spec.is_drift(score, limit)),
        reference_size=len(ref),
        current_size=len(cur),
        reference_missing=ref_missing,
        current_missing=cur_missing,
    )


def dataset_drift(
    reference: Mapping[str, np.ndarray],
    current: Mapping[str, np.ndarray],
    schema: Mapping[str, ColumnType],
    *,
    overrides: Mapping[str, MethodOverride] | None = None,
    share_threshold: float = 0.5,
    workers: int | None = None,
) -> DatasetDriftResult:
    """Drift of every column in `schema`, and the dataset verdict: drifted when the share of
    drifted columns is at least `share_threshold` (Evidently's `drift_share`, default 0.5).

    Columns are judged on `workers` threads (default: one per core): the sorts and counts run in
    numpy and pyarrow without the GIL, so a million-row window uses every core.
    """
    overrides = overrides or {}

    def one(name: str) -> DriftResult:
        override = overrides.get(name, MethodOverride())
        return column_drift(
            reference[name],
            current[name],
            schema[name],
            column=name,
            method=override.method,
            threshold=override.threshold,
        )

    threads = workers or min(len(schema), os.cpu_count() or 1)
    if threads <= 1:
        results = [one(name) for name in schema]
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vigil-drift") as pool:
            results = list(pool.map(one, schema))
    share = sum(r.drifted for r in results) / len(results) if results else 0.0
    drifted = bool(results) and share >= share_threshold
    return DatasetDriftResult(results, share, share_threshold, drifted)
