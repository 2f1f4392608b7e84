"""The demo traffic generator: LLM calls, churn predictions and their late labels, into Vigil.

`vigil demo` runs it next to Vigil and the simulated providers so every page of the UI has live
data. Three streams of events go to `POST /api/v1/events` through one batching `EventSink`:

- `llm_call`: Poisson arrivals at `llm_rps` from the app mix of `llm_calls.next_call`, sent to the
  simulated providers and measured like a client measures them. With `via_gateway_url` the calls go
  through Vigil's gateway instead, which records them itself, so no `llm_call` events are posted.
- `prediction`: `churn-classifier` v1 scoring customers at `ml_rps`.
- `label`: the true outcome of a prediction, posted after a random delay in `label_delay_s`
  (so labels arrive out of order, as they do in production).

After `drift_after_s` the customers change and so does what makes them churn (`churn.py`): drift
monitors should fire and, once labels catch up, accuracy should visibly decay.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import numpy as np

from vigil.records import Label, Prediction, utcnow
from vigil.sim import churn
from vigil.sim.events import EventSink, to_event
from vigil.sim.llm_calls import CallSpec, Endpoints, next_call, perform
from vigil.sim.profiles import Price, default_profile

log = logging.getLogger("vigil.sim.traffic")


@dataclass(slots=True)
class TrafficOptions:
    vigil_url: str
    admin_token: str
    openai_base_url: str
    anthropic_base_url: str
    llm_rps: float = 5.0
    ml_rps: float = 10.0
    label_delay_s: tuple[float, float] = (20.0, 90.0)
    drift_after_s: float = 180.0
    seed: int | None = None
    via_gateway_url: str | None = None
    """Send LLM calls to this OpenAI-compatible base URL (Vigil's gateway, `.../v1`)."""
    gateway_key: str | None = None
    openai_api_key: str = "sim-key"
    anthropic_api_key: str = "sim-key"
    prices: dict[str, Price] = field(default_factory=lambda: default_profile().price_table())
    """USD per 1M tokens by model; the simulator's list prices unless told otherwise."""
    flush_interval_s: float = 0.5
    summary_interval_s: float = 10.0
    max_in_flight: int = 256
    stop_grace_s: float = 3.0
    """How long in-flight LLM calls may finish after `stop` before they are abandoned."""
    call_timeout_s: float = 120.0
    drain_timeout_s: float = 5.0
    """How long pending events may take to reach Vigil after `stop`."""


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; True when stopping."""
    try:
        await asyncio.wait_for(stop.wait(), max(seconds, 0.0))
    except TimeoutError:
        return stop.is_set()
    return True


class TrafficGenerator:
    """One run of the generator; `counts` is what the periodic summary reports."""

    def __init__(self, opts: TrafficOptions) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.np_rng = np.random.default_rng(opts.seed)
        self.endpoints = Endpoints(
            openai_base_url=opts.openai_base_url,
            anthropic_base_url=opts.anthropic_base_url,
            openai_api_key=opts.openai_api_key,
            anthropic_api_key=opts.anthropic_api_key,
            via_gateway_url=opts.via_gateway_url,
            gateway_key=opts.gateway_key,
        )
        self.counts: Counter[str] = Counter()
        self._calls: set[asyncio.Task[None]] = set()
        self._labels: list[tuple[float, int, Label]] = []
        self._seq = 0
        self._start = 0.0
        self._drifted = False
        self.sink: EventSink | None = None

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self._start = loop.time()
        connector = aiohttp.TCPConnector(limit=self.opts.max_in_flight + 8)
        async with aiohttp.ClientSession(connector=connector) as session:
            self.sink = EventSink(
                session,
                self.opts.vigil_url,
                self.opts.admin_token,
                flush_interval_s=self.opts.flush_interval_s,
                seed=self.opts.seed,
            )
            sink_stop = asyncio.Event()
            sink_task = asyncio.create_task(self.sink.run(sink_stop, self.opts.drain_timeout_s))
            loops = [
                asyncio.create_task(self._llm_loop(session, stop)),
                asyncio.create_task(self._ml_loop(stop)),
                asyncio.create_task(self._label_loop(stop)),
                asyncio.create_task(self._summary_loop(stop)),
            ]
            try:
                await stop.wait()
            finally:
                await asyncio.gather(*loops, return_exceptions=True)
                await self._finish_calls()
                sink_stop.set()
                await asyncio.gather(sink_task, return_exceptions=True)
                log.info("traffic stopped: %s", self.summary())

    async def _finish_calls(self) -> None:
        if self._calls:
            _, late = await asyncio.wait(set(self._calls), timeout=self.opts.stop_grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    def _elapsed(self) -> float:
        return asyncio.get_running_loop().time() - self._start

    def _is_drifted(self) -> bool:
        if not self._drifted and self._elapsed() >= self.opts.drift_after_s:
            self._drifted = True
            log.info("traffic: churn-classifier inputs drift from now on")
        return self._drifted

    async def _llm_loop(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        if self.opts.llm_rps <= 0:
            return
        while not await _pause(stop, self.rng.expovariate(self.opts.llm_rps)):
            if len(self._calls) >= self.opts.max_in_flight:
                self.counts["llm_skipped"] += 1
                continue
            task = asyncio.create_task(self._one_call(session, next_call(self.rng)))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _one_call(self, session: aiohttp.ClientSession, spec: CallSpec) -> None:
        try:
            price = self.opts.prices.get(spec.model)
            record = await perform(session, self.endpoints, spec, price, self.opts.call_timeout_s)
        except Exception:  # the generator must survive anything a call does
            log.exception("traffic: LLM call failed unexpectedly")
            return
        self.counts["llm_calls"] += 1
        if record.error_type is not None:
            self.counts["llm_errors"] += 1
        if self.opts.via_gateway_url is None and self.sink is not None:
            self.sink.add(to_event(record))

    async def _ml_loop(self, stop: asyncio.Event) -> None:
        if self.opts.ml_rps <= 0:
            return
        low, high = self.opts.label_delay_s
        while not await _pause(stop, self.rng.expovariate(self.opts.ml_rps)):
            drifted = self._is_drifted()
            features = churn.sample_features(self.np_rng, drifted)
            predicted, score = churn.predict(features)
            prediction = Prediction(
                model=churn.MODEL,
                model_version=churn.VERSION,
                features=features,
                prediction=predicted,
                score=score,
            )
            assert self.sink is not None
            self.sink.add(to_event(prediction))
            self.counts["predictions"] += 1
            truth = churn.true_label(self.np_rng, features, drifted)
            label = Label(prediction_id=prediction.id, model=churn.MODEL, label=truth)
            due = self._elapsed() + self.rng.uniform(low, high)
            self._seq += 1
            heapq.heappush(self._labels, (due, self._seq, label))

    async def _label_loop(self, stop: asyncio.Event) -> None:
        while not await _pause(stop, 0.1):
            now = self._elapsed()
            while self._labels and self._labels[0][0] <= now:
                _, _, label = heapq.heappop(self._labels)
                label.ts = utcnow()
                assert self.sink is not None
                self.sink.add(to_event(label))
                self.counts["labels"] += 1

    async def _summary_loop(self, stop: asyncio.Event) -> None:
        while not await _pause(stop, self.opts.summary_interval_s):
            with contextlib.suppress(Exception):
                log.info("traffic: %s", self.summary())

    def summary(self) -> str:
        sink = self.sink.stats if self.sink is not None else None
        parts = [
            f"llm {self.counts['llm_calls']} calls ({self.counts['llm_errors']} failed)",
            f"predictions {self.counts['predictions']}",
            f"labels {self.counts['labels']} ({len(self._labels)} waiting)",
        ]
        if sink is not None:
            parts.append(
                f"events posted {sink.posted}, rejected {sink.rejected}, retries {sink.retries}, "
                f"dropped {sink.dropped}, pending {self.sink.pending if self.sink else 0}"
            )
        if self._drifted:
            parts.append("drifted")
        return "; ".join(parts)


async def run_traffic(opts: TrafficOptions, stop: asyncio.Event) -> None:
    """Generate demo traffic until `stop` is set, then drain and return. Never raises on I/O."""
    await TrafficGenerator(opts).run(stop)
