"""Prompt drift: captured prompts embedded through the gateway and tested for drift.

In process, with a fake embedding function whose vectors carry meaning (a bag of word vectors):
sampling, caching, batching, the drift verdict and every skip. Then a real `vigil serve` over the
simulated OpenAI provider, whose embeddings are also a bag of word vectors (texts sharing words lie
close): distinct prompts on one topic, then on another, are flagged; the result is computed through
the gateway, stored, exported, alertable, and skipped with its reason when the embedding model
fails.
"""

from __future__ import annotations

import base64
import re
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from conftest import VigilProcess
from gateway_env import USER_KEY, gateway_config
from vigil.config import check_config
from vigil.config.sections import MonitorsConfig
from vigil.monitors.prompts import (
    EMBED_BATCH,
    MAX_PROMPT_CHARS,
    Embedded,
    EmbeddingFailed,
    PromptEmbeddings,
    add_prompt_drift,
    last_user_text,
    parse_embeddings,
    sample_prompts,
    skip_reason,
)
from vigil.monitors.results import MonitorResult, MonitorRun, Outcome
from vigil.records import CallRecord
from vigil.sim import SimServer
from vigil.store.duckdb import DuckDBStore

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=1)

TOPICS = {
    "billing": "invoice refund charge payment card subscription plan price receipt tax",
    "hiking": "trail mountain summit boots tent weather river forest camp map",
    "python": "function error import list dict loop class module exception test",
}


def prompt(rng: np.random.Generator, topic: str) -> str:
    words = TOPICS[topic].split()
    return "Question about " + " ".join(rng.choice(words, size=6).tolist())


def chat(text: str) -> str:
    return orjson.dumps({"model": "bot", "messages": [{"role": "user", "content": text}]}).decode()


class FakeEmbedder:
    """Mean of per-word random vectors: prompts sharing words are close, as real embeddings of
    one topic are. Records each batch."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.batches: list[int] = []
        self.fail_after = fail_after

    async def __call__(self, texts: list[str]) -> Embedded:
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise EmbeddingFailed("embedding model 'embed': upstream_unavailable: down")
        self.batches.append(len(texts))
        rows = []
        for text in texts:
            words = re.findall(r"\w+", text.lower())
            vectors = [np.random.default_rng(zlib.crc32(w.encode())).normal(size=32) for w in words]
            rows.append(np.mean(vectors, axis=0))
        return Embedded(np.asarray(rows, np.float32), tokens=len(texts) * 10, cost_usd=1e-6)


def recent(model: str, body: str | None = None, **kw: Any) -> CallRecord:
    """A call one minute before NOW."""
    fields: dict[str, Any] = {"ts": NOW - timedelta(minutes=1), **kw}
    return CallRecord(model=model, request_body=body, **fields)


def write_calls(store: DuckDBStore, start: datetime, topic: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    step = WINDOW / n
    store.write(
        {
            CallRecord: [
                CallRecord(
                    id=f"{topic}-{seed}-{i}",  # fixed ids: the keyed-hash sample is the same
                    ts=start + i * step,  # every run, so the verdicts are too
                    model="bot",
                    request_body=chat(prompt(rng, topic)),
                )
                for i in range(n)
            ]
        }
    )


def monitors(**prompt_drift: Any) -> MonitorsConfig:
    settings = {"enabled": True, "embedding_model": "embed", "sample": 60, **prompt_drift}
    return MonitorsConfig.model_validate({"windows": 3, "prompt_drift": settings})


async def run(
    store: DuckDBStore,
    cfg: MonitorsConfig,
    embed: Any,
    cache: PromptEmbeddings | None = None,
    now: datetime = NOW,
) -> MonitorResult:
    outcome = Outcome(MonitorRun(model="bot", kind="llm"))
    cache = PromptEmbeddings() if cache is None else cache
    await add_prompt_drift(store, None, cfg, [outcome], now, cache, embed)
    (result,) = outcome.results
    assert (result.monitor, result.metric) == ("llm_quality", "prompt_drift")
    assert result.feature == "prompt"
    return result


def details(result: MonitorResult) -> dict[str, Any]:
    return dict(orjson.loads(result.details or "{}"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "v.duckdb")
    yield s
    s.close()


def baseline(store: DuckDBStore, topic: str = "billing") -> None:
    for k in range(3, 0, -1):
        write_calls(store, NOW - (k + 1) * WINDOW, topic, 80, seed=k)


# --- prompts and embeddings answers ----------------------------------------------------------


def test_last_user_text() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url"},
                                     {"type": "text", "text": "here"}]},
    ]  # fmt: skip
    assert last_user_text(orjson.dumps({"messages": messages}).decode()) == "look\nhere"
    assert last_user_text(chat("x" * (MAX_PROMPT_CHARS + 5))) == "x" * MAX_PROMPT_CHARS
    for body in (None, "", '{"messages": [{"role": "us', '{"input": "text"}', chat("  ")):
        assert last_user_text(body) is None


def test_parse_embeddings_reads_floats_and_base64_in_index_order() -> None:
    b64 = base64.b64encode(np.array([3, 4], "<f4").tobytes()).decode()
    body = {"data": [{"index": 1, "embedding": b64}, {"index": 0, "embedding": [1.0, 2.0]}]}
    assert parse_embeddings(orjson.dumps(body), 2).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(EmbeddingFailed, match="1 vectors for 2 inputs"):
        parse_embeddings(orjson.dumps({"data": [{"index": 0, "embedding": [1.0]}]}), 2)
    with pytest.raises(EmbeddingFailed, match="unreadable"):
        parse_embeddings(b'{"error": "x"}', 1)


def test_sample_is_seeded_and_skips_cut_and_textless_bodies(store: DuckDBStore) -> None:
    calls = [recent("bot", chat(f"q{i}"), ts=NOW - timedelta(minutes=i + 1)) for i in range(40)]
    cut = recent("bot", chat("cut"), metadata={"capture_truncated": ["request"]})
    embedding = recent("bot", '{"input": "e"}')
    store.write({CallRecord: [*calls, cut, embedding, recent("bot")]})
    start, end = (NOW - WINDOW).replace(tzinfo=None), NOW.replace(tzinfo=None)
    picked, captured = sample_prompts(store, "bot", start, end, 10)
    assert captured == 41  # the cut body and the uncaptured call are not candidates
    assert len(picked) == 10 and len({text for _, text in picked}) == 10
    assert picked == sample_prompts(store, "bot", start, end, 10)[0]  # the same sample every run
    everything, _ = sample_prompts(store, "bot", start, end, 100)
    assert sorted(text for _, text in everything) == sorted(f"q{i}" for i in range(40))
    assert set(picked) < set(everything)  # a larger sample contains the smaller one


# --- the drift verdict -----------------------------------------------------------------------


async def test_a_new_topic_is_flagged_and_the_same_topic_is_not(store: DuckDBStore) -> None:
    baseline(store)
    write_calls(store, NOW - WINDOW, "billing", 80, seed=9)
    same = await run(store, monitors(), FakeEmbedder())
    assert same.value is not None and not same.flagged
    assert (same.current_size, same.reference_size) == (60, 180)

    write_calls(store, NOW - WINDOW, "hiking", 400, seed=10)  # the window is now mostly hiking
    drifted = await run(store, monitors(), FakeEmbedder())
    assert drifted.flagged and drifted.value is not None and drifted.value > 0.8
    assert drifted.method == "embedding_classifier" and drifted.threshold is not None
    assert drifted.value > drifted.threshold
    d = details(drifted)
    assert d["embedding_model"] == "embed" and d["captured_calls"] == 480
    assert d["embedded"] == 240 and d["tokens"] == 2400 and d["dimensions"] == 32


async def test_embeddings_are_batched_cached_and_bounded(store: DuckDBStore) -> None:
    baseline(store)
    write_calls(store, NOW - WINDOW, "billing", 80, seed=9)
    cache, embed = PromptEmbeddings(), FakeEmbedder()
    cfg = monitors(sample=150)  # baseline: 3 x 150 asked, 240 there
    first = await run(store, cfg, embed, cache)
    assert embed.batches == [80, 100, 100, 40]  # window 80, then the baseline's 240 by 100
    assert details(first)["embedded"] == 320 and len(cache) == 320

    second = await run(store, cfg, embed, cache)
    assert details(second)["embedded"] == 0 and second.value == first.value

    later = NOW + WINDOW  # the window moved: the last window is baseline now, the oldest is gone
    write_calls(store, NOW, "billing", 50, seed=11)
    moved = await run(store, cfg, embed, cache, now=later)
    assert details(moved)["embedded"] == 50  # only the new window's prompts
    assert len(cache) == 50 + 240  # the dropped window's vectors are forgotten
    assert max(embed.batches) <= EMBED_BATCH


async def test_failures_give_a_skipped_result_with_the_reason(store: DuckDBStore) -> None:
    baseline(store)
    down = await run(store, monitors(models=["bot"]), FakeEmbedder(fail_after=0))
    assert down.value is None and not down.flagged  # no window prompts yet: min_rows first
    assert "0 captured prompts in the window, fewer than monitors.min_rows (30)" in (
        skip_reason(down) or ""
    )
    write_calls(store, NOW - WINDOW, "billing", 80, seed=9)
    cache = PromptEmbeddings()
    down = await run(store, monitors(), FakeEmbedder(fail_after=1), cache)
    assert skip_reason(down) == "embedding model 'embed': upstream_unavailable: down"
    assert details(down)["embedded"] == 60  # the batch that succeeded is paid for and kept
    assert len(cache) == 60

    async def broken(texts: list[str]) -> Embedded:
        raise RuntimeError("bug")

    crashed = await run(store, monitors(), broken)
    assert skip_reason(crashed) == "internal error: RuntimeError('bug')"
    outcome = Outcome(MonitorRun(model="bot", kind="llm"))
    await add_prompt_drift(store, None, monitors(), [outcome], NOW, PromptEmbeddings())
    assert skip_reason(outcome.results[0]) == "the gateway is not running"
    assert outcome.summary == {"prompt_drift_skipped": "the gateway is not running"}


async def test_which_models_are_watched(store: DuckDBStore) -> None:
    write_calls(store, NOW - WINDOW, "billing", 40, seed=1)
    store.write({CallRecord: [recent("embed", '{"input": "x"}'), recent("quiet")]})

    async def results(cfg: MonitorsConfig) -> dict[str, int]:
        outcomes = [Outcome(MonitorRun(model=m, kind="llm")) for m in ("bot", "embed", "quiet")]
        await add_prompt_drift(store, None, cfg, outcomes, NOW, PromptEmbeddings(), FakeEmbedder())
        return {o.run.model: len(o.results) for o in outcomes}

    # all models with captured prompts, except the embedding model itself
    assert await results(monitors()) == {"bot": 1, "embed": 0, "quiet": 0}
    assert await results(monitors(models=["quiet"])) == {"bot": 0, "embed": 0, "quiet": 1}
    assert await results(monitors(enabled=False)) == {"bot": 0, "embed": 0, "quiet": 0}


# --- config ----------------------------------------------------------------------------------

MODELS = """\
providers:
  sim: {type: openai, api_base: "http://127.0.0.1:9/v1"}
  claude-api: {type: anthropic, api_base: "http://127.0.0.1:9"}
models:
  bot: {deployments: [{provider: sim, model: gpt-4o-mini}]}
  embed: {deployments: [{provider: sim, model: text-embedding-3-small}]}
  claude: {deployments: [{provider: claude-api, model: claude-3-5-haiku-latest}]}
"""


def problems(tmp_path: Path, settings: str) -> dict[str, str]:
    path = tmp_path / "vigil.yaml"
    path.write_text(MODELS + "monitors:\n  prompt_drift: " + settings + "\n")
    return {p.path: p.message for p in check_config(path, env={})}


def test_config_defaults_and_valid_settings(tmp_path: Path) -> None:
    settings = MonitorsConfig().prompt_drift
    assert not settings.enabled and settings.embedding_model is None and settings.models == []
    assert settings.sample == 200 and settings.baseline == "previous"
    valid = "{enabled: true, embedding_model: embed, models: [bot, ingested-only], sample: 50}"
    assert problems(tmp_path, valid) == {}


@pytest.mark.parametrize(
    ("settings", "path", "message"),
    [
        ("{enabled: true}", "embedding_model", "required when monitors.prompt_drift.enabled"),
        ("{embedding_model: gpt-5}", "embedding_model",
         "unknown model 'gpt-5' (defined models: bot, claude, embed)"),
        ("{enabled: true, embedding_model: claude}", "embedding_model",
         "model 'claude' has only Anthropic deployments, which serve no embeddings"),
        ("{sample: 5}", "sample", "greater than or equal to 10"),
        ("{baseline: reference}", "baseline", "'previous'"),
        ("{model: bot}", "model", "unknown key 'model'"),
    ],
)  # fmt: skip
def test_config_problems_name_the_key(
    tmp_path: Path, settings: str, path: str, message: str
) -> None:
    found = problems(tmp_path, settings)
    assert list(found) == [f"monitors.prompt_drift.{path}"]
    assert message in found[f"monitors.prompt_drift.{path}"]


# --- a real server over the simulated provider ---------------------------------------------

E2E_WINDOW_S = 3.0
TOPIC_PROMPTS = 20
"""Distinct prompts per topic, drawn from `TOPICS` (no prompt repeats)."""


def server_config(sim: SimServer, embedding_model: str) -> dict[str, Any]:
    config = gateway_config(sim, capture={"enabled": False})
    models = config["models"]
    models["gpt-4o-mini"]["capture"] = True
    models["embed"]["price"] = {"input_per_mtok": 0.02, "output_per_mtok": 0.0}
    models["embed-down"] = {
        "deployments": [{"provider": "flaky", "model": "text-embedding-3-small"}],
        "retries": 0,
    }
    config["monitors"] = {
        "interval": "1h",
        "window": f"{E2E_WINDOW_S}s",
        "windows": 2,
        "min_rows": 10,
        "prompt_drift": {"enabled": True, "embedding_model": embedding_model, "sample": 50},
    }
    config["alerts"] = {
        "evaluation_interval": "200ms",
        "default_rules": False,
        "rules": [
            {
                "name": "PromptDrift",
                "signal": "llm_quality",
                "metric": "prompt_drift",
                "op": ">",
                "threshold": 0.7,
                "window": "1m",
                "severity": "warning",
            }
        ],
    }
    return config


def distinct(rng: np.random.Generator, topic: str) -> list[str]:
    prompts: set[str] = set()
    while len(prompts) < TOPIC_PROMPTS:
        prompts.add(prompt(rng, topic))
    return sorted(prompts)


def send(proc: VigilProcess, prompts: list[str], rounds: int) -> None:
    headers = {"authorization": f"Bearer {USER_KEY}"}
    with httpx.Client(base_url=proc.url, headers=headers, timeout=10) as client:
        for _ in range(rounds):
            for text in prompts:
                body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
                assert client.post("/v1/chat/completions", json=body).status_code == 200


def run_monitors(proc: VigilProcess) -> dict[str, Any]:
    ran = httpx.post(proc.url + "/api/v1/monitors/run", headers=proc.headers, timeout=60)
    assert ran.status_code == 200, ran.text
    got = httpx.get(proc.url + "/api/v1/monitors/gpt-4o-mini", headers=proc.headers,
                    params={"monitor": "llm_quality"}, timeout=10).json()  # fmt: skip
    (result,) = [r for r in got["monitors"]["llm_quality"] if r["metric"] == "prompt_drift"]
    return {"run": got["run"], "result": result}


def topic_change(proc: VigilProcess) -> dict[str, Any]:
    """Topic A, then (once it is in the baseline) topic B in the last window; run the monitors."""
    rng = np.random.default_rng(11)
    send(proc, distinct(rng, "billing"), 1)
    time.sleep(E2E_WINDOW_S + 0.2)
    started = time.monotonic()
    send(proc, distinct(rng, "hiking"), 1)
    assert time.monotonic() - started < E2E_WINDOW_S - 0.5, "too slow for the window"
    time.sleep(0.2)  # the gateway's telemetry is flushed every 50 ms
    return run_monitors(proc)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(profile="bench", seed=5) as server:
        yield server


@pytest.fixture
def serve(
    sim: SimServer, vigil_factory: Callable[..., VigilProcess]
) -> Callable[[str], VigilProcess]:
    return lambda embedding_model: vigil_factory(server_config(sim, embedding_model))


def metric(proc: VigilProcess, model: str) -> float | None:
    text = httpx.get(proc.url + "/metrics", timeout=10).text
    pattern = rf'vigil_llm_quality\{{model="{model}",signal="prompt_drift"\}} (\S+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else None


def test_prompt_drift_through_the_gateway(serve: Callable[[str], VigilProcess]) -> None:
    proc = serve("embed")
    found = topic_change(proc)
    result, run = found["result"], found["run"]
    assert run["status"] == "ok" and run["kind"] == "llm"
    assert result["value"] is not None and result["flagged"], result
    assert result["value"] > result["threshold"] and result["method"] == "embedding_classifier"
    assert (result["current_size"], result["reference_size"]) == (20, 20)
    d = result["details"]
    assert d["embedding_model"] == "embed" and d["tokens"] > 0
    assert d["embedded"] == 2 * TOPIC_PROMPTS  # each distinct prompt once
    assert d["cost_usd"] == pytest.approx(d["tokens"] * 0.02 / 1e6)
    assert run["summary"]["prompt_drift"] == result["value"]
    assert metric(proc, "gpt-4o-mini") == pytest.approx(result["value"])

    # the embedding calls are internal: no llm_calls rows, no request metrics for `embed`
    stats = httpx.get(proc.url + "/api/v1/stats", headers=proc.headers,
                      params={"since": "1h"}, timeout=10).json()  # fmt: skip
    assert "embed" not in orjson.dumps(stats).decode()
    assert 'vigil_requests_total{model="embed"' not in httpx.get(proc.url + "/metrics").text

    def firing() -> list[dict[str, Any]]:
        body = httpx.get(proc.url + "/api/v1/alerts", headers=proc.headers, timeout=10).json()
        return [a for a in body["alerts"] if a["state"] == "firing"]

    deadline = time.monotonic() + 10
    while not firing() and time.monotonic() < deadline:
        time.sleep(0.1)
    (alert,) = firing()
    assert alert["labels"]["alertname"] == "PromptDrift"
    assert alert["labels"]["model"] == "gpt-4o-mini" and alert["labels"]["metric"] == "prompt_drift"


def test_a_failing_embedding_model_skips_with_its_reason(
    serve: Callable[[str], VigilProcess],
) -> None:
    proc = serve("embed-down")
    found = topic_change(proc)
    result, run = found["result"], found["run"]
    assert run["status"] == "ok" and run["summary"]["calls"] == 20  # the other signals are there
    assert result["value"] is None and not result["flagged"]
    reason = result["details"]["skipped"]
    assert reason.startswith("embedding model 'embed-down': upstream_unavailable: "), reason
    assert run["summary"]["prompt_drift_skipped"] == reason
    assert metric(proc, "gpt-4o-mini") is None
