"""The gateway's state and its one request algorithm: admit, route, attempt, record.

`Gateway` is built at start-up from the config and rebuilt on reload; everything a request needs is
in memory. `complete` runs the attempts (retries with backoff on retryable upstream errors, then
fallback models) and returns an upstream answer or raises a `GatewayError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from vigil.config import VigilConfig
from vigil.gateway.budgets import Budgets
from vigil.gateway.capture import capture_switches, clip
from vigil.gateway.errors import GatewayError
from vigil.gateway.keys import KeyRing, VirtualKey
from vigil.gateway.limits import Admission, Denial, Limiter, LimitSpec
from vigil.gateway.limits.base import ratelimit_headers
from vigil.gateway.pricing import PriceTable
from vigil.gateway.providers import Provider, UpstreamError
from vigil.gateway.providers.anthropic import AnthropicProvider
from vigil.gateway.providers.http import UpstreamClient
from vigil.gateway.providers.openai import OpenAIProvider
from vigil.gateway.router import Deployment, Route, Router
from vigil.metrics import VigilMetrics
from vigil.pipeline import WritePipeline
from vigil.records import CallRecord

log = logging.getLogger("vigil.gateway")

T = TypeVar("T")

BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 2.0
RETRY_AFTER_MAX_S = 10.0
"""An upstream asking us to wait longer than this is skipped rather than waited for."""


@dataclass(slots=True)
class Attempted:
    """The outcome of `complete`: the answer and how it was obtained."""

    result: Any
    deployment: Deployment
    model: str
    retries: int
    fallback_from: str | None
    started: float


@dataclass(slots=True)
class CallContext:
    """One client request, from admission to its CallRecord."""

    key: VirtualKey
    model: str
    request_id: str
    user: str | None
    stream: bool
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    admission: Admission | None = None
    headers: dict[str, str] = field(default_factory=dict)
    request_bytes: bytes | None = None
    """The raw request, held only when this model's bodies are captured."""


def build_providers(config: VigilConfig, client: UpstreamClient) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name, cfg in config.providers.items():
        if cfg.type == "anthropic":
            providers[name] = AnthropicProvider(name, cfg, client)
        else:
            providers[name] = OpenAIProvider(name, cfg, client)
    return providers


class Gateway:
    def __init__(
        self,
        config: VigilConfig,
        client: UpstreamClient,
        limiter: Limiter,
        keys: KeyRing,
        budgets: Budgets,
        pipeline: WritePipeline,
        metrics: VigilMetrics,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.keys = keys
        self.budgets = budgets
        self.pipeline = pipeline
        self.metrics = metrics
        self._rng = random.Random()
        self.configure(config)

    def configure(self, config: VigilConfig) -> None:
        """(Re)build routes and prices from the config; keys and counters are kept."""
        self.config = config
        self.providers = build_providers(config, self.client)
        self.router = Router(config, self.providers)
        self.prices = PriceTable(config)
        self.max_body = config.server.max_body_bytes
        self.capture = capture_switches(config)
        self.capture_max = config.capture.max_bytes

    # -- admission ------------------------------------------------------------------------------
    def authenticate(self, headers: Any) -> VirtualKey:
        header = headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else headers.get("api-key", "")
        if not token:
            raise GatewayError(
                401,
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                code="missing_api_key",
            )
        key = self.keys.authenticate(token)
        if key is None:
            raise GatewayError(401, "Incorrect API key provided.", code="invalid_api_key")
        return key

    def route_for(self, model: str, key: VirtualKey) -> Route:
        route = self.router.routes.get(model)
        if route is None:
            raise GatewayError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        if key.models and model not in key.models:
            raise GatewayError(
                403,
                f"Key '{key.alias}' is not allowed to use model `{model}`.",
                code="model_not_allowed",
                param="model",
            )
        return route

    async def check_budget(self, key: VirtualKey) -> None:
        refusal = await self.budgets.check_shared(key.alias, key.team)
        if refusal is not None:
            raise GatewayError(
                402,
                f"Budget exceeded for {refusal.scope} '{refusal.name}': spent "
                f"${refusal.spent:.4f} of ${refusal.budget:.2f} this {refusal.period} period; "
                f"resets at {refusal.resets_at.isoformat()}.",
                code="budget_exceeded",
            )

    async def admit(self, ctx: CallContext, route: Route, tokens: int) -> None:
        """Charge the key's and the model's limits; 429 in OpenAI's shape when over."""
        specs = [LimitSpec("key", ctx.key.alias, ctx.key.rpm, ctx.key.tpm)]
        if route.limit is not None:
            specs.append(route.limit)
        outcome = await self.limiter.acquire(specs, tokens)
        if isinstance(outcome, Denial):
            self.metrics.rate_limited.labels(ctx.model, outcome.spec.scope).inc()
            raise self._denied(outcome)
        ctx.admission = outcome
        ctx.headers.update(ratelimit_headers(outcome.usage))

    @staticmethod
    def _denied(denial: Denial) -> GatewayError:
        retry = max(1, int(denial.retry_after_s + 0.999))
        what = "requests" if denial.reason == "requests" else "tokens"
        spec = denial.spec
        limit = spec.rpm if what == "requests" else spec.tpm
        headers = {"retry-after": str(retry), **ratelimit_headers(denial.usage)}
        return GatewayError(
            429,
            f"Rate limit reached for {spec.scope} '{spec.name}' on {what} per minute: "
            f"limit {limit}. Retry after {retry}s.",
            code="rate_limit_exceeded",
            type="rate_limit_error",
            headers=headers,
        )

    # -- attempts -------------------------------------------------------------------------------
    async def complete(
        self,
        ctx: CallContext,
        tokens: int,
        call: Callable[[Deployment], Awaitable[T]],
    ) -> Attempted:
        """Try the model's deployments, retrying and falling back; the first success wins."""
        chain = [ctx.model, *self.router.routes[ctx.model].config.fallbacks]
        sticky = ctx.user if self._sticky_by_user(ctx.model) else ctx.request_id
        last: UpstreamError | None = None
        retries = 0
        for model in chain:
            route = self.router.routes.get(model)
            if route is None:
                continue
            tried: set[int] = set()
            for attempt in range(route.config.retries + 1):
                deployment = await self._pick(route, sticky, tried, tokens)
                if deployment is None:
                    break
                if attempt:
                    retries += 1
                    self.metrics.retries.labels(ctx.model).inc()
                self.router.begin(deployment)
                try:
                    result = await call(deployment)
                except UpstreamError as exc:
                    last = exc
                    self.router.failed(deployment)
                    self.metrics.upstream_errors.labels(
                        deployment.provider_name, exc.error_type
                    ).inc()
                    if exc.status == 429:
                        self.metrics.rate_limited.labels(ctx.model, "upstream").inc()
                    if not exc.retryable:
                        raise self._upstream_failure(exc, deployment) from None
                    tried.add(deployment.index)
                    if len(tried) >= len(route.deployments):
                        tried.clear()  # every deployment failed once: retry them after a pause
                    if attempt < route.config.retries:
                        delay = self._backoff(attempt, exc.retry_after)
                        if delay is None:
                            break
                        await asyncio.sleep(delay)
                    continue
                self.router.succeeded(deployment)
                fallback = ctx.model if model != ctx.model else None
                if fallback:
                    self.metrics.fallbacks.labels(ctx.model).inc()
                return Attempted(result, deployment, model, retries, fallback, ctx.started)
        if last is None:
            raise GatewayError(
                503,
                f"No deployment of `{ctx.model}` is available (all resting after failures "
                "or at their rate limits).",
                code="no_deployment_available",
                headers={"retry-after": "1"},
            )
        raise self._upstream_failure(last, None)

    def _sticky_by_user(self, model: str) -> bool:
        canary = self.router.routes[model].config.canary
        return canary is not None and canary.sticky_by == "user"

    async def _pick(
        self, route: Route, sticky: str | None, tried: set[int], tokens: int
    ) -> Deployment | None:
        for deployment in self.router.candidates(route, sticky, tried):
            if not deployment.limits:
                return deployment
            outcome = await self.limiter.acquire(deployment.limits, tokens)
            if isinstance(outcome, Admission):
                return deployment
            self.metrics.rate_limited.labels(route.name, "upstream").inc()
        return None

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        if retry_after is not None:
            return retry_after if retry_after <= RETRY_AFTER_MAX_S else None
        cap = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt)
        return self._rng.uniform(0, cap)  # full jitter

    @staticmethod
    def _upstream_failure(exc: UpstreamError, deployment: Deployment | None) -> GatewayError:
        where = f" from {deployment.provider_name}" if deployment else ""
        message = f"Upstream error{where}: {exc.message}"
        if exc.status == 400 or exc.status == 413:
            return GatewayError(exc.status, exc.message, code=exc.code)
        if exc.status == 429:
            headers = {"retry-after": str(max(1, int((exc.retry_after or 1) + 0.999)))}
            return GatewayError(
                429,
                message,
                code="upstream_rate_limited",
                type="rate_limit_error",
                headers=headers,
            )
        if exc.error_type == "timeout":
            return GatewayError(504, message, code="upstream_timeout")
        if exc.status in (503, 529):
            return GatewayError(503, message, code="upstream_unavailable")
        return GatewayError(502, message, code="upstream_error")

    # -- telemetry ------------------------------------------------------------------------------
    def record(
        self,
        ctx: CallContext,
        *,
        status: int,
        attempted: Attempted | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        ttft: float | None = None,
        error_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        response_body: bytes | None = None,
    ) -> CallRecord:
        """One CallRecord for the pipeline (never waits) and the metrics; spend to budgets."""
        deployment = attempted.deployment if attempted else None
        provider = deployment.provider_name if deployment else ""
        upstream = deployment.upstream_model if deployment else ""
        served = attempted.model if attempted else ctx.model
        cost = self.prices.cost(served, upstream, input_tokens, output_tokens, cached_tokens)
        record = CallRecord(
            ts=ctx.ts,
            model=ctx.model,
            provider=provider,
            deployment=upstream,
            source="gateway",
            key_id=ctx.key.alias,
            team=ctx.key.team,
            user=ctx.user,
            status_code=status,
            error_type=error_type,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_tokens,
            cost_usd=cost,
            duration_s=time.perf_counter() - ctx.started,
            ttft_s=ttft,
            stream=ctx.stream,
            retries=attempted.retries if attempted else 0,
            fallback_from=attempted.fallback_from if attempted else None,
            request_id=ctx.request_id,
            metadata=metadata,
        )
        if ctx.request_bytes is not None:
            self._keep_bodies(record, ctx.request_bytes, response_body)
        self.pipeline.offer(record)
        self.metrics.observe_call(record)
        if cost:
            self.budgets.add(ctx.key.alias, ctx.key.team, cost)
        return record

    def _keep_bodies(self, record: CallRecord, request: bytes, response: bytes | None) -> None:
        cut: list[str] = []
        record.request_body, truncated = clip(request, self.capture_max)
        if truncated:
            cut.append("request")
        if response is not None:
            record.response_body, truncated = clip(response, self.capture_max)
            if truncated:
                cut.append("response")
        meta = record.metadata if isinstance(record.metadata, dict) else {}
        cut = sorted({*cut, *meta.get("capture_truncated", ())})
        if cut:
            record.metadata = {**meta, "capture_truncated": cut}

    async def settle(self, ctx: CallContext, tokens: int) -> None:
        if ctx.admission is not None:
            await self.limiter.settle(ctx.admission, tokens)

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
        await self.limiter.close()
        if self.budgets.shared is not None:
            await self.budgets.shared.close()
