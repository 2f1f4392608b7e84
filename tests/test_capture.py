"""Body capture: off by default, per-model switch, size cap, streams kept as one completion."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from conftest import VigilProcess
from gateway_env import USER_KEY, gateway_config
from vigil.gateway.capture import StreamTranscript, clip
from vigil.sim import SimServer


def test_clip_never_splits_a_character() -> None:
    assert clip(b"hello", 10) == ("hello", False)
    text, cut = clip("é".encode() * 10, 5)  # 2 bytes each: 2.5 characters fit
    assert (text, cut) == ("éé", True)


def test_transcript_rebuilds_text_tool_calls_and_usage() -> None:
    def delta(index: int = 0, finish: str | None = None, **d: Any) -> dict[str, Any]:
        return {"id": "c1", "choices": [{"index": index, "delta": d, "finish_reason": finish}]}

    tool = {"name": "look", "arguments": '{"q"'}
    chunks = [
        {**delta(role="assistant", content="Hel"), "created": 1, "model": "m"},
        delta(content="lo"),
        delta(tool_calls=[{"index": 0, "id": "t1", "function": tool}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}]),
        delta(1, content="other choice"),
        delta(finish="tool_calls"),
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ]
    t = StreamTranscript(10_000)
    t.add([orjson.dumps(c) for c in chunks[:3]])
    t.add([orjson.dumps(c) for c in chunks[3:]] + [b"not json"])
    out = orjson.loads(t.render())
    assert out["id"] == "c1" and out["model"] == "m" and out["object"] == "chat.completion"
    (choice,) = out["choices"]
    assert choice["message"]["content"] == "Hello"
    assert choice["message"]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "look", "arguments": '{"q": 1}'}}
    ]
    assert choice["finish_reason"] == "tool_calls"
    assert out["usage"] == {"prompt_tokens": 3, "completion_tokens": 2}
    assert not t.truncated


def test_transcript_stops_at_its_budget() -> None:
    t = StreamTranscript(150)  # each chunk is 101 bytes: the second starts within budget
    chunk = orjson.dumps({"choices": [{"index": 0, "delta": {"content": "x" * 60}}]})
    t.add([chunk] * 5)
    assert t.truncated
    assert len(orjson.loads(t.render())["choices"][0]["message"]["content"]) == 120


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(profile="bench", seed=3) as server:
        yield server


@pytest.fixture(scope="module")
def gw(sim: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    config = gateway_config(sim, capture={"enabled": False, "max_bytes": 2048})
    config["models"]["gpt-4o-mini"]["capture"] = True
    config["models"]["claude"]["capture"] = True
    config["models"]["down-no-fallback"]["capture"] = True
    proc = VigilProcess(tmp_path_factory.mktemp("capture"), config)
    proc.start()
    yield proc
    proc.stop()


def _client(gw: VigilProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=USER_KEY, max_retries=0)


def _chat(
    gw: VigilProcess, request_id: str, content: str, model: str = "gpt-4o-mini", **extra: Any
) -> Any:
    """One chat call tagged with `request_id` (a stream when `stream=True` is passed)."""
    return _client(gw).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": content}],
        max_tokens=5,
        extra_headers={"x-request-id": request_id},
        **extra,
    )


def _captured(gw: VigilProcess, request_id: str) -> dict[str, Any]:
    """The stored call of `request_id`, read back through the admin API once flushed."""
    deadline = time.monotonic() + 5
    while True:
        page = httpx.get(gw.url + "/api/v1/calls", params={"limit": 100}, headers=gw.headers).json()
        for call in page["calls"]:
            detail = httpx.get(gw.url + f"/api/v1/calls/{call['id']}", headers=gw.headers).json()
            if detail["request_id"] == request_id:
                return detail
        assert time.monotonic() < deadline, f"call {request_id} never stored"
        time.sleep(0.1)


def test_non_stream_bodies_are_kept(gw: VigilProcess) -> None:
    _chat(gw, "cap-1", "remember this prompt")
    call = _captured(gw, "cap-1")
    assert json.loads(call["request_body"])["messages"][0]["content"] == "remember this prompt"
    answer = json.loads(call["response_body"])
    assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["content"]
    assert "capture_truncated" not in (call["metadata"] or {})


def test_models_without_capture_keep_nothing(gw: VigilProcess) -> None:
    _client(gw).embeddings.create(
        model="embed", input="not kept", extra_headers={"x-request-id": "cap-2"}
    )
    call = _captured(gw, "cap-2")
    assert call["request_body"] is None and call["response_body"] is None


def test_stream_is_kept_as_one_completion(gw: VigilProcess) -> None:
    stream = _chat(gw, "cap-3", "stream it", model="claude", stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    call = _captured(gw, "cap-3")
    answer = json.loads(call["response_body"])
    assert answer["choices"][0]["message"]["content"] == text
    assert answer["choices"][0]["finish_reason"]


def test_long_bodies_are_cut_and_marked(gw: VigilProcess) -> None:
    prompt = "long " * 800  # 4 kB, over max_bytes=2048
    _chat(gw, "cap-4", prompt)
    call = _captured(gw, "cap-4")
    assert len(call["request_body"].encode()) <= 2048
    assert call["metadata"]["capture_truncated"] == ["request"]


def test_errors_keep_the_request_and_the_error_sent(gw: VigilProcess) -> None:
    with pytest.raises(openai.APIStatusError):
        _chat(gw, "cap-5", "x", model="down-no-fallback")
    call = _captured(gw, "cap-5")
    assert call["status_code"] >= 500
    assert json.loads(call["request_body"])["model"] == "down-no-fallback"
    assert "error" in json.loads(call["response_body"])


def test_captured_secrets_are_masked_in_the_api(gw: VigilProcess) -> None:
    _client(gw).chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": "my key is sk-proj-abcdefghijklmnopqrstuvwxyz012345"}
        ],
        max_tokens=5,
        extra_headers={"x-request-id": "cap-6"},
    )
    call = _captured(gw, "cap-6")
    assert "abcdefghijklmnopqrstuvwxyz012345" not in call["request_body"]


def test_captured_streams_get_the_quality_facts_of_their_text(gw: VigilProcess) -> None:
    json_format = {"type": "json_object"}
    stream = _chat(gw, "cap-7", "answer in JSON", stream=True, response_format=json_format)
    for _ in stream:
        pass
    meta = _captured(gw, "cap-7")["metadata"]
    assert meta["json_requested"] is True
    assert meta["json_valid"] is False  # five tokens of simulated prose are not JSON
    assert meta["empty_response"] is False and meta["finish_reason"] == "length"
