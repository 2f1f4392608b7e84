"""What monitors read: a model's predictions (with their late labels) as columns, and its reference.

Predictions keep their features as JSON; DuckDB extracts each configured feature (value and JSON
type, so type violations are visible) in the query, and labels are joined by `prediction_id` at read
time, so a label that arrives days late, or out of order, counts as soon as it is committed. The
last label of a prediction wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from vigil.store.base import Store

ColumnType = Literal["numerical", "categorical", "text", "embedding"]
NUMERIC_JSON_TYPES = frozenset({"BIGINT", "UBIGINT", "DOUBLE"})
OUTPUT_COLUMNS = ("label", "target", "prediction", "score")
"""Reference columns that are not features: truth, model output and positive-class probability."""
PROBA_PREFIX = "proba_"
"""Reference columns `proba_<class>` hold a multiclass model's probability of each class."""


def is_set(values: np.ndarray) -> np.ndarray:
    """Elementwise `value is not None` for object arrays (vectorized)."""
    result: np.ndarray = np.not_equal(values, cast(Any, None))
    return result


@dataclass(slots=True)
class Column:
    """One feature over a frame: raw text values and their JSON types (None when absent)."""

    text: np.ndarray
    json_type: np.ndarray

    def present(self) -> np.ndarray:
        present: np.ndarray = is_set(self.json_type) & (self.json_type != "NULL")
        return present

    def numeric(self) -> np.ndarray:
        """float64 values; NaN where missing or not a number."""
        ok = np.isin(self.json_type, list(NUMERIC_JSON_TYPES))
        out = np.full(self.text.size, np.nan)
        if ok.any():
            out[ok] = self.text[ok].astype(np.float64)
        return out


@dataclass(slots=True)
class Frame:
    """Rows of one model's predictions, oldest first."""

    ids: np.ndarray
    ts_us: np.ndarray
    prediction: np.ndarray
    score: np.ndarray
    label: np.ndarray
    """Label text (None while the label has not arrived)."""
    features: dict[str, Column] = field(default_factory=dict)
    extra_keys: np.ndarray | None = None
    """Per row, the number of feature keys not in the schema."""
    proba: np.ndarray | None = None
    """Per row and requested class, the logged `probabilities` value (NaN where absent)."""

    @property
    def size(self) -> int:
        return int(self.ts_us.size)

    def take(self, rows: np.ndarray) -> Frame:
        return Frame(
            self.ids[rows],
            self.ts_us[rows],
            self.prediction[rows],
            self.score[rows],
            self.label[rows],
            {k: Column(c.text[rows], c.json_type[rows]) for k, c in self.features.items()},
            None if self.extra_keys is None else self.extra_keys[rows],
            None if self.proba is None else self.proba[rows],
        )


def _path(name: str) -> str:
    """A JSON path for a key, quoted so any feature name works."""
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_frame(
    store: Store,
    model: str,
    features: Sequence[str],
    *,
    since: datetime | None = None,
    last: int | None = None,
    with_features: bool = True,
    classes: Sequence[str] = (),
) -> Frame:
    """Predictions of `model` since `since` (or the `last` N), labels joined, oldest first.

    `classes` asks for those keys of `probabilities` as `Frame.proba` (multiclass CBPE).
    """
    params: list[Any] = []
    cols = [
        "p.id",
        "epoch_us(p.ts)",
        "json_extract_string(p.prediction, '$')",
        "p.score",
        "json_extract_string(l.label, '$')",
    ]
    for name in classes:
        cols.append("TRY_CAST(json_extract_string(p.probabilities, ?) AS DOUBLE)")
        params.append(_path(name))
    if with_features:
        for name in features:
            cols.append("json_extract_string(p.features, ?)")
            cols.append("json_type(p.features, ?)")
            params += [_path(name), _path(name)]
        cols.append("len(json_keys(p.features))")
    where = ["p.model = ?"]
    params.append(model)
    if since is not None:
        where.append("p.ts >= ?")
        params.append(since.astimezone(UTC).replace(tzinfo=None) if since.tzinfo else since)
    limit = ""
    if last is not None:
        limit = f" ORDER BY p.ts DESC LIMIT {int(last)}"
    sql = (
        f"SELECT {', '.join(cols)} FROM predictions p LEFT JOIN ("
        "SELECT prediction_id, arg_max(label, ts) AS label FROM labels GROUP BY prediction_id"
        f") l ON l.prediction_id = p.id WHERE {' AND '.join(where)}{limit}"
    )
    if last is None:
        sql += " ORDER BY p.ts"
    rows = store.fetch(sql, params)
    if last is not None:
        rows.reverse()
    return _to_frame(rows, features if with_features else (), len(classes))


def _to_frame(rows: list[tuple[Any, ...]], features: Sequence[str], classes: int = 0) -> Frame:
    n = len(rows)
    first = 5 + classes
    width = first + 2 * len(features) + (1 if features else 0)
    table = np.empty((n, width), dtype=object)
    if n:
        table[:] = rows
    score = np.array([np.nan if v is None else v for v in table[:, 3]], dtype=np.float64)
    frame = Frame(
        ids=table[:, 0],
        ts_us=table[:, 1].astype(np.int64) if n else np.zeros(0, np.int64),
        prediction=table[:, 2],
        score=score,
        label=table[:, 4],
    )
    if classes:
        proba = table[:, 5:first]
        frame.proba = np.where(is_set(proba), proba, np.nan).astype(np.float64)
    for i, name in enumerate(features):
        frame.features[name] = Column(table[:, first + 2 * i], table[:, first + 1 + 2 * i])
    if features:
        keys = np.array([0 if v is None else v for v in table[:, -1]], dtype=np.int64)
        present = sum((c.present() for c in frame.features.values()), np.zeros(n, np.int64))
        frame.extra_keys = np.maximum(keys - present, 0)
    return frame


def infer_schema(store: Store, model: str, sample: int = 1000) -> dict[str, ColumnType]:
    """Feature kinds from recent predictions when the config names none: numbers are numerical."""
    rows = store.fetch(
        "SELECT k, json_type(features, '$.\"' || replace(k, '\"', '\\\"') || '\"') FROM ("
        "SELECT features, unnest(json_keys(features)) AS k FROM predictions WHERE model = ? "
        "ORDER BY ts DESC LIMIT ?)",
        [model, sample],
    )
    kinds: dict[str, set[str]] = {}
    for key, jtype in rows:
        kinds.setdefault(key, set()).add(str(jtype))
    return {
        k: "numerical" if t - {"NULL"} <= NUMERIC_JSON_TYPES and t - {"NULL"} else "categorical"
        for k, t in sorted(kinds.items())
    }


@dataclass(slots=True)
class Reference:
    """A model's reference dataset as numpy columns (features, and outputs when present)."""

    columns: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def get(self, name: str) -> np.ndarray | None:
        return self.columns.get(name)


_REFERENCE_CACHE: dict[tuple[str, float], Reference] = {}


def load_reference(path: str | None) -> Reference | None:
    """Read the reference CSV/Parquet at `path` (cached until the file changes).

    The only place that knows where references live: when the model registry stores uploaded
    references, this function reads from it instead.
    """
    if not path:
        return None
    file = Path(path)
    key = (str(file.resolve()), file.stat().st_mtime)
    cached = _REFERENCE_CACHE.get(key)
    if cached is not None:
        return cached
    if file.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        table = pq.read_table(file)
    else:
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(file)
    columns = {name: _column_array(table.column(name)) for name in table.column_names}
    ref = Reference(columns)
    _REFERENCE_CACHE.clear()
    _REFERENCE_CACHE[key] = ref
    return ref


def _column_array(chunked: Any) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_integer(chunked.type) or pa.types.is_floating(chunked.type):
        return np.asarray(chunked.cast(pa.float64()).to_numpy(zero_copy_only=False))
    if pa.types.is_boolean(chunked.type):
        return np.asarray(chunked.cast(pa.float64()).to_numpy(zero_copy_only=False))
    if pa.types.is_list(chunked.type) or pa.types.is_fixed_size_list(chunked.type):
        # Parquet embeddings: lists cannot be cast to text; keep one list (or None) per row.
        return np.fromiter(chunked.to_pylist(), dtype=object, count=len(chunked))
    values = chunked.cast(pa.string()).to_pylist()
    return np.array(values, dtype=object)


def numeric(values: np.ndarray) -> np.ndarray:
    """Any array (text or numbers) -> float64, NaN where not a number."""
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    ok = pc.match_substring_regex(text, r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
    cleaned = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    return np.asarray(pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False), np.float64)


def as_text(values: np.ndarray) -> np.ndarray:
    """Labels or categories as the text the store would hold (`1.0` read from CSV -> `1`)."""
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.round(values))
        out = values.astype(object)
        out[whole] = values[whole].astype(np.int64).astype(str).astype(object)
        out[~np.isfinite(values)] = None
        return out
    return values.astype(object)


def schema_of(features: Mapping[str, ColumnType], reference: Reference | None) -> dict[str, Any]:
    """Feature kinds from config, else from the reference's columns (numbers are numerical)."""
    if features:
        return dict(features)
    if reference is None:
        return {}
    return {
        name: "numerical" if col.dtype.kind == "f" else "categorical"
        for name, col in reference.columns.items()
        if name not in OUTPUT_COLUMNS and not name.startswith(PROBA_PREFIX)
    }


def reference_classes(reference: Reference | None) -> tuple[str, ...]:
    """The classes a reference gives probabilities for (`proba_<class>` columns), sorted."""
    if reference is None:
        return ()
    n = len(PROBA_PREFIX)
    return tuple(sorted(k[n:] for k in reference.columns if k.startswith(PROBA_PREFIX) and k[n:]))
