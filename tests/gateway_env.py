"""A gateway test environment: the simulated providers and a config routing models onto them."""

from __future__ import annotations

from typing import Any

from vigil.sim import SimServer

USER_KEY = "vk-test-user-key-0123456789abcdef"
LIMITED_KEY = "vk-test-limited-key-0123456789abc"
MINI_ONLY_KEY = "vk-test-mini-only-0123456789abcd"
BROKE_KEY = "vk-test-broke-key-0123456789abcde"


def gateway_config(sim: SimServer, **extra: Any) -> dict[str, Any]:
    """Providers and models over `sim`; keys with and without limits."""
    config: dict[str, Any] = {
        "providers": {
            "sim": {"type": "openai", "api_base": sim.openai_base_url, "api_key": "sk-sim"},
            "sim-anthropic": {
                "type": "anthropic",
                "api_base": sim.anthropic_base_url,
                "api_key": "sk-ant-sim",
            },
            "flaky": {
                "type": "openai",
                "api_base": sim.openai_base_url,
                "api_key": "sk-sim",
                "headers": {"x-sim-fail": "503"},
            },
            "dropper": {
                "type": "openai",
                "api_base": sim.openai_base_url,
                "api_key": "sk-sim",
                "headers": {"x-sim-fail": "drop", "x-sim-output-tokens": "40"},
            },
            "slow": {
                "type": "openai",
                "api_base": sim.openai_base_url,
                "api_key": "sk-sim",
                "headers": {"x-sim-token-ms": "100", "x-sim-output-tokens": "300"},
            },
            "limited": {
                "type": "openai",
                "api_base": sim.openai_base_url,
                "api_key": "sk-sim",
                "headers": {"x-sim-fail": "429"},
            },
        },
        "models": {
            "gpt-4o-mini": {
                "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
            },
            "claude": {
                "deployments": [{"provider": "sim-anthropic", "model": "claude-3-5-haiku-latest"}],
            },
            "embed": {"deployments": [{"provider": "sim", "model": "text-embedding-3-small"}]},
            "flaky-then-good": {
                "deployments": [
                    {"provider": "flaky", "model": "gpt-4o-mini", "weight": 1000},
                    {"provider": "sim", "model": "gpt-4o-mini", "weight": 1},
                ],
                "retries": 2,
            },
            "always-down": {
                "deployments": [{"provider": "flaky", "model": "gpt-4o-mini"}],
                "retries": 1,
                "fallbacks": ["gpt-4o-mini"],
            },
            "down-no-fallback": {
                "deployments": [{"provider": "flaky", "model": "gpt-4o-mini"}],
                "retries": 1,
                "cooldown": {"failures": 2, "period": "30s"},
            },
            "drops": {"deployments": [{"provider": "dropper", "model": "gpt-4o-mini"}]},
            "slow": {"deployments": [{"provider": "slow", "model": "gpt-4o-mini"}]},
            "canary": {
                "deployments": [
                    {"provider": "sim", "model": "gpt-4o-mini"},
                    {"provider": "sim", "model": "gpt-4o"},
                ],
                "canary": {"deployment": 1, "percent": 10},
            },
            "canary-by-user": {
                "deployments": [
                    {"provider": "sim", "model": "gpt-4o-mini"},
                    {"provider": "sim", "model": "gpt-4o"},
                ],
                "canary": {"deployment": 1, "percent": 50, "sticky_by": "user"},
            },
            "upstream-429": {
                "deployments": [{"provider": "limited", "model": "gpt-4o-mini"}],
                "retries": 0,
            },
        },
        "keys": [
            {"alias": "user", "key": USER_KEY, "team": "search"},
            {"alias": "limited", "key": LIMITED_KEY, "rpm": 3, "tpm": 100000},
            {"alias": "mini-only", "key": MINI_ONLY_KEY, "models": ["gpt-4o-mini"]},
            {"alias": "broke", "key": BROKE_KEY, "budget_usd": 0.0, "budget_period": "daily"},
        ],
    }
    config.update(extra)
    return config
