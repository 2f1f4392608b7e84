"""`GET /metrics` and `GET /v1/metrics`: Prometheus exposition of this process's registry.

Prometheus text format by default; OpenMetrics when the scraper's `Accept` asks for
`application/openmetrics-text` (prometheus-client negotiates). When `metrics.bearer_token` is set,
scrapes must send it as `Authorization: Bearer <token>` (Prometheus: `authorization.credentials`);
the token is read from the running config on every scrape, so a SIGHUP reload applies at once.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from prometheus_client.exposition import choose_encoder
from starlette.responses import Response

from vigil.api.auth import bearer_token
from vigil.api.errors import APIError

router = APIRouter(tags=["metrics"])


def _check_token(request: Request) -> None:
    configured = request.app.state.vigil.config.metrics.bearer_token
    if configured is None:
        return
    token = bearer_token(request)
    challenge = {"www-authenticate": 'Bearer realm="vigil-metrics"'}
    if token is None:
        raise APIError(
            401,
            "unauthorized",
            "metrics.bearer_token is set: send Authorization: Bearer <token>",
            headers=challenge,
        )
    if not hmac.compare_digest(token.encode(), configured.get_secret_value().encode()):
        raise APIError(401, "unauthorized", "invalid metrics token", headers=challenge)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus exposition (text format, or OpenMetrics when `Accept` asks for it)."""
    _check_token(request)
    registry = request.app.state.vigil.metrics.registry
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(registry), media_type=content_type)


router.add_api_route("/v1/metrics", metrics, methods=["GET"], name="metrics_v1")
