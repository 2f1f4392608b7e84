"""Whole-batch fast path: one msgspec pass decodes and validates a JSON array of events.

`parse.validate` runs pydantic over dicts that orjson built, which costs several microseconds of
Python per event. Here msgspec decodes the body straight into typed structs (one per event kind,
derived from the record dataclasses, unknown fields forbidden), in C. It only ever answers for
a batch it can take whole: any doubt (a decode or type error, a timestamp it would read
differently from pydantic) returns None, and the caller runs the precise per-event path, so
rejections and their reasons are exactly the ones that path gives.

The structs are stricter than pydantic's lax mode (no "12" for an int, no 1 for a bool, RFC 3339
timestamps only), never looser: whatever they accept, pydantic accepts with the same value.
Free-form JSON fields are kept as raw JSON and decoded by orjson, as the slow path does, so their
values (big integers, nesting limits) are orjson's.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
import orjson

from vigil.ingest.parse import EVENT_TYPES, SERVER_FIELDS, Valid
from vigil.records import JSON_COLUMNS, Record, new_ids

_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""Integers the store can hold; a larger one goes to the precise path (which rejects it)."""

_NULL = msgspec.Raw(b"null")
"""A free-form JSON field's default: absent reads like an explicit null (both are None)."""

_PRESENCE = ("id", "source", "cost_usd")
"""Fields whose absence the server acts on (a new id, `source = "ingest"`, a priced cost): the
structs leave them unset so the batch can tell, as the slow path's field dicts do."""


def _msgspec_type(name: str, hint: Any) -> Any:
    if name in JSON_COLUMNS or name in SERVER_FIELDS:
        return msgspec.Raw
    if name == "ts":
        return str  # checked, then converted in one call (see `validate_batch`)
    args = typing.get_args(hint)
    if hint is int or int in args:
        return _INT64 | None if type(None) in args else _INT64
    return hint


def _struct(record_type: type[Record]) -> type[msgspec.Struct]:
    hints = typing.get_type_hints(record_type)
    fields: list[tuple[str, Any, Any]] = []
    for f in dataclasses.fields(record_type):
        kind = _msgspec_type(f.name, hints[f.name])
        if f.name in _PRESENCE or f.name == "ts":
            fields.append((f.name, kind | msgspec.UnsetType, msgspec.UNSET))
        elif kind is msgspec.Raw:
            fields.append((f.name, kind, _NULL))
        else:
            fields.append((f.name, kind, f.default))
    names = {f[0] for f in fields}
    fields.extend((n, msgspec.Raw, _NULL) for n in sorted(SERVER_FIELDS - names))
    return msgspec.defstruct(
        f"{record_type.__name__}Event",
        fields,
        tag_field="kind",
        tag=record_type.KIND,
        forbid_unknown_fields=True,
        kw_only=True,
    )


_STRUCTS = {record_type: _struct(record_type) for record_type in EVENT_TYPES.values()}
_EVENT = typing.Union[tuple(_STRUCTS.values())]  # type: ignore[valid-type]  # noqa: UP007
_DECODER = msgspec.json.Decoder(list[_EVENT])  # type: ignore[valid-type]


@dataclass(frozen=True, slots=True)
class _Shape:
    """Where the fields the fast path fixes up stand in a record type's column order."""

    record_type: type[Record]
    count: int
    """The record's fields; the struct's extra server fields come after them."""
    id: int
    ts: int
    json: tuple[int, ...]
    server: tuple[int, ...]
    source: int | None
    cost: int | None


def _shape(record_type: type[Record]) -> _Shape:
    names = [f.name for f in dataclasses.fields(record_type)]
    return _Shape(
        record_type,
        len(names),
        names.index("id"),
        names.index("ts"),
        tuple(i for i, n in enumerate(names) if n in JSON_COLUMNS),
        tuple(i for i, n in enumerate(names) if n in SERVER_FIELDS),
        names.index("source") if "source" in names else None,
        names.index("cost_usd") if "cost_usd" in names else None,
    )


_SHAPES = {_STRUCTS[t]: _shape(t) for t in EVENT_TYPES.values()}
_LONG_FRACTION = re.compile(r"\.\d{7}")
"""More than 6 fractional digits of a second: msgspec rounds them, pydantic truncates."""


def validate_batch(body: bytes, received: datetime) -> Valid | None:
    """Every event of a JSON array as records, or None when any event needs the precise path."""
    try:
        structs: list[Any] = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    valid = Valid()
    types = set(map(type, structs))
    try:
        if len(types) == 1:
            if not _add(valid, _SHAPES[types.pop()], range(len(structs)), structs, received):
                return None
            return valid
        groups: dict[type, list[int]] = defaultdict(list)
        for index, struct in enumerate(structs):
            groups[type(struct)].append(index)
        for struct_type, indexes in groups.items():
            members = [structs[i] for i in indexes]
            if not _add(valid, _SHAPES[struct_type], indexes, members, received):
                return None
    except orjson.JSONDecodeError:
        return None
    order = sorted(range(len(valid.indexes)), key=valid.indexes.__getitem__)  # batch order
    valid.indexes = [valid.indexes[i] for i in order]
    valid.records = [valid.records[i] for i in order]
    valid.client_ids = [valid.client_ids[i] for i in order]
    return valid


def _add(
    valid: Valid, shape: _Shape, indexes: Iterable[int], structs: list[Any], received: datetime
) -> bool:
    """Structs of one kind as records, built column by column; False if one needs the slow path."""
    n = len(structs)
    unset = msgspec.UNSET
    cols: list[Any] = list(zip(*map(msgspec.structs.astuple, structs), strict=True))
    del cols[shape.count :]
    ids = cols[shape.id]
    client = [i is not unset for i in ids]
    if True not in client:
        cols[shape.id] = new_ids(n)
    elif False in client:
        cols[shape.id] = [i if i is not unset else f for i, f in zip(ids, new_ids(n), strict=True)]
    stamps = cols[shape.ts]
    if unset in stamps:
        times = _times([s for s in stamps if s is not unset])
        if times is None:
            return False
        given = iter(times)
        cols[shape.ts] = [received if s is unset else next(given) for s in stamps]
    else:
        times = _times(stamps)
        if times is None:
            return False
        cols[shape.ts] = times
    for j in shape.json:
        col = cols[j]
        # One orjson call for the column, nested as deep as the values were in the body (in an
        # event in the array), so orjson's depth limit falls where it did for the whole body.
        if col.count(_NULL) == n:
            cols[j] = [None] * n
        else:
            cols[j] = orjson.loads(b"[[" + b",".join(col) + b"]]")[0]
    for j in shape.server:
        cols[j] = [None] * n
    if shape.source is not None:
        col = cols[shape.source]
        if unset in col:
            cols[shape.source] = ["ingest" if v is unset else v for v in col]
    costs = cols[shape.cost] if shape.cost is not None else ()
    unpriced = unset in costs
    if unpriced:
        cols[shape.cost] = [0.0 if v is unset else v for v in costs]  # type: ignore[index]
    records: list[Any] = list(map(shape.record_type, *cols))
    if unpriced:
        valid.unpriced.extend(r for r, v in zip(records, costs, strict=True) if v is unset)
    valid.indexes.extend(indexes)
    valid.records.extend(records)
    valid.client_ids.extend(client)
    return True


def _times(stamps: Sequence[str]) -> list[datetime] | None:
    if _LONG_FRACTION.search("\n".join(stamps)):
        return None
    try:
        return msgspec.convert(stamps, list[datetime])
    except msgspec.ValidationError:
        return None
