"""The monitors' background job: every `monitors.interval`, evaluate each ML model, the LLM
signals (prompt drift included) and the business metrics, store the results and update the gauges.

The computation runs in a worker thread (`asyncio.to_thread`): numpy and DuckDB release the GIL for
most of it and the event loop keeps serving the gateway meanwhile. Prompt drift then runs on the
event loop, since its embeddings are gateway calls (its reads and statistics go to threads too).
One run at a time per app: a run asked for through the API while the scheduled one is going waits
for it instead of doubling work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vigil.config import VigilConfig
from vigil.config.sections import MLModelConfig
from vigil.ingest.registry import ModelSchema
from vigil.ingest.state import ingest_state
from vigil.monitors.business import evaluate_business
from vigil.monitors.llm import evaluate_llm
from vigil.monitors.ml import evaluate_model
from vigil.monitors.prompts import PromptEmbeddings, add_prompt_drift
from vigil.monitors.results import MonitorRun, Outcome, export, persist
from vigil.pipeline import PipelineClosed

if TYPE_CHECKING:
    from vigil.app import VigilState

log = logging.getLogger("vigil.monitors")

_LOCKS: dict[int, asyncio.Lock] = {}
_PROMPT_CACHES: dict[int, PromptEmbeddings] = {}


def _lock(state: VigilState) -> asyncio.Lock:
    return _LOCKS.setdefault(id(state), asyncio.Lock())


def _prompt_cache(state: VigilState) -> PromptEmbeddings:
    """Prompt embeddings kept between the runs of one app (see `PromptEmbeddings`)."""
    return _PROMPT_CACHES.setdefault(id(state), PromptEmbeddings())


def _model_config(config: VigilConfig, schema: ModelSchema | None, name: str) -> MLModelConfig:
    """A registry model as the monitors see it: the config entry (or, for a model declared through
    the API, one built from its schema), with the registry's reference (an upload wins)."""
    if schema is None:
        raise LookupError(f"no ML model named {name!r}")
    base = config.ml_models.get(name) or MLModelConfig.model_validate(
        {
            "task": schema.task,
            "features": schema.features,
            "positive_class": schema.positive_class,
            "label_delay": schema.label_delay_s,
        }
    )
    return base.model_copy(update={"reference": schema.reference})


def _evaluate_all(state: VigilState, now: datetime, model: str | None) -> list[Outcome]:
    """Every monitor (or one model's); a failing model is recorded as an error run."""
    assert state.store is not None
    cfg = state.config
    outcomes: list[Outcome] = []
    registry = ingest_state(state).registry
    for name in registry.names(cfg):
        if model is not None and name != model:
            continue
        started = time.perf_counter()
        try:
            model_cfg = _model_config(cfg, registry.get(cfg, name), name)
            outcomes.append(evaluate_model(state.store, name, model_cfg, cfg.monitors, now))
        except Exception as exc:
            log.exception("monitor run failed", extra={"model": name})
            run = MonitorRun(model=name, kind="ml", ts=now, status="error", error=repr(exc))
            run.duration_s = time.perf_counter() - started
            outcomes.append(Outcome(run))
    if model is None:
        for kind, evaluate in (("llm", evaluate_llm), ("business", evaluate_business)):
            try:
                outcomes += evaluate(state.store, cfg.monitors, now)
            except Exception as exc:
                log.exception("monitor run failed", extra={"kind": kind})
                run = MonitorRun(
                    model=f"_{kind}", kind=kind, ts=now, status="error", error=repr(exc)
                )
                outcomes.append(Outcome(run))
    return outcomes


async def run_monitors(
    state: VigilState, *, model: str | None = None, now: datetime | None = None
) -> list[Outcome]:
    """Run the monitors once, store and export the outcomes, and return them."""
    assert state.pipeline is not None
    async with _lock(state):
        when = now or datetime.now(UTC)
        outcomes = await asyncio.to_thread(_evaluate_all, state, when, model)
        if model is None and state.store is not None:
            await add_prompt_drift(
                state.store,
                state.gateway,
                state.config.monitors,
                outcomes,
                when,
                _prompt_cache(state),
            )
        if outcomes:
            await persist(state.pipeline, outcomes)
        for outcome in outcomes:
            export(state.metrics, outcome)
    return outcomes


async def monitor_loop(state: VigilState) -> None:
    """The background job (`vigil.app.BACKGROUND_JOBS`); interval and switches re-read on reload."""
    while True:
        cfg = state.config.monitors
        if cfg.enabled:
            try:
                await run_monitors(state)
            except PipelineClosed:
                return
            except Exception:
                log.exception("monitor run failed; will retry next interval")
        await asyncio.sleep(cfg.interval.total_seconds())


def summarize(outcome: Outcome) -> dict[str, Any]:
    """The API's view of a run."""
    run = outcome.run
    return {
        "run_id": run.id,
        "model": run.model,
        "kind": run.kind,
        "ts": run.ts.isoformat(),
        "status": run.status,
        "error": run.error,
        "duration_s": run.duration_s,
        "summary": outcome.summary,
        "results": len(outcome.results),
    }
