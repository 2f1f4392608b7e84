"""Records to Arrow tables: the columnar hand-off every backend inserts from.

Columns are built without a Python call per value: one C-level `attrgetter` reads each record's
fields as a row, `zip` turns rows into columns and a typed `pa.array` takes each column, which
keeps the pipeline near the speed of a plain Arrow insert (see bench/pipeline.py). Free-form JSON
fields become JSON text. Timestamps go through their RFC 3339 text (msgspec writes it, Arrow
parses it), about a third of the time Arrow takes to read datetime objects' time zones.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any

import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc

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


def _json_texts(values: Sequence[Any]) -> Sequence[str | None]:
    """JSON text of each non-null value (as str: keeping orjson's bytes alive is slower)."""
    if values.count(None) == len(values):
        return values
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    return [None if v is None else dumps(v, option=option).decode() for v in values]


_UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
_TIMESTAMP = pa.timestamp("us")
_MINUTE = timedelta(minutes=1)
_TIMESTAMP_TEXT = msgspec.json.Encoder()
_TEXTS = msgspec.json.Decoder(list[str | None])


def _timestamps(values: Sequence[datetime | None]) -> Any:
    """A naive-UTC timestamp column, as `pa.array(values, type=timestamp("us"))` makes it."""
    zones = set(map(_TZINFO, filter(None, values)))
    # RFC 3339 text has no naive form Arrow reads as UTC, and rounds offsets to whole minutes:
    # other columns take Arrow's own (slower) path.
    if all(type(z) is timezone and not z.utcoffset(None) % _MINUTE for z in zones):
        texts = _TEXTS.decode(_TIMESTAMP_TEXT.encode(values))
        return pc.cast(pa.array(texts, pa.string()), _UTC_TIMESTAMP).cast(_TIMESTAMP)
    return pa.array(values, type=_TIMESTAMP)


_TZINFO = attrgetter("tzinfo")


def _arrow_type(name: str, hint: Any) -> Any:
    if name in JSON_COLUMNS:
        return pa.string()
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    try:
        return _SCALAR_TYPES[base]
    except KeyError:
        raise TypeError(f"no Arrow type for field {name}: {hint!r}") from None


_SCHEMAS: dict[str, Any] = {}
_ROWS: dict[str, Callable[[Any], tuple[Any, ...]]] = {}


def arrow_schema(record_type: type[Record]) -> Any:
    """The Arrow schema of a record type, derived once from its dataclass fields."""
    schema = _SCHEMAS.get(record_type.TABLE)
    if schema is None:
        hints = typing.get_type_hints(record_type)
        schema = pa.schema([(n, _arrow_type(n, hints[n])) for n in columns(record_type)])
        _SCHEMAS[record_type.TABLE] = schema
    return schema


def _rows(record_type: type[Record]) -> Callable[[Any], tuple[Any, ...]]:
    """A record's fields as a tuple, in column order."""
    row = _ROWS.get(record_type.TABLE)
    if row is None:
        row = _ROWS[record_type.TABLE] = attrgetter(*columns(record_type))
    return row


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
    if not records:
        return schema.empty_table()
    arrays = []
    rows = map(_rows(record_type), records)
    for values, fld in zip(zip(*rows, strict=True), schema, strict=True):
        if fld.name in JSON_COLUMNS:
            arrays.append(pa.array(_json_texts(values), type=fld.type))
        elif fld.type == _TIMESTAMP:
            arrays.append(_timestamps(values))
        else:
            arrays.append(pa.array(values, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)
