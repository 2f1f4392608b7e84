"""Records to Arrow tables: the columnar hand-off every backend inserts from.

Building columns with C-level `map(attrgetter)` and typed `pa.array` is what keeps the pipeline near
the speed of a plain Arrow insert (see bench/pipeline.py); free-form JSON fields become JSON text.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

import orjson
import pyarrow as pa

from vigil.records import JSON_COLUMNS, Record, columns

_SCALAR_TYPES: dict[Any, Any] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    # Naive UTC: aware datetimes are converted to UTC by Arrow, twice as fast as a tz-typed column,
    # and the store's columns are UTC `TIMESTAMP`s anyway.
    datetime: pa.timestamp("us"),
}

CHUNK = 4096
"""Records converted per pass: small enough that each column pass stays in the CPU cache."""


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _arrow_type(name: str, hint: Any) -> Any:
    if name in JSON_COLUMNS:
        return pa.string()
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    try:
        return _SCALAR_TYPES[base]
    except KeyError:
        raise TypeError(f"no Arrow type for field {name}: {hint!r}") from None


_Getters = tuple[tuple[str, Callable[[Any], Any], bool], ...]
_SCHEMAS: dict[str, Any] = {}
_GETTERS: dict[str, _Getters] = {}


def arrow_schema(record_type: type[Record]) -> Any:
    """The Arrow schema of a record type, derived once from its dataclass fields."""
    schema = _SCHEMAS.get(record_type.TABLE)
    if schema is None:
        hints = typing.get_type_hints(record_type)
        schema = pa.schema([(n, _arrow_type(n, hints[n])) for n in columns(record_type)])
        _SCHEMAS[record_type.TABLE] = schema
    return schema


def _getters(record_type: type[Record]) -> _Getters:
    getters = _GETTERS.get(record_type.TABLE)
    if getters is None:
        getters = tuple((n, attrgetter(n), n in JSON_COLUMNS) for n in columns(record_type))
        _GETTERS[record_type.TABLE] = getters
    return getters


def to_arrow(record_type: type[Record], records: Sequence[Record]) -> Any:
    """One Arrow table holding `records` (all of `record_type`), in store column order."""
    if len(records) <= CHUNK:
        return _chunk_to_arrow(record_type, records)
    chunks = [
        _chunk_to_arrow(record_type, records[i : i + CHUNK]) for i in range(0, len(records), CHUNK)
    ]
    return pa.concat_tables(chunks)


def _chunk_to_arrow(record_type: type[Record], records: Sequence[Record]) -> Any:
    schema = arrow_schema(record_type)
    arrays = []
    for (_name, getter, is_json), fld in zip(_getters(record_type), schema, strict=True):
        values = list(map(getter, records))
        if is_json:
            values = list(map(_json_text, values))
        arrays.append(pa.array(values, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)
