"""The simulated providers speak OpenAI and Anthropic wire formats, checked with real clients."""

# The SDKs' TypedDict parameters are stricter than these literal test payloads need to be.
# mypy: disable-error-code="arg-type, call-overload, index, union-attr"

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import numpy as np
import openai
import orjson
import pytest

from vigil.sim import SimServer, count_chat_tokens, count_tokens, load_profile
from vigil.sim.profiles import ModelProfile, Profile
from vigil.sim.tokens import generate_pieces, split_pieces

MESSAGES: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Explain observability in two sentences."},
]
ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    limited = ModelProfile.parse("limited-model", {"rpm": 3, "output_tokens": [5, 5]})
    profile = load_profile("bench")
    profile.models["limited-model"] = limited
    with SimServer(profile) as server:
        yield server


@pytest.fixture
def client(sim: SimServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0)


def _frames(body: bytes) -> list[bytes]:
    assert body.endswith(b"\n\n")
    return body[:-2].split(b"\n\n")


# -- tokens -------------------------------------------------------------------------------------


def test_token_approximation_is_stable_and_consistent() -> None:
    assert count_tokens("") == 0
    assert count_tokens("Hello, world!") == 4
    assert "".join(split_pieces("Observability, tokens: 12345!\n\n ok")) == (
        "Observability, tokens: 12345!\n\n ok"
    )
    assert count_chat_tokens([{"role": "user", "content": "hi"}]) == 3 + 3 + 1 + 1
    for seed in range(50):
        for n in (1, 7, 64):
            assert count_tokens("".join(generate_pieces(seed, n))) == n


# -- OpenAI -------------------------------------------------------------------------------------


def test_non_stream_and_stream_agree(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert full.object == "chat.completion"
    assert full.id.startswith("chatcmpl-")
    choice = full.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert full.usage is not None
    assert full.usage.completion_tokens == count_tokens(choice.message.content or "")
    assert full.usage.prompt_tokens == count_chat_tokens(MESSAGES)
    assert full.usage.total_tokens == full.usage.prompt_tokens + full.usage.completion_tokens
    assert full.usage.prompt_tokens_details is not None
    assert full.usage.prompt_tokens_details.cached_tokens == 0
    assert full.usage.completion_tokens_details is not None
    assert full.usage.completion_tokens_details.reasoning_tokens == 0

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert text == choice.message.content
    assert len(content_chunks) == full.usage.completion_tokens
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == full.usage


def test_max_tokens_gives_length(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=3)
    assert full.choices[0].finish_reason == "length"
    assert full.usage is not None and full.usage.completion_tokens == 3
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            max_completion_tokens=3,
            stream=True,
        )
    )
    assert [c.choices[0].finish_reason for c in chunks][-1] == "length"


def test_raw_sse_framing(sim: SimServer) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"authorization": "Bearer x", "x-sim-output-tokens": "2"}
    resp = httpx.post(sim.openai_base_url + "/chat/completions", json=body, headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["x-request-id"]
    frames = _frames(resp.content)
    assert all(f.startswith(b"data: ") and b"\n" not in f for f in frames)
    assert frames[-1] == b"data: [DONE]"
    chunks = [orjson.loads(f[6:]) for f in frames[:-1]]
    # role, two pieces, finish, usage
    assert len(chunks) == 5
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks[:4]] == [None, None, None, "stop"]
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["completion_tokens"] == 2
    assert all(c["usage"] is None for c in chunks[:4])


def test_tool_calls(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city", "days"],
                },
            },
        }
    ]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    full = client.chat.completions.create(
        model="gpt-4o",
        messages=messages,
        tools=tools,
        tool_choice="required",
    )
    call = full.choices[0].message.tool_calls[0]
    assert full.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert set(orjson.loads(call.function.arguments)) == {"city", "days"}
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=messages,
        tools=tools,
        tool_choice="required",
        stream=True,
    )
    arguments, finish = "", None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or ():
            arguments += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert arguments == call.function.arguments and finish == "tool_calls"


def test_embeddings_and_models(client: openai.OpenAI) -> None:
    first = client.embeddings.create(model="text-embedding-3-small", input=["a cat", "a dog"])
    assert len(first.data) == 2 and len(first.data[0].embedding) == 1536
    assert first.usage.prompt_tokens == 4
    small = client.embeddings.create(
        model="text-embedding-3-small", input="a cat", dimensions=8, encoding_format="float"
    )
    assert len(small.data[0].embedding) == 8
    again = client.embeddings.create(
        model="text-embedding-3-small", input="a cat", dimensions=8, encoding_format="float"
    )
    assert again.data[0].embedding == small.data[0].embedding
    assert abs(sum(x * x for x in small.data[0].embedding) - 1.0) < 1e-5
    texts = ["refund my last invoice", "refund my invoice please", "the weather in Paris today"]
    a, b, c = (np.array(d.embedding) for d in client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float").data)  # fmt: skip
    assert float(a @ b) > 0.5 > float(a @ c)  # shared words: close, as one topic's texts are
    ids = {m.id for m in client.models.list()}
    assert {"gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small"} <= ids
    assert not any(i.startswith("claude") for i in ids)


def test_openai_errors(sim: SimServer, client: openai.OpenAI) -> None:
    url = sim.openai_base_url + "/chat/completions"
    auth = {"authorization": "Bearer x"}
    cases = [
        (httpx.post(url, json={"model": "gpt-4o", "messages": MESSAGES}), 401),
        (httpx.post(url, content=b"{not json", headers=auth), 400),
        (httpx.post(url, json={"model": "gpt-4o"}, headers=auth), 400),
        (httpx.post(url, json={"messages": MESSAGES}, headers=auth), 400),
        (httpx.post(url, json={"model": "gpt-5-turbo", "messages": MESSAGES}, headers=auth), 404),
    ]
    for resp, status in cases:
        assert resp.status_code == status
        assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
        assert resp.headers["x-request-id"]
    assert cases[4][0].json()["error"]["code"] == "model_not_found"
    for fail, status in (("500", 500), ("503", 503)):
        resp = httpx.post(
            url,
            json={"model": "gpt-4o", "messages": MESSAGES},
            headers={**auth, "x-sim-fail": fail},
        )
        assert resp.status_code == status and resp.json()["error"]["type"] == "server_error"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=MESSAGES)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            extra_headers={"x-sim-fail": "503"},
        )


def test_injected_429(sim: SimServer, client: openai.OpenAI) -> None:
    resp = httpx.post(
        sim.openai_base_url + "/chat/completions",
        json={"model": "gpt-4o", "messages": MESSAGES},
        headers={"authorization": "Bearer x", "x-sim-fail": "429"},
    )
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"
    assert resp.headers["retry-after"] == "1" and resp.headers["retry-after-ms"] == "1000"
    assert resp.headers["x-ratelimit-remaining-requests"] == "0"
    assert resp.headers["x-ratelimit-reset-requests"] == "1s"
    for name in ("limit-requests", "limit-tokens", "remaining-tokens", "reset-tokens"):
        assert resp.headers[f"x-ratelimit-{name}"]
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            extra_headers={"x-sim-fail": "429"},
        )
    assert raised.value.response.headers["retry-after"] == "1"


def test_real_rpm_limit(sim: SimServer, client: openai.OpenAI) -> None:
    remaining = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(
            model="limited-model",
            messages=MESSAGES,
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [2, 1, 0]
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="limited-model", messages=MESSAGES)
    headers = raised.value.response.headers
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert 15_000 <= int(headers["retry-after-ms"]) <= 20_000  # 3/min: a token every 20 s
    assert headers["retry-after"] == "20"


def test_dropped_stream_raises_mid_iteration(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-sim-fail": "drop", "x-sim-output-tokens": "40", "x-sim-token-ms": "5"},
    )
    received = 0
    with pytest.raises(openai.APIConnectionError):
        for _ in stream:
            received += 1
    assert received >= 10


def test_midstream_error_frame(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-sim-fail": "midstream", "x-sim-output-tokens": "10"},
    )
    with pytest.raises(openai.APIError):
        list(stream)


def test_latency_slow_and_timeout_controls(sim: SimServer, client: openai.OpenAI) -> None:
    t0 = time.perf_counter()
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-sim-latency-ms": "250"},
    )
    next(iter(stream))
    assert time.perf_counter() - t0 >= 0.24
    list(stream)
    t0 = time.perf_counter()
    list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            extra_headers={"x-sim-fail": "slow", "x-sim-gap-ms": "200", "x-sim-output-tokens": "9"},
        )
    )
    assert time.perf_counter() - t0 >= 0.39  # two stalls
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            extra_headers={"x-sim-fail": "timeout"},
        )


# -- Anthropic ----------------------------------------------------------------------------------


def _sse_events(body: bytes) -> list[tuple[str, dict[str, object]]]:
    events = []
    for frame in _frames(body):
        event_line, data_line = frame.split(b"\n")
        assert event_line.startswith(b"event: ") and data_line.startswith(b"data: ")
        name = event_line[7:].decode()
        data = orjson.loads(data_line[6:])
        assert data["type"] == name
        events.append((name, data))
    return events


def test_anthropic_stream_sequence_and_usage(sim: SimServer) -> None:
    url = sim.anthropic_base_url + "/v1/messages"
    body = {"model": "claude-3-5-haiku-latest", "max_tokens": 200, "messages": MESSAGES[1:]}
    full = httpx.post(url, json=body, headers=ANTHROPIC_HEADERS)
    assert full.status_code == 200 and full.headers["request-id"].startswith("req_")
    message = full.json()
    assert message["id"].startswith("msg_") and message["type"] == "message"
    assert message["stop_reason"] == "end_turn" and message["stop_sequence"] is None
    assert message["content"][0]["type"] == "text"
    usage = message["usage"]
    assert set(usage) >= {
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    }
    streamed = httpx.post(url, json={**body, "stream": True}, headers=ANTHROPIC_HEADERS)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(streamed.content)
    names = [name for name, _ in events]
    deltas = names.count("content_block_delta")
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["usage"]["input_tokens"] == usage["input_tokens"]
    text = "".join(e["delta"]["text"] for n, e in events if n == "content_block_delta")
    assert text == message["content"][0]["text"]
    assert deltas == usage["output_tokens"]
    assert events[-2][1]["usage"] == {"output_tokens": usage["output_tokens"]}
    assert events[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}


def test_anthropic_tool_use_stream(sim: SimServer) -> None:
    body = {
        "model": "claude-3-5-sonnet-latest",
        "max_tokens": 200,
        "stream": True,
        "messages": [{"role": "user", "content": "What is the weather?"}],
        "tools": [
            {
                "name": "get_weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "tool_choice": {"type": "any"},
    }
    resp = httpx.post(sim.anthropic_base_url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    events = _sse_events(resp.content)
    assert events[1][1]["content_block"]["type"] == "tool_use"
    partial = "".join(e["delta"]["partial_json"] for n, e in events if n == "content_block_delta")
    assert set(orjson.loads(partial)) == {"city"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_anthropic_errors(sim: SimServer) -> None:
    url = sim.anthropic_base_url + "/v1/messages"
    ok = {"model": "claude-3-5-haiku-latest", "max_tokens": 10, "messages": MESSAGES[1:]}
    cases = [
        (httpx.post(url, json=ok, headers={"anthropic-version": "2023-06-01"}), 401),
        (httpx.post(url, json=ok, headers={"x-api-key": "k"}), 400),
        (httpx.post(url, json={**ok, "max_tokens": 0}, headers=ANTHROPIC_HEADERS), 400),
        (
            httpx.post(url, json={"model": "claude-x", "max_tokens": 5}, headers=ANTHROPIC_HEADERS),
            400,
        ),
        (httpx.post(url, json={**ok, "model": "claude-9"}, headers=ANTHROPIC_HEADERS), 404),
        (httpx.post(url, json=ok, headers={**ANTHROPIC_HEADERS, "x-sim-fail": "500"}), 500),
        (httpx.post(url, json=ok, headers={**ANTHROPIC_HEADERS, "x-sim-fail": "529"}), 529),
    ]
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        500: "api_error",
        529: "overloaded_error",
    }
    for resp, status in cases:
        assert resp.status_code == status, resp.text
        body = resp.json()
        assert body["type"] == "error" and body["error"]["type"] == kinds[status]
        assert isinstance(body["error"]["message"], str)
    limited = httpx.post(url, json=ok, headers={**ANTHROPIC_HEADERS, "x-sim-fail": "429"})
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert limited.headers["anthropic-ratelimit-requests-limit"]
    assert limited.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    broken = httpx.post(
        url,
        json={**ok, "stream": True},
        headers={**ANTHROPIC_HEADERS, "x-sim-fail": "midstream", "x-sim-output-tokens": "8"},
    )
    events = _sse_events(broken.content)
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )


def test_anthropic_sdk(sim: SimServer) -> None:
    """The official Anthropic SDK reads the simulator's messages, streams and 429s unchanged."""
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)
    message = client.messages.create(
        model="claude-3-5-sonnet-latest", max_tokens=50, messages=MESSAGES[1:]
    )
    with client.messages.stream(
        model="claude-3-5-sonnet-latest", max_tokens=50, messages=MESSAGES[1:]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == message.content[0].text
    assert final.usage.output_tokens == message.usage.output_tokens
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(
            model="claude-3-5-sonnet-latest",
            max_tokens=5,
            messages=MESSAGES[1:],
            extra_headers={"x-sim-fail": "429"},
        )


# -- profiles and server ------------------------------------------------------------------------


def test_profile_file_seed_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(
        "base: bench\nseed: 7\nmodels:\n"
        "  gpt-4o-mini: {error_rate: 0.5, ttft_ms: {median: 1, p95: 2}}\n"
        "  my-model: {provider: anthropic, price: {input: 1, output: 2}}\n"
    )
    profile = load_profile(path)
    assert profile.seed == 7 and profile.models["my-model"].provider == "anthropic"
    assert profile.models["gpt-4o-mini"].ttft.median_ms == 1
    assert profile.models["my-model"].price.cost(1_000_000, 1_000_000) == 3.0

    def statuses() -> list[int]:
        with SimServer(path) as server:
            url = server.openai_base_url + "/chat/completions"
            body = {"model": "gpt-4o-mini", "messages": MESSAGES}
            with httpx.Client(headers={"authorization": "Bearer x"}) as http:
                return [http.post(url, json=body).status_code for _ in range(30)]

    first = statuses()
    assert first == statuses()  # same seed, same faults
    assert 200 in first and {500, 503} & set(first)
    with pytest.raises(ValueError, match="colour"):
        ModelProfile.parse("x", {"colour": "red"})
    assert load_profile(Profile(name="mine"), seed=3).seed == 3


async def test_async_sim_server() -> None:
    async with SimServer("default", seed=1) as server:
        async with httpx.AsyncClient() as http:
            resp = await http.get(
                server.anthropic_base_url + "/v1/models", headers={"x-api-key": "k"}
            )
        assert {m["id"] for m in resp.json()["data"]} == {
            "claude-3-5-sonnet-latest",
            "claude-3-5-haiku-latest",
        }
