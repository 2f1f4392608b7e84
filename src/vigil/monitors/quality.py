"""Data quality of one window: problems that break a model before any distribution moves.

Each check counts the offending rows (or columns) and keeps a few examples (prediction id and the
value), so an alert can say what was wrong and where to look:

- `missing`: the feature is absent or null (flagged when the rate exceeds the reference's by 1 pt),
- `type_violation`: a numerical feature that is not a number, a categorical one that is an object,
- `schema_violation`: feature keys the model does not declare,
- `out_of_range`: numbers outside the reference's [min, max] (flagged above 1 % of the window),
- `unseen_category`: categories the reference never had,
- `constant`: a feature with one value in the window that varies in the reference,
- text features: `type_violation` (not a string), `empty` (blank strings, flagged like `missing`),
  `length_out_of_range` (character length outside the reference's, flagged like `out_of_range`),
  `constant`,
- embedding features: `type_violation` (not an array of numbers), `dimension_mismatch`,
  `non_finite` (null/NaN/inf components), `zero_vector` (flagged like `missing`) and
  `norm_out_of_range` (L2 norm outside the reference's, flagged like `out_of_range`),
- `duplicate_id`: prediction ids logged more than once,
- `volume`: a closed window whose prediction count is far from the median of the earlier ones.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from vigil.monitors.data import Column, ColumnType, Frame, Reference, as_text, is_set, numeric
from vigil.monitors.multivariate import MAX_CLASSIFIER_ROWS

MISSING_TOLERANCE = 0.01
"""Points a rate (missing, blank text, zero vectors) may exceed the reference's by: some are
normal, a few more are noise."""
RANGE_TOLERANCE = 0.01
"""Share of a window outside the reference range before it is flagged: a reference sample's
extremes are exceeded now and then by chance."""
CATEGORY_JSON_TYPES = frozenset({"VARCHAR", "BIGINT", "UBIGINT", "BOOLEAN", "DOUBLE"})
EXAMPLE_CHARS = 200
"""Longer example values (documents, vectors as JSON) are cut: an example points at a row."""
VECTOR_CHUNK_ROWS = 4096
"""Embeddings parsed per pass: bounds the memory of splitting 100k+ vectors into components."""
VECTOR_SAMPLE_ROWS = MAX_CLASSIFIER_ROWS
"""Vectors kept per dimension for drift: the domain classifier uses no more per side."""
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_JSON_NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$"


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
    if isinstance(value, str) and len(value) > EXAMPLE_CHARS:
        return value[:EXAMPLE_CHARS] + "…"
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
    missing = _issue("missing", name, frame, ~present, column.text, limit)
    if reference is not None and reference.size:
        _above_reference(missing, _missing_rate(reference))
    issues = [missing]
    if kind == "embedding":
        return issues + _embedding_checks(name, column, frame, present, reference, limit)
    if kind == "numerical":
        values = column.numeric()
        bad_type = present & np.isnan(values)
        issues.append(_issue("type_violation", name, frame, bad_type, column.text, limit))
        if reference is not None:
            issues += _out_of_range("out_of_range", name, frame, values, numeric(reference), limit)
        ok = values[np.isfinite(values)]
        distinct = int(np.unique(ok).size) if ok.size else 0
        ref_distinct = _distinct(reference, numeric_kind=True)
    else:
        if kind == "categorical":
            good = present & np.isin(column.json_type, list(CATEGORY_JSON_TYPES))
        else:  # text: the same strings ingest's schema check asks for
            good = present & (column.json_type == "VARCHAR")
        issues.append(_issue("type_violation", name, frame, present & ~good, column.text, limit))
        if kind == "categorical" and reference is not None:
            known = as_text(reference)
            known = known[is_set(known)]
            unseen = good & ~np.isin(column.text.astype(str), known.astype(str))
            issues.append(_issue("unseen_category", name, frame, unseen, column.text, limit))
        elif kind == "text":
            issues += _text_checks(name, column.text, good, frame, reference, limit)
        distinct = _count_distinct(column.text[good])
        ref_distinct = _distinct(reference, numeric_kind=False)
    if present.sum() >= min_rows and distinct == 1 and ref_distinct > 1:
        issues.append(
            Issue("constant", name, 1, 1.0, True, [{"value": _plain(column.text[present][0])}])
        )
    else:
        issues.append(Issue("constant", name, 0, 0.0, False))
    return issues


def _above_reference(issue: Issue, reference_rate: float | None) -> None:
    """Flag a rate only past the reference's own (0 when unknown) plus MISSING_TOLERANCE."""
    issue.reference_value = reference_rate
    limit = (reference_rate or 0.0) + MISSING_TOLERANCE
    issue.flagged = issue.count > 0 and issue.rate > limit


def _out_of_range(
    check: str,
    feature: str,
    frame: Frame,
    measured: np.ndarray,
    reference: np.ndarray,
    limit: int,
    *,
    shown: np.ndarray | None = None,
    measure: str = "value",
) -> list[Issue]:
    """Rows whose measure (NaN: not measured) lies outside the reference's finite [min, max].

    Examples show `shown` (default: the measure itself) with the measure under `measure`.
    """
    ref = reference[np.isfinite(reference)]
    if not ref.size:
        return []
    lo, hi = float(ref.min()), float(ref.max())
    with np.errstate(invalid="ignore"):
        outside = (measured < lo) | (measured > hi)
    issue = _issue(check, feature, frame, outside, measured if shown is None else shown, limit)
    issue.flagged = issue.rate > RANGE_TOLERANCE
    for example, row in zip(issue.examples, np.flatnonzero(outside), strict=False):
        example[measure] = _plain(measured[row])
        example["range"] = [lo, hi]
    return [issue]


def _strings(values: np.ndarray) -> Any:
    """An Arrow string array of object values (None stays null), for vectorised text work."""
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _count_distinct(values: np.ndarray) -> int:
    """Distinct values as text; Arrow hashes long texts without a fixed-width numpy copy."""
    return int(pc.count_distinct(_strings(values)).as_py()) if values.size else 0


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
    return _count_distinct(ref[is_set(ref)])


def _text_shape(values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per value: character length (NaN outside `rows` and for blank strings, which `empty`
    counts instead) and whether it is blank (empty or whitespace only)."""
    lengths = np.full(values.size, np.nan)
    blank = np.zeros(values.size, dtype=bool)
    if rows.any():
        strings = _strings(values[rows])
        is_blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(strings)), 0)
        is_blank = np.asarray(is_blank.to_numpy(zero_copy_only=False), dtype=bool)
        chars = np.asarray(pc.utf8_length(strings).to_numpy(zero_copy_only=False), np.float64)
        blank[rows] = is_blank
        lengths[rows] = np.where(is_blank, np.nan, chars)
    return lengths, blank


def _text_checks(
    name: str,
    text: np.ndarray,
    good: np.ndarray,
    frame: Frame,
    reference: np.ndarray | None,
    limit: int,
) -> list[Issue]:
    """`empty` and `length_out_of_range` of a text column's strings (rows `good`)."""
    lengths, blank = _text_shape(text, good)
    empty = _issue("empty", name, frame, blank, text, limit)
    if reference is None or not reference.size:
        _above_reference(empty, None)
        return [empty]
    ref_text = as_text(reference)
    ref_lengths, ref_blank = _text_shape(ref_text, is_set(ref_text))
    _above_reference(empty, float(ref_blank.mean()))
    out_of_range = _out_of_range(
        "length_out_of_range",
        name,
        frame,
        lengths,
        ref_lengths,
        limit,
        shown=text,
        measure="length",
    )
    return [empty, *out_of_range]


@dataclass(slots=True)
class Vectors:
    """What parsing an embedding column found, per row, and a random sample of its vectors."""

    valid: np.ndarray
    """A JSON array of numbers (null, NaN or inf components allowed: `finite` tells)."""
    dims: np.ndarray
    """Number of components (0 unless valid)."""
    finite: np.ndarray
    """Valid, and every component a finite number."""
    norms: np.ndarray
    """L2 norm where finite, else NaN."""
    samples: dict[int, list[np.ndarray]] = field(default_factory=dict)
    """Per dimension, up to VECTOR_SAMPLE_ROWS finite vectors (row blocks): what drift compares,
    kept while parsing so a large window is never held as one float matrix."""

    @property
    def common_dimension(self) -> int | None:
        dims = self.dims[self.valid]
        return int(np.bincount(dims).argmax()) if dims.size else None

    def usable(self, dimension: int) -> int:
        """Rows that are finite vectors of `dimension`."""
        return int(np.count_nonzero(self.finite & (self.dims == dimension)))

    def sample(self, dimension: int) -> np.ndarray:
        """The kept finite vectors of `dimension` as a (rows, dimension) matrix."""
        blocks = self.samples.get(dimension)
        return np.vstack(blocks) if blocks else np.empty((0, dimension))


def _vectors(texts: np.ndarray, rows: np.ndarray) -> Vectors:
    """Parse the JSON arrays at `rows` of `texts` with Arrow string kernels, a chunk at a time:
    no Python work per component, and memory bounded by VECTOR_CHUNK_ROWS.

    Rows are parsed in a seeded random order, so the first VECTOR_SAMPLE_ROWS finite vectors of
    each dimension kept on the way are a uniform sample of the column.
    """
    n = texts.size
    out = Vectors(np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(n, bool), np.full(n, np.nan))
    where = np.random.default_rng(0).permutation(np.flatnonzero(rows))
    for start in range(0, where.size, VECTOR_CHUNK_ROWS):
        at = where[start : start + VECTOR_CHUNK_ROWS]
        strings = pc.utf8_trim_whitespace(_strings(texts[at]))
        bracketed = pc.and_(pc.starts_with(strings, "["), pc.ends_with(strings, "]"))
        parts = pc.split_pattern(pc.utf8_slice_codeunits(strings, 1, -1), ",")
        offsets = np.asarray(parts.offsets, np.int64)  # every row has an item ("" for `[]`)
        values, known = _components(pc.utf8_trim_whitespace(pc.list_flatten(parts)))
        with np.errstate(over="ignore", invalid="ignore"):
            squares = np.add.reduceat(values * values, offsets[:-1])
        valid = np.asarray(bracketed.to_numpy(zero_copy_only=False), bool)
        valid &= ~np.logical_or.reduceat(~known, offsets[:-1])
        finite = valid & ~np.logical_or.reduceat(~np.isfinite(values), offsets[:-1])
        dims = np.where(valid, np.diff(offsets), 0)
        out.valid[at] = valid
        out.dims[at] = dims
        out.finite[at] = finite
        out.norms[at] = np.where(finite, np.sqrt(squares), np.nan)
        _keep_sample(out.samples, values, offsets, dims, finite)
    return out


def _keep_sample(
    samples: dict[int, list[np.ndarray]],
    values: np.ndarray,
    offsets: np.ndarray,
    dims: np.ndarray,
    finite: np.ndarray,
) -> None:
    """Add a chunk's finite vectors to `samples` until each dimension has VECTOR_SAMPLE_ROWS."""
    for dim in np.unique(dims[finite]).tolist():
        room = VECTOR_SAMPLE_ROWS - sum(len(b) for b in samples.get(dim, []))
        rows = np.flatnonzero(finite & (dims == dim))[:room]
        if rows.size:
            samples.setdefault(dim, []).append(values[offsets[rows][:, None] + np.arange(dim)])


def _components(items: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each component as a float (NaN for null) and whether it is a number or null at all.

    A plain cast comes first (every component a number: the usual case); the JSON-number regex,
    a few times slower, runs only on a chunk the cast rejects (nulls, strings, nested values).
    """
    try:
        values = pc.cast(items, pa.float64())
        known = np.ones(len(items), dtype=bool)
    except pa.ArrowInvalid:
        number = pc.match_substring_regex(items, _JSON_NUMBER)
        values = pc.cast(pc.if_else(number, items, pa.scalar(None, pa.string())), pa.float64())
        known = pc.or_(number, pc.equal(items, "null")).to_numpy(zero_copy_only=False)
    return np.asarray(values.to_numpy(zero_copy_only=False), np.float64), known


_PARSED: dict[tuple[str, int], tuple[weakref.ref[np.ndarray], Vectors]] = {}
"""Parsed embedding columns by array identity: a run checks every window against one reference,
and drift and the quality checks read the same window column; each is parsed once."""


def _cached(kind: str, values: np.ndarray, parse: Callable[[], Vectors]) -> Vectors:
    key = (kind, id(values))
    cached = _PARSED.get(key)
    if cached is not None and cached[0]() is values:
        return cached[1]
    vectors = parse()
    for dead in [k for k, (ref, _) in _PARSED.items() if ref() is None]:
        _PARSED.pop(dead, None)
    _PARSED[key] = (weakref.ref(values), vectors)
    return vectors


def embedding_vectors(values: np.ndarray) -> Vectors:
    """A reference or baseline embedding column: JSON text (CSV), lists (Parquet) or None."""

    def parse() -> Vectors:
        texts = np.array(
            [
                v if v is None or isinstance(v, str) else orjson.dumps(v, option=_NUMPY).decode()
                for v in values
            ],
            dtype=object,
        )
        return _vectors(texts, is_set(texts))

    return _cached("values", values, parse)


def column_vectors(column: Column) -> Vectors:
    """A window's embedding feature; only values stored as JSON arrays are parsed."""
    return _cached("column", column.text, lambda: _vectors(column.text, is_array(column)))


def is_array(column: Column) -> np.ndarray:
    """Rows whose value is stored as a JSON array (anything else is a type violation)."""
    arrays: np.ndarray = column.json_type == "ARRAY"
    return arrays


def _embedding_checks(
    name: str,
    column: Column,
    frame: Frame,
    present: np.ndarray,
    reference: np.ndarray | None,
    limit: int,
) -> list[Issue]:
    """Type, dimension, non-finite, zero and norm checks of an embedding column.

    The expected dimension is the reference's most common one, else the window's: one odd
    vector among many is the problem, not the majority.
    """
    text = column.text
    vectors = column_vectors(column)
    ref = embedding_vectors(reference) if reference is not None and reference.size else None
    expected = ref.common_dimension if ref is not None else None
    if expected is None:
        expected = vectors.common_dimension
    issues = [_issue("type_violation", name, frame, present & ~vectors.valid, text, limit)]
    mismatch = vectors.valid & (vectors.dims != expected)
    dimension = _issue("dimension_mismatch", name, frame, mismatch, vectors.dims, limit)
    dimension.reference_value = expected
    issues.append(dimension)
    issues.append(_issue("non_finite", name, frame, vectors.valid & ~vectors.finite, text, limit))
    zero = _issue("zero_vector", name, frame, vectors.norms == 0, text, limit)
    _above_reference(zero, float(np.mean(ref.norms == 0)) if ref is not None else None)
    issues.append(zero)
    if ref is not None:
        comparable = vectors.finite & ~mismatch & (vectors.norms > 0)
        ref_norms = ref.norms[(ref.dims == expected) & (ref.norms > 0)]
        norms = np.where(comparable, vectors.norms, np.nan)
        issues += _out_of_range("norm_out_of_range", name, frame, norms, ref_norms, limit)
    return issues


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
