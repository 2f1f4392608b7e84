"""Data quality of one window: problems that break a model before any distribution moves.

Each check counts the offending rows (or columns) and keeps a few examples (prediction id and the
value), so an alert can say what was wrong and where to look:

- `missing`: the feature is absent or null (flagged when the rate exceeds the reference's by 1 pt),
- `type_violation`: a numerical feature that is not a number, a categorical one that is an object,
- `schema_violation`: feature keys the model does not declare,
- `out_of_range`: numbers outside the reference's [min, max] (flagged above 1 % of the window),
- `unseen_category`: categories the reference never had,
- `constant`: a feature with one value in the window that varies in the reference,
- `duplicate_id`: prediction ids logged more than once,
- `volume`: a closed window whose prediction count is far from the median of the earlier ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.monitors.data import Column, ColumnType, Frame, Reference, as_text, is_set, numeric

MISSING_TOLERANCE = 0.01
RANGE_TOLERANCE = 0.01
"""Share of a window outside the reference range before it is flagged: a reference sample's
extremes are exceeded now and then by chance."""
CATEGORY_JSON_TYPES = frozenset({"VARCHAR", "BIGINT", "UBIGINT", "BOOLEAN", "DOUBLE"})


@dataclass(slots=True)
class Issue:
    """One check on one feature (`*` for the whole row) of one window."""

    check: str
    feature: str
    count: int
    rate: float
    flagged: bool
    examples: list[dict[str, Any]] = field(default_factory=list)
    reference_value: float | None = None


def _examples(
    frame: Frame, mask: np.ndarray, values: np.ndarray, limit: int
) -> list[dict[str, Any]]:
    idx = np.flatnonzero(mask)[:limit]
    return [{"id": str(frame.ids[i]), "value": _plain(values[i])} for i in idx]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _issue(
    check: str, feature: str, frame: Frame, mask: np.ndarray, values: np.ndarray, limit: int
) -> Issue:
    count = int(np.count_nonzero(mask))
    rate = count / frame.size if frame.size else 0.0
    return Issue(check, feature, count, rate, count > 0, _examples(frame, mask, values, limit))


def check_column(
    name: str,
    kind: ColumnType,
    column: Column,
    frame: Frame,
    reference: np.ndarray | None,
    *,
    min_rows: int,
    limit: int,
) -> list[Issue]:
    """Every per-feature check of one column."""
    present = column.present()
    issues: list[Issue] = []
    missing = _issue("missing", name, frame, ~present, column.text, limit)
    if reference is not None and reference.size:
        ref_missing = _missing_rate(reference)
        missing.reference_value = ref_missing
        missing.flagged = missing.count > 0 and missing.rate > ref_missing + MISSING_TOLERANCE
    issues.append(missing)
    if kind == "numerical":
        values = column.numeric()
        bad_type = present & np.isnan(values)
        issues.append(_issue("type_violation", name, frame, bad_type, column.text, limit))
        if reference is not None:
            ref = numeric(reference)
            ref = ref[np.isfinite(ref)]
            if ref.size:
                lo, hi = float(ref.min()), float(ref.max())
                with np.errstate(invalid="ignore"):
                    outside = (values < lo) | (values > hi)
                issue = _issue("out_of_range", name, frame, outside, values, limit)
                issue.flagged = issue.rate > RANGE_TOLERANCE
                issue.examples = [{**e, "range": [lo, hi]} for e in issue.examples]
                issues.append(issue)
        ok = values[np.isfinite(values)]
        distinct = int(np.unique(ok).size) if ok.size else 0
        ref_distinct = _distinct(reference, numeric_kind=True)
    elif kind == "categorical":
        bad_type = present & ~np.isin(column.json_type, list(CATEGORY_JSON_TYPES))
        issues.append(_issue("type_violation", name, frame, bad_type, column.text, limit))
        good = present & ~bad_type
        if reference is not None:
            known = as_text(reference)
            known = known[is_set(known)]
            unseen = good & ~np.isin(column.text.astype(str), known.astype(str))
            issues.append(_issue("unseen_category", name, frame, unseen, column.text, limit))
        distinct = int(np.unique(column.text[good].astype(str)).size) if good.any() else 0
        ref_distinct = _distinct(reference, numeric_kind=False)
    else:
        return issues
    if present.sum() >= min_rows and distinct == 1 and ref_distinct > 1:
        issues.append(
            Issue("constant", name, 1, 1.0, True, [{"value": _plain(column.text[present][0])}])
        )
    else:
        issues.append(Issue("constant", name, 0, 0.0, False))
    return issues


def _missing_rate(reference: np.ndarray) -> float:
    if reference.dtype.kind == "f":
        return float(np.isnan(reference).mean())
    return float((~is_set(reference)).mean())


def _distinct(reference: np.ndarray | None, *, numeric_kind: bool) -> int:
    if reference is None or reference.size == 0:
        return 2  # unknown: do not flag constant columns without a reference
    if numeric_kind:
        ref = numeric(reference)
        return int(np.unique(ref[np.isfinite(ref)]).size)
    ref = as_text(reference)
    return int(np.unique(ref[is_set(ref)].astype(str)).size)


def check_rows(frame: Frame, limit: int) -> list[Issue]:
    """Row-level checks: undeclared feature keys and duplicated prediction ids."""
    issues: list[Issue] = []
    if frame.extra_keys is not None:
        extra = frame.extra_keys > 0
        issues.append(_issue("schema_violation", "*", frame, extra, frame.extra_keys, limit))
    ids = frame.ids.astype(str)
    _, first = np.unique(ids, return_index=True)
    duplicated = np.ones(ids.size, dtype=bool)
    duplicated[first] = False
    issue = _issue("duplicate_id", "id", frame, duplicated, frame.ids, limit)
    issues.append(issue)
    return issues


def check_volume(counts: Sequence[int], closed: Sequence[bool], tolerance: float) -> Issue | None:
    """The newest closed window's count against the median of the closed windows before it."""
    closed_counts = [c for c, done in zip(counts, closed, strict=True) if done]
    if len(closed_counts) < 3:
        return None
    *history, latest = closed_counts
    median = float(np.median(history))
    if median <= 0:
        return None
    change = (latest - median) / median
    flagged = abs(change) > tolerance
    return Issue(
        "volume",
        "*",
        int(flagged),
        change,
        flagged,
        [{"count": latest, "median": median}],
        reference_value=median,
    )


def check_window(
    frame: Frame,
    schema: Mapping[str, ColumnType],
    reference: Reference | None,
    *,
    min_rows: int,
    limit: int,
) -> list[Issue]:
    """All checks of one window (volume aside, which needs the window's neighbours)."""
    issues: list[Issue] = []
    for name, kind in schema.items():
        column = frame.features.get(name)
        if column is None:
            continue
        ref = reference.get(name) if reference is not None else None
        issues += check_column(name, kind, column, frame, ref, min_rows=min_rows, limit=limit)
    issues += check_rows(frame, limit)
    return issues
