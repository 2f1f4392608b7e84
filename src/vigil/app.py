"""The app factory: wires config -> store -> pipeline -> routes, and owns their lifecycle.

Start-up opens (and migrates) the store and starts the writer thread; shutdown (SIGTERM/SIGINT via
uvicorn) stops accepting writes, flushes everything queued, and closes the store. SIGHUP reloads the
config file; a broken file is rejected and the running config kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from vigil import __version__
from vigil.alerts.service import alert_loop
from vigil.api.alerts import router as alerts_router
from vigil.api.errors import (
    APIError,
    api_error_handler,
    http_error_handler,
    json_response,
    validation_error_handler,
)
from vigil.api.keys import router as keys_router
from vigil.api.monitors import router as monitors_router
from vigil.api.silences import router as silences_router
from vigil.api.stats import router as stats_router
from vigil.api.stats_rollups import Rollups, rollup_loop
from vigil.api.ui_data import router as ui_data_router
from vigil.api.ui_ml import router as ui_ml_router
from vigil.config import ConfigManager, VigilConfig
from vigil.gateway.lifecycle import budget_gauges, start_gateway, stop_gateway
from vigil.gateway.routes import router as gateway_router
from vigil.gateway.service import Gateway
from vigil.ingest.routes import INGEST_ROUTERS, warm_dedupe
from vigil.metrics import VigilMetrics
from vigil.metrics.exposition import router as metrics_router
from vigil.monitors.scheduler import monitor_loop
from vigil.pipeline import WritePipeline
from vigil.probes import probe_loop
from vigil.reports.schedule import report_loop
from vigil.store import Store, open_store
from vigil.store.retention import retention_loop, retention_periods
from vigil.ui.routes import install_ui

log = logging.getLogger("vigil.app")


@dataclass
class VigilState:
    """Everything a request handler may need, reachable as `request.app.state.vigil`."""

    manager: ConfigManager
    admin_token: str
    metrics: VigilMetrics = field(default_factory=VigilMetrics)
    store: Store | None = None
    pipeline: WritePipeline | None = None  # set during start-up, before any request
    gateway: Gateway | None = None
    stats_cache: Any = None
    """`vigil.api.stats_cache.StatsCache`, made on the first stats request."""
    rollups: Rollups | None = None
    """The stats rollups of `store`, kept up by `rollup_loop`."""

    @property
    def config(self) -> VigilConfig:
        return self.manager.current


def _admin_token(config: VigilConfig) -> str:
    configured = config.server.admin_token
    return configured.get_secret_value() if configured else "vigil-" + secrets.token_urlsafe(24)


def _on_reload(old: VigilConfig, new: VigilConfig) -> None:
    logging.getLogger().setLevel(new.server.log_level.upper())
    restart_needed = [
        name for name in ("store", "pipeline", "server") if getattr(old, name) != getattr(new, name)
    ]
    if restart_needed:
        log.warning(
            "config sections changed that take effect only after a restart",
            extra={"sections": restart_needed},
        )


async def _retention(state: VigilState) -> None:
    assert state.pipeline is not None
    await retention_loop(
        state.pipeline,
        lambda: retention_periods(state.config.retention),
        lambda: state.config.retention.check_interval.total_seconds(),
        state.metrics,
    )


ROUTERS: list[APIRouter] = [
    gateway_router,
    keys_router,
    *INGEST_ROUTERS,
    metrics_router,
    stats_router,
    monitors_router,
    alerts_router,
    silences_router,
    ui_data_router,
    ui_ml_router,
]
"""Every route group, in data-flow order; a feature adds its router here."""

BACKGROUND_JOBS: list[Callable[[VigilState], Coroutine[Any, Any, None]]] = [
    _retention,
    warm_dedupe,
    budget_gauges,
    monitor_loop,
    alert_loop,
    report_loop,
    probe_loop,
    rollup_loop,
]
"""Started after the store and pipeline are up, cancelled before they shut down."""


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: VigilState = app.state.vigil
    cfg = state.config
    state.store = await asyncio.to_thread(open_store, cfg.store.path)
    state.rollups = Rollups(state.store)
    p = cfg.pipeline
    pipeline = WritePipeline(
        state.store,
        state.metrics,
        queue_max=p.queue_max_records,
        high_water_ratio=p.high_water_ratio,
        batch_max=p.batch_max_records,
        flush_interval=p.flush_interval.total_seconds(),
        retry_after=p.retry_after.total_seconds(),
    )
    pipeline.start()
    state.pipeline = pipeline
    state.gateway = await start_gateway(state)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, state.manager.reload)
    tasks = [asyncio.create_task(job(state), name=job.__name__) for job in BACKGROUND_JOBS]
    log.info(
        "vigil started",
        extra={
            "version": __version__,
            "store": cfg.store.path,
            "schema": state.store.schema_version,
        },
    )
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        await stop_gateway(state.gateway)
        queued = pipeline.depth
        await asyncio.to_thread(pipeline.close)
        await asyncio.to_thread(state.store.close)
        log.info("vigil stopped", extra={"flushed_records": queued})


def create_app(config: VigilConfig | ConfigManager | None = None) -> FastAPI:
    """Build the Vigil ASGI app from a config (defaults when None) or a reloadable manager."""
    manager = config if isinstance(config, ConfigManager) else ConfigManager.from_config(config)
    manager.subscribe(_on_reload)
    app = FastAPI(
        title="Vigil",
        version=__version__,
        description="AI observability in one process: LLM gateway, ingest, monitors, alerts.",
        lifespan=_lifespan,
    )
    state = VigilState(manager=manager, admin_token=_admin_token(manager.current))
    app.state.vigil = state

    def apply_metrics_config(_old: VigilConfig | None, new: VigilConfig) -> None:
        state.metrics.configure(per_key_labels=new.metrics.per_key_labels)

    apply_metrics_config(None, manager.current)
    manager.subscribe(apply_metrics_config)
    app.add_exception_handler(APIError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    for router in ROUTERS:
        app.include_router(router)
    install_ui(app)  # web UI pages, static files and the session middleware (after the APIs)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> Response:
        """Readiness: the store is writable and the write queue is below its high-water mark."""
        state: VigilState = request.app.state.vigil
        pipeline = state.pipeline
        problems: list[str] = []
        if pipeline is None or not pipeline.alive:
            problems.append("write pipeline is not running")
        else:
            if pipeline.last_error:
                problems.append(f"last store write failed: {pipeline.last_error}")
            if not pipeline.below_high_water():
                problems.append(f"write queue over high-water mark ({pipeline.depth} records)")
        body: dict[str, Any] = {"status": "ready" if not problems else "not_ready"}
        if problems:
            body["problems"] = problems
        return json_response(body, 200 if not problems else 503)

    return app
