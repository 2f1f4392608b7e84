"""Routing: which deployment serves a request, and which are resting after failures.

A public model maps to weighted deployments. A canary takes a fixed share of requests, decided by a
hash of the request id or user so the same caller lands on the same side. A deployment that fails
`cooldown.failures` times in a row rests for `cooldown.period`, then gets one trial request (half
open); a success brings it back.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vigil.config import VigilConfig
from vigil.config.routing import ModelConfig
from vigil.gateway.limits import LimitSpec
from vigil.gateway.providers import Provider


@dataclass(slots=True)
class Deployment:
    model: str
    index: int
    provider: Provider
    provider_name: str
    upstream_model: str
    weight: float
    limits: list[LimitSpec]
    failures: int = 0
    resting_until: float = 0.0
    trial_in_flight: bool = False

    @property
    def label(self) -> str:
        return f"{self.model}#{self.index}"


@dataclass(slots=True)
class Route:
    name: str
    config: ModelConfig
    deployments: list[Deployment] = field(default_factory=list)
    limit: LimitSpec | None = None


def _bucket(value: str) -> float:
    """A stable number in [0, 100) for a request id or user."""
    digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100


class Router:
    def __init__(
        self,
        config: VigilConfig,
        providers: Mapping[str, Provider],
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self.routes: dict[str, Route] = {}
        for name, model in config.models.items():
            route = Route(name, model)
            if model.rpm or model.tpm:
                route.limit = LimitSpec("model", name, model.rpm, model.tpm)
            for i, dep in enumerate(model.deployments):
                prov_cfg = config.providers[dep.provider]
                limits = []
                if dep.rpm or dep.tpm:
                    limits.append(LimitSpec("deployment", f"{name}#{i}", dep.rpm, dep.tpm))
                if prov_cfg.rpm or prov_cfg.tpm:
                    limits.append(LimitSpec("provider", dep.provider, prov_cfg.rpm, prov_cfg.tpm))
                route.deployments.append(
                    Deployment(
                        name,
                        i,
                        providers[dep.provider],
                        dep.provider,
                        dep.model,
                        dep.weight,
                        limits,
                    )
                )
            self.routes[name] = route

    def candidates(self, route: Route, sticky: str | None, tried: set[int]) -> list[Deployment]:
        """Deployments to try, best first: the canary decision, then a weighted order."""
        now = self._clock()
        available = [
            d for d in route.deployments if d.index not in tried and self._available(d, now)
        ]
        if not available:
            return []
        canary = route.config.canary
        if canary is not None and len(route.deployments) > 1:
            key = sticky if sticky is not None else str(self._rng.random())
            on_canary = _bucket(key) < canary.percent
            preferred = [d for d in available if (d.index == canary.deployment) == on_canary]
            others = [d for d in available if (d.index == canary.deployment) != on_canary]
            return self._weighted(preferred) + self._weighted(others)
        return self._weighted(available)

    def _weighted(self, deployments: list[Deployment]) -> list[Deployment]:
        """A weighted random order (Efraimidis-Spirakis keys)."""
        if len(deployments) == 1:
            return deployments
        keyed = []
        for d in deployments:
            w = d.weight if d.weight > 0 else 1e-9
            keyed.append((self._rng.random() ** (1.0 / w), d))
        keyed.sort(key=lambda kv: kv[0], reverse=True)
        return [d for _, d in keyed]

    def _available(self, d: Deployment, now: float) -> bool:
        if d.resting_until <= 0:
            return True
        return now >= d.resting_until and not d.trial_in_flight

    def begin(self, d: Deployment) -> None:
        """An attempt starts on `d`; after a rest, it is the single trial (half open)."""
        if d.resting_until > 0:
            d.trial_in_flight = True

    def succeeded(self, d: Deployment) -> None:
        d.failures, d.resting_until, d.trial_in_flight = 0, 0.0, False

    def failed(self, d: Deployment) -> None:
        d.failures += 1
        d.trial_in_flight = False
        cooldown = self.routes[d.model].config.cooldown
        if d.failures >= cooldown.failures:
            d.resting_until = self._clock() + cooldown.period.total_seconds()

    def resting(self) -> list[str]:
        now = self._clock()
        return [
            d.label for r in self.routes.values() for d in r.deployments if d.resting_until > now
        ]
