"""Every route group of the ingest stage and the query APIs over what it stores, in one list.

`vigil.app` adds `INGEST_ROUTERS` to its `ROUTERS` and `warm_dedupe` to its background jobs.
"""

from __future__ import annotations

from fastapi import APIRouter

from vigil.api.logs import router as logs_router
from vigil.api.ml_models import router as ml_models_router
from vigil.api.traces import router as traces_router
from vigil.ingest.events import router as events_router
from vigil.ingest.loki import router as loki_router
from vigil.ingest.otlp.router import router as otlp_router
from vigil.ingest.state import warm_dedupe

INGEST_ROUTERS: list[APIRouter] = [
    events_router,
    otlp_router,
    loki_router,
    traces_router,
    logs_router,
    ml_models_router,
]

__all__ = ["INGEST_ROUTERS", "warm_dedupe"]
