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
import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
import orjson

from vigil.ingest.parse import EVENT_TYPES, SERVER_FIELDS, Given, Validated
from vigil.records import JSON_COLUMNS, Record

_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""Integers the store can hold; a larger one goes to the precise path (which rejects it)."""

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
            fields.append((f.name, kind, msgspec.Raw()))
        else:
            fields.append((f.name, kind, f.default))
    names = {f[0] for f in fields}
    fields.extend((n, msgspec.Raw, msgspec.Raw()) for n in sorted(SERVER_FIELDS - names))
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


def _default(f: dataclasses.Field[Any]) -> Callable[[], Any]:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory
    return lambda: f.default


def _converter(record_type: type[Record]) -> Callable[[Any], tuple[Record, Given]]:
    """struct -> (record, names of the presence-sensitive fields the event carried)."""
    fields = dataclasses.fields(record_type)
    count = len(fields)
    json_fields = [f.name for f in fields if f.name in JSON_COLUMNS]
    server = [f.name for f in fields if f.name in SERVER_FIELDS]
    presence = [(f.name, _default(f)) for f in fields if f.name in _PRESENCE]
    given: dict[tuple[bool, ...], frozenset[str]] = {}
    unset = msgspec.UNSET
    astuple = msgspec.structs.astuple
    loads = orjson.loads

    def convert(struct: Any) -> tuple[Record, Given]:
        record: Any = record_type(*astuple(struct)[:count])
        for name in json_fields:
            raw = getattr(record, name)
            setattr(record, name, loads(bytes(raw)) if raw else None)
        for name in server:
            setattr(record, name, None)
        flags = []
        for name, default in presence:
            there = getattr(record, name) is not unset
            if not there:
                setattr(record, name, default())
            flags.append(there)
        key = tuple(flags)
        names = given.get(key)
        if names is None:
            names = given[key] = frozenset(n for (n, _), t in zip(presence, key, strict=True) if t)
        return record, names

    return convert


_CONVERT = {_STRUCTS[t]: _converter(t) for t in EVENT_TYPES.values()}


def _long_fraction(stamp: str) -> bool:
    """More than 6 fractional digits: msgspec rounds them, pydantic truncates."""
    return len(stamp) > 26 and stamp[19] == "." and stamp[26].isdigit()


def validate_batch(body: bytes, received: datetime) -> Validated | None:
    """Every event of a JSON array as records, or None when any event needs the precise path."""
    try:
        structs: Sequence[Any] = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    good: Validated = []
    stamps: list[str] = []
    stamped: list[Any] = []
    unset = msgspec.UNSET
    try:
        for index, struct in enumerate(structs):
            record, given = _CONVERT[type(struct)](struct)
            good.append((index, given, record))
            ts: Any = record.ts
            if ts is unset:
                record.ts = received
            elif _long_fraction(ts):
                return None
            else:
                stamps.append(ts)
                stamped.append(record)
    except orjson.JSONDecodeError:
        return None
    try:
        times = msgspec.convert(stamps, list[datetime])
    except msgspec.ValidationError:
        return None
    for record, ts in zip(stamped, times, strict=True):
        record.ts = ts
    return good


__all__ = ["validate_batch"]
