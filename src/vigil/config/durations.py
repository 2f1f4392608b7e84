"""Human durations (`50ms`, `15s`, `5m`, `1h`, `30d`, `2w`) as `datetime.timedelta`.

Config files say how long things last in the units people think in; code wants a `timedelta`.
`Duration` is an `Annotated` type so every model field that uses it parses, validates and prints
durations the same way, and the doc generator can recognise it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

DURATION_FORMAT = (
    "a number followed by ms, s, m, h, d or w (e.g. 50ms, 15s, 5m, 1h, 30d, 2w), "
    "or a plain number of seconds"
)

_UNITS: dict[str, timedelta] = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration(value: Any) -> timedelta:
    """Parse `value` (a duration string, a number of seconds or a timedelta) into a timedelta.

    Raises ValueError with the accepted format, which pydantic turns into a config problem.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        unit = _UNITS[match.group(2) or "s"]
        return _non_negative(float(match.group(1)) * unit, value)
    else:
        raise ValueError(f"invalid duration {value!r}: use {DURATION_FORMAT}")
    return _non_negative(timedelta(seconds=seconds), value)


def _non_negative(delta: timedelta, original: Any) -> timedelta:
    if delta < timedelta(0):
        raise ValueError(f"invalid duration {original!r}: must not be negative")
    return delta


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of `delta` (`30d`, `2w`, `50ms`); docs and dumps round-trip."""
    micros = round(delta.total_seconds() * 1_000_000)
    if micros == 0:
        return "0s"
    for suffix, unit in _UNITS.items():
        unit_micros = round(unit.total_seconds() * 1_000_000)
        if micros % unit_micros == 0:
            return f"{micros // unit_micros}{suffix}"
    return f"{micros / 1_000_000:g}s"


def at_least(minimum: timedelta) -> AfterValidator:
    """A validator rejecting durations shorter than `minimum` (e.g. retention below 1h)."""

    def check(delta: timedelta) -> timedelta:
        if delta < minimum:
            raise ValueError(f"must be at least {format_duration(minimum)}")
        return delta

    return AfterValidator(check)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _PATTERN.pattern, "examples": ["50ms", "30d"]}),
]
"""A `timedelta` written as `50ms`, `15s`, `5m`, `1h`, `30d`, `2w` or a number of seconds."""
