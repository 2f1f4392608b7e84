"""Records to Arrow (`vigil.store.arrow`), the batcher's share of every ingested event: the faster
column builders must give exactly the table Arrow's own conversion of the values gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from vigil.records import CallRecord, Prediction
from vigil.store.arrow import _timestamps, to_arrow

_zones = st.one_of(
    st.none(),
    st.just(UTC),
    st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60, 23 * 60)),
    st.builds(lambda s: timezone(timedelta(seconds=s)), st.integers(-86399, 86399)),
    st.sampled_from([ZoneInfo("Europe/Paris"), ZoneInfo("America/St_Johns")]),
)
_stamps = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    _zones,
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_stamps | st.none(), min_size=1, max_size=6))
def test_timestamps_as_arrow_reads_datetimes(values: list[datetime | None]) -> None:
    assert _timestamps(values).equals(pa.array(values, type=pa.timestamp("us")))


def test_pydantic_and_msgspec_times_and_json_columns() -> None:
    pydantic_time = TypeAdapter(datetime).validate_python("2026-11-01T00:00:00.5+01:00")
    assert pydantic_time.tzinfo is not None and type(pydantic_time.tzinfo) is not timezone
    calls = [
        CallRecord(ts=pydantic_time, metadata={"a": [1, None], 3: "int key"}),
        CallRecord(ts=datetime(2026, 11, 1, tzinfo=UTC), metadata=None),
    ]
    table = to_arrow(CallRecord, calls)
    assert table.column("ts").to_pylist() == [
        datetime(2026, 10, 31, 23, 0, 0, 500000),
        datetime(2026, 11, 1),
    ]
    assert table.column("metadata").to_pylist() == ['{"a":[1,null],"3":"int key"}', None]
    predictions: list[Any] = [Prediction(features={"x": 1.5}, probabilities=[0.25, 0.75])]
    row = to_arrow(Prediction, predictions).to_pylist()[0]
    assert orjson.loads(row["features"]) == {"x": 1.5} and row["probabilities"] == "[0.25,0.75]"
    assert to_arrow(Prediction, []).num_rows == 0
