"""`GET /metrics`: Prometheus text exposition of this process's registry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus exposition of every Vigil metric with data."""
    registry = request.app.state.vigil.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
