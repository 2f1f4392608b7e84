"""Router decisions with a controllable clock: weights, cooldown, half-open recovery."""

from __future__ import annotations

import random
from typing import Any

from vigil.config import VigilConfig
from vigil.gateway.router import Router


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _router(clock: Clock, **model: Any) -> Router:
    raw = {
        "providers": {"p": {"type": "openai", "api_base": "http://127.0.0.1:9/v1"}},
        "models": {
            "m": {
                "deployments": [
                    {"provider": "p", "model": "a", "weight": 3},
                    {"provider": "p", "model": "b", "weight": 1},
                ],
                **model,
            }
        },
    }
    config = VigilConfig.model_validate(raw)
    providers: Any = {"p": object()}  # never called: routing decisions only
    return Router(config, providers, clock=clock, rng=random.Random(3))


def test_weights_share_traffic() -> None:
    router = _router(Clock())
    route = router.routes["m"]
    firsts = [router.candidates(route, None, set())[0].upstream_model for _ in range(4000)]
    assert 0.70 < firsts.count("a") / len(firsts) < 0.80


def test_cooldown_rests_a_failing_deployment_then_tries_it_once() -> None:
    clock = Clock()
    router = _router(clock, cooldown={"failures": 2, "period": "30s"})
    route = router.routes["m"]
    a = route.deployments[0]
    router.failed(a)
    assert a in router.candidates(route, None, set())
    router.failed(a)
    assert a not in router.candidates(route, None, set())  # resting
    clock.now += 31
    assert a in router.candidates(route, None, set())  # the rest is over: one trial
    router.begin(a)
    assert a not in router.candidates(route, None, set())  # only one trial at a time
    router.succeeded(a)
    assert a in router.candidates(route, None, set()) and a.failures == 0
    router.failed(a)
    router.failed(a)
    assert router.resting() == ["m#0"]
