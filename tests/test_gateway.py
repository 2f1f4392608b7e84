"""The gateway through the official `openai` SDK, against a real `vigil serve` and simulators."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import openai
import pytest

from conftest import VigilProcess
from gateway_env import BROKE_KEY, LIMITED_KEY, MINI_ONLY_KEY, USER_KEY, gateway_config
from vigil.sim import SimServer


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(profile="bench", seed=1) as server:
        yield server


@pytest.fixture(scope="module")
def gw(sim: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    proc = VigilProcess(tmp_path_factory.mktemp("gw"), gateway_config(sim))
    proc.start()
    yield proc
    proc.stop()


def client(gw: VigilProcess, key: str = USER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def test_chat_non_stream(gw: VigilProcess) -> None:
    resp = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}], seed=7
    )
    assert resp.choices[0].message.content
    assert resp.usage is not None and resp.usage.prompt_tokens > 0


def test_chat_stream_usage_only_when_asked(gw: VigilProcess) -> None:
    c = client(gw)
    msgs = [{"role": "user", "content": "Stream a few words"}]
    chunks = list(c.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True))  # type: ignore[arg-type]
    assert all(ch.usage is None for ch in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    with_usage = list(
        c.chat.completions.create(
            model="gpt-4o-mini",
            messages=msgs,
            stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].usage is not None and with_usage[-1].choices == []
    plain = c.chat.completions.create(model="gpt-4o-mini", messages=msgs)  # type: ignore[arg-type]
    assert with_usage[-1].usage.completion_tokens == plain.usage.completion_tokens  # type: ignore[union-attr]
    assert text == plain.choices[0].message.content


async def test_async_client_stream_and_non_stream(gw: VigilProcess) -> None:
    c = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=USER_KEY, max_retries=0)
    msgs: Any = [{"role": "user", "content": "hi"}]
    results = await asyncio.gather(
        *(c.chat.completions.create(model="gpt-4o-mini", messages=msgs) for _ in range(10))
    )
    assert all(r.choices[0].message.content for r in results)
    stream = await c.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True)
    parts = [ch async for ch in stream]
    assert parts and parts[0].choices[0].delta.role == "assistant"
    await c.close()


def test_embeddings_and_models(gw: VigilProcess) -> None:
    c = client(gw)
    emb = c.embeddings.create(model="embed", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    ids = {m.id for m in c.models.list()}
    assert {"gpt-4o-mini", "claude", "embed"} <= ids
    assert {m.id for m in client(gw, MINI_ONLY_KEY).models.list()} == {"gpt-4o-mini"}


def test_pass_through_fields_reach_the_upstream(gw: VigilProcess) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    resp = client(gw).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    call = resp.choices[0].message.tool_calls
    assert call and call[0].function.name == "get_weather"  # type: ignore[union-attr]


def test_anthropic_translation_non_stream_and_stream(gw: VigilProcess) -> None:
    c = client(gw)
    msgs: Any = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Tell me something"},
    ]
    resp = c.chat.completions.create(model="claude", messages=msgs, max_tokens=50)
    assert resp.choices[0].message.content
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.usage is not None and resp.usage.completion_tokens > 0
    chunks = list(
        c.chat.completions.create(
            model="claude",
            messages=msgs,
            max_tokens=50,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == resp.usage.completion_tokens


def test_anthropic_streamed_tool_calls(gw: VigilProcess) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "required": ["q"],
                },
            },
        }
    ]
    chunks = list(
        client(gw).chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "look it up"}],
            tools=tools,
            tool_choice={"type": "function", "function": {"name": "lookup"}},
            stream=True,
        )
    )
    calls = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function is not None and calls[0].function.name == "lookup"
    args = "".join((tc.function.arguments or "") for tc in calls if tc.function)
    assert args.startswith("{")
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"


def test_errors_have_openai_shape(gw: VigilProcess) -> None:
    msgs: Any = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.AuthenticationError):
        client(gw, "vk-wrong").chat.completions.create(model="gpt-4o-mini", messages=msgs)
    with pytest.raises(openai.NotFoundError) as nf:
        client(gw).chat.completions.create(model="no-such-model", messages=msgs)
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError):
        client(gw, MINI_ONLY_KEY).chat.completions.create(model="claude", messages=msgs)
    with pytest.raises(openai.APIStatusError) as broke:
        client(gw, BROKE_KEY).chat.completions.create(model="gpt-4o-mini", messages=msgs)
    assert broke.value.status_code == 402 and broke.value.code == "budget_exceeded"
    url, auth = gw.url + "/v1/chat/completions", {"authorization": f"Bearer {USER_KEY}"}
    bad = httpx.post(url, content=b"{not json", headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    wrong = httpx.post(url, json={"model": "gpt-4o-mini", "messages": "hi"}, headers=auth)
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "messages"
    missing = httpx.post(url, json={"messages": []}, headers=auth)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
    huge = httpx.post(url, content=b"{" + b" " * (11 * 1024 * 1024) + b"}", headers=auth)
    assert huge.status_code == 413
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}


def test_retry_moves_to_a_healthy_deployment(gw: VigilProcess) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(
        model="flaky-then-good", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-vigil-deployment"] == "sim/gpt-4o-mini"


def test_fallback_to_another_model(gw: VigilProcess) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(
        model="always-down", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-vigil-deployment"] == "sim/gpt-4o-mini"
    assert raw.parse().choices[0].message.content


def test_upstream_failures_map_to_gateway_statuses(gw: VigilProcess) -> None:
    msgs: Any = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.RateLimitError) as rl:
        client(gw).chat.completions.create(model="upstream-429", messages=msgs)
    assert "retry-after" in rl.value.response.headers
    with pytest.raises(openai.APIStatusError) as down:
        client(gw).chat.completions.create(model="down-no-fallback", messages=msgs)
    assert down.value.status_code == 503
    # two failures put the only deployment to rest: the next request is refused at once
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as resting:
        client(gw).chat.completions.create(model="down-no-fallback", messages=msgs)
    assert resting.value.status_code == 503 and resting.value.code == "no_deployment_available"
    assert time.monotonic() - started < 0.5


def test_key_rpm_limit_answers_429_with_headers(gw: VigilProcess) -> None:
    c = client(gw, LIMITED_KEY)
    msgs: Any = [{"role": "user", "content": "x"}]
    ok = [
        c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=msgs)
        for _ in range(3)
    ]
    assert ok[0].headers["x-ratelimit-limit-requests"] == "3"
    assert ok[-1].headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="gpt-4o-mini", messages=msgs)
    headers = exc.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert exc.value.code == "rate_limit_exceeded"


def test_calls_are_recorded_with_cost_and_counted(gw: VigilProcess, sim: SimServer) -> None:
    client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "count me"}], user="u-42"
    )
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'vigil_requests_total{model="gpt-4o-mini",provider="sim",status_code="200"}' in metrics
    assert 'vigil_tokens_total{model="gpt-4o-mini",provider="sim",type="input"}' in metrics
    assert "vigil_rate_limited_total" in metrics
    time.sleep(0.3)  # one telemetry flush interval
    gw.stop()
    con = duckdb.connect(str(gw.store_path), read_only=True)
    rows = con.execute(
        "SELECT key_id, team, input_tokens, output_tokens, cost_usd FROM llm_calls "
        "WHERE \"user\" = 'u-42'"
    ).fetchall()
    con.close()
    gw.start()
    assert len(rows) == 1
    key, team, tin, tout, cost = rows[0]
    assert (key, team) == ("user", "search")
    assert cost == pytest.approx((tin * 1.0 + tout * 2.0) / 1e6)


def test_stream_cut_by_upstream_becomes_an_error_event(gw: VigilProcess) -> None:
    body = {"model": "drops", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    headers = {"authorization": f"Bearer {USER_KEY}"}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        events = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] != "data: [DONE]"
    assert '"upstream_stream_error"' in events[-1]
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'vigil_requests_total{model="drops",provider="dropper",status_code="502"}' in metrics


def test_client_disconnect_cancels_the_upstream(gw: VigilProcess) -> None:
    body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    headers = {"authorization": f"Bearer {USER_KEY}"}
    started = time.monotonic()
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, headers=headers) as r:
        for i, _ in enumerate(r.iter_lines()):
            if i >= 4:
                break  # leave after a few chunks of a 30-second stream
    deadline = time.monotonic() + 10
    series = 'vigil_requests_total{model="slow",provider="slow",status_code="499"}'
    while series not in httpx.get(gw.url + "/metrics").text:
        assert time.monotonic() < deadline, "the abandoned stream was never recorded"
        time.sleep(0.2)
    assert time.monotonic() - started < 12  # recorded long before the upstream would have ended


def test_canary_share_is_deterministic_per_request_id(gw: VigilProcess) -> None:
    c = client(gw)
    msgs: Any = [{"role": "user", "content": "x"}]
    sides = []
    for i in range(200):
        raw = c.chat.completions.with_raw_response.create(
            model="canary", messages=msgs, extra_headers={"x-request-id": f"req-{i}"}
        )
        sides.append(raw.headers["x-vigil-deployment"])
    share = sides.count("sim/gpt-4o") / len(sides)
    assert 0.03 <= share <= 0.2, share
    again = [
        c.chat.completions.with_raw_response.create(
            model="canary", messages=msgs, extra_headers={"x-request-id": f"req-{i}"}
        ).headers["x-vigil-deployment"]
        for i in range(20)
    ]
    assert again == sides[:20]
    by_user = {
        c.chat.completions.with_raw_response.create(
            model="canary-by-user", messages=msgs, user="alice"
        ).headers["x-vigil-deployment"]
        for _ in range(10)
    }
    assert len(by_user) == 1


def test_sighup_reload_keeps_in_flight_streams(gw: VigilProcess) -> None:
    body = {
        "model": "slow",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 20,
    }
    headers = {"authorization": f"Bearer {USER_KEY}"}
    lines: list[str] = []

    def read() -> None:
        with httpx.stream(
            "POST", gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30
        ) as r:
            lines.extend(line for line in r.iter_lines() if line)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)  # the stream is under way (20 tokens at 100 ms each)
    gw.signal(signal.SIGHUP)
    reader.join(30)
    assert lines and lines[-1] == "data: [DONE]"
    deadline = time.monotonic() + 5
    while "config reloaded" not in gw.logs():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_quality_facts_reach_the_call_record(gw: VigilProcess) -> None:
    c = client(gw)
    msgs: Any = [{"role": "user", "content": "answer in JSON"}]
    c.chat.completions.create(
        model="gpt-4o-mini",
        messages=msgs,
        user="quality-probe",
        response_format={"type": "json_object"},
        max_tokens=5,
    )
    time.sleep(0.3)
    gw.stop()
    con = duckdb.connect(str(gw.store_path), read_only=True)
    (meta,) = con.execute(
        "SELECT metadata FROM llm_calls WHERE \"user\" = 'quality-probe'"
    ).fetchone() or (None,)
    con.close()
    gw.start()
    facts = json.loads(meta)
    assert facts["finish_reason"] == "length" and facts["json_requested"] is True
    assert facts["json_valid"] is False  # five tokens of simulated prose are not JSON
    assert facts["empty_response"] is False and facts["refusal"] is False
