"""The gateway's incremental SSE parser: frames split anywhere across network reads."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from vigil.gateway.providers.sse import SSEParser

STREAM = (
    b'event: message_start\ndata: {"a":1}\n\n'
    b": a comment\ndata: line one\ndata: line two\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [("message_start", b'{"a":1}'), (None, b"line one\nline two"), (None, b"[DONE]")]


def test_whole_stream() -> None:
    parser = SSEParser()
    assert parser.feed(STREAM) + parser.end() == EXPECTED


def test_crlf_line_endings() -> None:
    parser = SSEParser()
    assert parser.feed(STREAM.replace(b"\n", b"\r\n")) + parser.end() == EXPECTED


def test_unterminated_last_frame_is_kept() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: x\n\ndata: y") == [(None, b"x")]
    assert parser.end() == [(None, b"y")]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8), st.booleans())
def test_any_split_gives_the_same_events(cuts: list[int], crlf: bool) -> None:
    data = STREAM.replace(b"\n", b"\r\n") if crlf else STREAM
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    parser = SSEParser()
    events = []
    for start, end in itertools.pairwise(bounds):
        events += parser.feed(data[start:end])
    assert events + parser.end() == EXPECTED
