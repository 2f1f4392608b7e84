"""Synthetic probes: a small chat request per probe, on its own schedule, through the gateway.

A probe calls the in-process `Gateway` (admission, `complete`) with an internal identity rather
than a virtual key over HTTP: it exercises what breaks in practice (routing, the model's rate
limits, retries, fallbacks, cooldowns and the real upstream) with no key to create, store, rotate
or leak. It does not exercise Vigil's HTTP layer (auth, body parsing, SSE framing), which
`/healthz` and user traffic cover.

Probe calls are not user traffic: they are not written to `llm_calls` nor counted in
`vigil_requests_total`, tokens, cost, budgets or `/api/v1/stats`, so error ratios, latency SLOs
and spend stay about users. What describes the upstream whoever asked does see them:
`vigil_upstream_errors_total`, `vigil_retries_total`, `vigil_fallbacks_total`,
`vigil_rate_limited_total` and the router's cooldown of failing deployments.

Each run sets the `vigil_probe_*` metrics and is stored as a monitor run of kind `probe`
(`vigil.monitors.results.PROBE_RUN_PREFIX` says how), which the `probe_success` and
`probe_latency` alert signals read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import orjson

from vigil.config.durations import format_duration
from vigil.config.sections import ProbeConfig
from vigil.gateway.errors import GatewayError
from vigil.gateway.keys import VirtualKey
from vigil.gateway.providers import ChatStream, Completion, TokenUsage, UpstreamError
from vigil.gateway.router import Deployment
from vigil.gateway.routes import estimate_prompt_tokens
from vigil.gateway.service import Attempted, CallContext, Gateway
from vigil.metrics import VigilMetrics
from vigil.monitors.results import PROBE_RUN_PREFIX, MonitorResult, MonitorRun, Outcome, persist
from vigil.pipeline import PipelineClosed
from vigil.records import new_id

if TYPE_CHECKING:
    from vigil.app import VigilState

log = logging.getLogger("vigil.probes")

PROBE_KEY = VirtualKey(
    id="vigil-probe", alias="vigil-probe", key_hash="", key_prefix="", source="probe"
)
"""The probes' identity: no key limits or budget of its own (the model's limits still apply),
every model allowed. It is not in the key ring, so no client can authenticate as it."""

RECONCILE_S = 1.0
"""How often the running probes are compared with the config (a reload applies within this)."""

REPLY_EXCERPT = 200
"""Characters of the answer kept with a run, to see why an `expect` failed."""

_GATEWAY_CODES = frozenset(
    {
        "model_not_found",
        "rate_limit_exceeded",
        "no_deployment_available",
        "upstream_error",
        "upstream_rate_limited",
        "upstream_timeout",
        "upstream_unavailable",
    }
)
"""Gateway error codes kept as a probe's error type; others (an upstream's own code) become the
error's type, so the `result` label stays a short list."""


@dataclass(slots=True)
class ProbeResult:
    """One run's outcome; `error_type` is set when `ok` is false."""

    ok: bool
    duration_s: float
    ttft_s: float | None = None
    error_type: str | None = None
    error: str | None = None
    deployment: str | None = None
    """`provider/upstream-model` that answered."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    reply: str = ""


_Opened = tuple[ChatStream, AsyncIterator[list[bytes]], str]
"""A stream whose first chunk arrived: the stream, its remaining chunks, the first chunk's text."""


def _delta_text(chunk: bytes) -> str:
    """The text of one `chat.completion.chunk` payload ("" for usage and role chunks)."""
    try:
        content = orjson.loads(chunk)["choices"][0]["delta"].get("content")
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return ""
    return content if isinstance(content, str) else ""


async def _attempt(
    gateway: Gateway, ctx: CallContext, body: dict[str, Any], tokens: int
) -> Attempted:
    """`Gateway.complete` with the provider call a client's request would make: a `Completion`,
    or for a stream an `_Opened` (its first chunk is awaited inside the attempt, as for clients,
    so an empty stream is retried)."""
    if not ctx.stream:

        async def chat(d: Deployment) -> Completion:
            return await d.provider.chat(body, d.upstream_model)

        return await gateway.complete(ctx, tokens, chat)

    async def open_stream(d: Deployment) -> _Opened:
        stream = await d.provider.chat_stream(body, d.upstream_model, False)
        chunks = stream.chunks()
        first: list[bytes] | None = None
        try:
            first = await anext(chunks, None)
        finally:
            if first is None:  # empty, broken or cancelled before its first chunk
                await stream.aclose()
        if first is None:
            raise UpstreamError(502, "upstream stream was empty", "stream_cut")
        return stream, chunks, "".join(map(_delta_text, first))

    return await gateway.complete(ctx, tokens, open_stream)


async def _read(attempted: Attempted, deadline: float) -> tuple[str, TokenUsage]:
    """The answer's text and usage; a stream is read to its end, before `deadline`."""
    if isinstance(attempted.result, Completion):
        content = (attempted.result.message or {}).get("content")
        return content if isinstance(content, str) else "", attempted.result.usage
    opened: _Opened = attempted.result
    stream, chunks, text = opened
    try:
        async with asyncio.timeout_at(deadline):
            async for batch in chunks:
                text += "".join(map(_delta_text, batch))
    finally:
        await stream.aclose()
    return text, stream.usage or TokenUsage()


def _timed_out(result: ProbeResult, probe: ProbeConfig) -> None:
    result.ok, result.error_type = False, "timeout"
    result.error = f"no complete answer within {format_duration(probe.timeout)}"


def _gateway_error_type(exc: GatewayError) -> str:
    return exc.code if exc.code in _GATEWAY_CODES else exc.type


@dataclass(slots=True)
class InternalCall:
    """A call being made by Vigil itself (`internal_call`): its context, and the tokens it used,
    which the caller sets once known so that the model's token limit is settled on them."""

    ctx: CallContext
    used: int = 0


@contextlib.asynccontextmanager
async def internal_call(
    gateway: Gateway, key: VirtualKey, model: str, tokens: int, *, stream: bool = False
) -> AsyncIterator[InternalCall]:
    """Admit a call Vigil makes itself (probes, the prompt-drift monitor's embeddings) through the
    in-process gateway under the internal identity `key`, and settle its tokens on exit.

    Inside, the caller runs `gateway.complete(call.ctx, tokens, ...)` with the provider call a
    client's request would make. Nothing is recorded: internal calls stay out of `llm_calls` and
    the request metrics, and the caller decides what the outcome becomes. Raises `GatewayError`
    (unknown model, the model's rate limit) like a client's request would get.
    """
    ctx = CallContext(key=key, model=model, request_id=new_id(), user=None, stream=stream)
    call = InternalCall(ctx)
    try:
        await gateway.admit(ctx, gateway.route_for(model, key), tokens)
        yield call
    finally:
        await gateway.settle(ctx, call.used)


async def _call(gateway: Gateway, probe: ProbeConfig, deadline: float) -> ProbeResult:
    """One request through the gateway; every failure becomes a result, never an exception."""
    body: dict[str, Any] = {
        "model": probe.model,
        "messages": [{"role": "user", "content": probe.prompt}],
        "max_tokens": probe.max_tokens,
    }
    tokens = estimate_prompt_tokens(body)
    result = ProbeResult(ok=False, duration_s=0.0)
    started = time.perf_counter()
    try:
        async with internal_call(
            gateway, PROBE_KEY, probe.model, tokens, stream=probe.stream
        ) as call:
            attempted = await _attempt(gateway, call.ctx, body, tokens)
            served = attempted.deployment
            result.deployment = f"{served.provider_name}/{served.upstream_model}"
            if probe.stream:
                result.ttft_s = time.perf_counter() - started
            text, usage = await _read(attempted, deadline)
            call.used = usage.input + usage.output
        result.input_tokens, result.output_tokens = usage.input, usage.output
        result.cost_usd = gateway.prices.cost(
            attempted.model, served.upstream_model, usage.input, usage.output, usage.cached_input
        )
        result.reply = text[:REPLY_EXCERPT]
        if probe.expect is not None and re.search(probe.expect, text) is None:
            result.error_type = "unexpected_reply"
            result.error = f"the answer does not match {probe.expect!r}"
        else:
            result.ok = True
    except GatewayError as exc:
        result.error_type, result.error = _gateway_error_type(exc), exc.message
    except UpstreamError as exc:  # the stream broke after its first chunk
        result.error_type, result.error = "stream_error", exc.message
    except TimeoutError:  # the stream did not end before the deadline
        _timed_out(result, probe)
    except Exception as exc:
        log.exception("probe failed unexpectedly", extra={"probe": probe.name})
        result.error_type, result.error = "internal_error", repr(exc)
    finally:
        result.duration_s = time.perf_counter() - started
    return result


async def run_probe(gateway: Gateway, probe: ProbeConfig) -> ProbeResult:
    """One run of `probe`, its outcome known within `probe.timeout`.

    At the timeout the attempt in flight is not cancelled: cancelling `Gateway.complete` between
    the start and the outcome of an attempt would leave a resting deployment's half-open trial
    marked in flight for good. It ends within the provider's own timeouts, and the run returns
    only then, so the next run of the probe never overlaps it. A cancelled run (shutdown, or a
    reload changing the probe, which rebuilds the router anyway) cancels its call.
    """
    loop = asyncio.get_running_loop()
    timeout = probe.timeout.total_seconds()
    call = asyncio.ensure_future(_call(gateway, probe, loop.time() + timeout))
    try:
        try:
            result = await asyncio.wait_for(asyncio.shield(call), timeout)
        except TimeoutError:
            await asyncio.wait([call])
            result = call.result()  # what it found after all (deployment, tokens) is kept
            _timed_out(result, probe)
    except asyncio.CancelledError:
        call.cancel()
        raise
    if result.error_type == "timeout":  # whichever clock noticed first, the probe waited this
        result.duration_s = timeout
    return result


def outcome(probe: ProbeConfig, result: ProbeResult) -> Outcome:
    """A run as a monitor run of kind `probe`, in the layout `PROBE_RUN_PREFIX` describes."""
    run = MonitorRun(
        model=PROBE_RUN_PREFIX + probe.name,
        kind="probe",
        duration_s=result.duration_s,
        status="ok" if result.ok else "error",
        error=None if result.ok else f"{result.error_type}: {result.error}",
    )
    common: dict[str, Any] = {"monitor": "probe", "feature": probe.model}
    results = [
        MonitorResult.make(
            metric="success",
            value=float(result.ok),
            flagged=not result.ok,
            details={"error_type": result.error_type, "deployment": result.deployment},
            **common,
        ),
        MonitorResult.make(
            metric="duration_s",
            value=result.duration_s,
            threshold=probe.timeout.total_seconds(),
            **common,
        ),
    ]
    if result.ttft_s is not None:
        results.append(MonitorResult.make(metric="ttft_s", value=result.ttft_s, **common))
    summary = {"probe": probe.name, "model": probe.model, **asdict(result)}
    return Outcome(run, results, summary)


def export_metrics(metrics: VigilMetrics, probe: ProbeConfig, result: ProbeResult) -> None:
    """The `vigil_probe_*` series of one run."""
    labels = (probe.name, probe.model)
    metrics.probe_success.labels(*labels).set(int(result.ok))
    metrics.probe_duration.labels(*labels).set(result.duration_s)
    if result.ttft_s is not None:
        metrics.probe_ttft.labels(*labels).set(result.ttft_s)
    kind = "success" if result.ok else result.error_type or "error"
    metrics.probe_runs.labels(*labels, kind).inc()


async def _probe_forever(state: VigilState, probe: ProbeConfig, rng: random.Random) -> None:
    """Run `probe` every `interval` (start to start; a slow run delays the next, never overlaps)."""
    interval = probe.interval.total_seconds()
    await asyncio.sleep(rng.uniform(0, interval))  # jitter: probes of one config do not align
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        if state.gateway is not None and state.pipeline is not None:
            result = await run_probe(state.gateway, probe)
            export_metrics(state.metrics, probe, result)
            try:
                await persist(state.pipeline, [outcome(probe, result)])
            except PipelineClosed:
                return
            except Exception:
                log.exception("storing a probe run failed", extra={"probe": probe.name})
        await asyncio.sleep(max(0.0, started + interval - loop.time()))


def _forget(metrics: VigilMetrics, labels: set[tuple[str, str]]) -> None:
    """Drop the last-run gauges of probes that left the config (their counters stay)."""
    for gauge in (metrics.probe_success, metrics.probe_duration, metrics.probe_ttft):
        for pair in labels:
            with contextlib.suppress(KeyError):
                gauge.remove(*pair)


async def probe_loop(state: VigilState) -> None:
    """Background job (`vigil.app.BACKGROUND_JOBS`): one task per configured probe; a reload
    starts, stops and restarts the probes that changed."""
    running: dict[ProbeConfig, asyncio.Task[None]] = {}
    rng = random.Random()
    try:
        while True:
            wanted = state.config.synthetic.probes
            gone = [probe for probe in running if probe not in wanted]
            for probe in gone:
                running.pop(probe).cancel()
            kept = {(p.name, p.model) for p in wanted}
            _forget(state.metrics, {(p.name, p.model) for p in gone} - kept)
            for probe in wanted:
                if probe not in running or running[probe].done():
                    job = _probe_forever(state, probe, rng)
                    running[probe] = asyncio.create_task(job, name=f"probe {probe.name}")
            await asyncio.sleep(RECONCILE_S)
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
