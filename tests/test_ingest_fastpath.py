"""The msgspec fast path (`vigil.ingest.fastpath`) against the precise pydantic path it stands in
for: on any batch it takes, it must give the very records the precise path gives; any batch the
precise path would reject even one event of, it must hand back (None)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.api.errors import APIError
from vigil.ingest.fastpath import validate_batch
from vigil.ingest.parse import EVENT_TYPES, Valid, decode_items, validate
from vigil.records import CallRecord, Prediction

RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PRESENCE = ("id", "source", "cost_usd")

_ints = st.integers(-(2**64), 2**64) | st.integers(-5, 5) | st.sampled_from([2**63 - 1, -(2**63)])
_floats = st.floats(allow_nan=False, allow_infinity=False) | st.floats(-10, 10)
_texts = st.text(max_size=8) | st.sampled_from(["12", "1.5", "true", "", "null"])
_stamps = st.builds(
    lambda date, sep, time, frac, zone: f"{date}{sep}{time}{frac}{zone}",
    st.sampled_from(["2026-11-01", "0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29"]),
    st.sampled_from(["T", "t", " ", "_"]),
    st.sampled_from(["00:00:00", "23:59:59", "12:30", "24:00:00", "23:59:60", "1:2:3"]),
    st.sampled_from(["", ".5", ".123", ".123456", ".1234567", ".9999999", ".0000001", ",5"]),
    st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+05:30", "-12:00", "+23:59", "+24:00"]),
)
_json: Any = st.recursive(
    st.none() | st.booleans() | _ints | _floats | _texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=6,
)
_scalars = st.none() | st.booleans() | _ints | _floats | _texts


def _value(name: str, clean: bool) -> Any:
    """Values of the field's type (edge cases included); unless `clean`, sometimes anything."""
    typed: dict[str, Any] = {
        "ts": _stamps,
        "cost_usd": _floats,
        "duration_s": _floats,
        "ttft_s": _floats,
        "score": _floats,
        "value": _floats,
        "stream": st.booleans(),
    }
    if name in ("input_tokens", "output_tokens", "cached_input_tokens", "status_code", "retries"):
        strategy = _ints
    else:
        strategy = typed.get(name, _texts | st.none())
    if name in ("metadata", "features", "prediction", "probabilities", "label", "labels"):
        strategy = _json
    return strategy if clean else st.one_of(strategy, strategy, strategy, _scalars, _json)


@st.composite
def _event(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from([*EVENT_TYPES, "span", None]))
    record_type = EVENT_TYPES.get(kind, CallRecord)
    names = [f.name for f in dataclasses.fields(record_type)]
    chosen = draw(st.lists(st.sampled_from(names), max_size=8, unique=True))
    clean = draw(st.booleans())
    event = {name: draw(_value(name, clean)) for name in chosen}
    if draw(st.integers(0, 20)) == 0:
        event[draw(st.sampled_from(["schema_issues", "nope", "Model"]))] = draw(_scalars)
    if kind is not None:
        event["kind"] = kind
    return event


def _precise(body: bytes) -> tuple[Valid, list[dict[str, Any]]] | None:
    try:
        items, rejected = decode_items(body, "application/json")
    except APIError:
        return None
    good, invalid = validate(items, received=RECEIVED)
    return good, rejected + invalid


def _same(fast: Valid, precise: Valid) -> None:
    assert fast.indexes == precise.indexes
    assert fast.client_ids == precise.client_ids
    unpriced = [any(r is u for u in fast.unpriced) for r in fast.records]
    assert unpriced == [any(r is u for u in precise.unpriced) for r in precise.records]
    for record, expected, client_id in zip(
        fast.records, precise.records, fast.client_ids, strict=True
    ):
        assert type(record) is type(expected)
        if not client_id:  # both made up a random id
            assert isinstance(record.id, str) and len(record.id) == 32
            record = dataclasses.replace(record, id=expected.id)
        assert record == expected
        assert record.ts.utcoffset() == expected.ts.utcoffset()


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=st.lists(_event(), max_size=4))
def test_fast_path_agrees_with_the_precise_path(events: list[dict[str, Any]]) -> None:
    body = json.dumps(events).encode()  # orjson cannot write integers past 64 bits
    fast = validate_batch(body, RECEIVED)
    precise = _precise(body)
    if fast is None:
        return
    assert precise is not None
    good, rejected = precise
    assert rejected == []
    _same(fast, good)


def test_typical_batches_take_the_fast_path() -> None:
    events: list[dict[str, Any]] = [
        {"kind": "llm_call", "model": "gpt-4o", "input_tokens": 10, "ts": "2026-11-01T00:00:00Z"},
        {
            "kind": "llm_call",
            "id": "c1",
            "model": "m",
            "provider": "p",
            "cost_usd": 1,
            "ttft_s": None,
            "metadata": {"a": [1, 2.5, None], "big": 2**70},
            "ts": "2026-11-01T00:00:00.123456+02:00",
            "source": "sdk",
        },
        {"kind": "prediction", "model": "churn", "features": {"age": 3}, "schema_issues": "x"},
        {"kind": "label", "prediction_id": "p1", "label": 1},
        {"kind": "feedback", "call_id": "c1", "score": 0.5, "comment": "ok"},
        {"kind": "metric", "name": "ctr", "value": 0.1, "labels": {"page": "home"}},
    ]
    body = json.dumps(events).encode()
    fast = validate_batch(body, RECEIVED)
    assert fast is not None
    precise = _precise(body)
    assert precise is not None and precise[1] == []
    _same(fast, precise[0])
    prediction = fast.records[2]
    assert isinstance(prediction, Prediction) and prediction.schema_issues is None
    assert prediction.ts == RECEIVED  # no time given: the batch's arrival time
    assert fast.client_ids == [False, True, False, False, False, False]
    assert [r.id for r in fast.unpriced] == [fast.records[0].id]
    assert [getattr(r, "source", None) for r in fast.records[:2]] == ["ingest", "sdk"]


def test_doubtful_batches_go_to_the_precise_path() -> None:
    for events in (
        [{"kind": "llm_call", "input_tokens": "12"}],  # pydantic's lax mode takes it
        [{"kind": "llm_call", "ts": "2026-11-01T00:00:00.1234567Z"}],  # rounding differs
        [{"kind": "llm_call", "input_tokens": 2**64}],
        [{"kind": "llm_call", "nope": 1}],
        [{"kind": "span"}],
        [3],
    ):
        assert validate_batch(json.dumps(events).encode(), RECEIVED) is None, events
    assert validate_batch(b'{"events": []}', RECEIVED) is None
    assert validate_batch(b"[{", RECEIVED) is None
    assert validate_batch(b'[{"kind": "label", "label": "\\ud800"}]', RECEIVED) is None
