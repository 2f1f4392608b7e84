"""Cost of a call: the bundled list-price table (prices.json), overridden per model by config.

Lookups are by the public model name first (where config prices live), then by the upstream model
id, then by the longest known prefix, so dated ids (`gpt-4o-2024-08-06`, `claude-3-5-haiku-latest`)
find their family's price.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from vigil.config import VigilConfig


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """USD for one call; cached input tokens are part of `input_tokens` (OpenAI's usage)."""
        cached = min(cached_input_tokens, input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        fresh = input_tokens - cached
        return (fresh * self.input + cached * cached_rate + output_tokens * self.output) / 1e6


def _bundled() -> tuple[dict[str, Price], dict[str, Any]]:
    raw = json.loads(resources.files("vigil.gateway").joinpath("prices.json").read_text())
    table = {
        name: Price(p["input"], p["output"], p.get("cached_input"))
        for name, p in raw["models"].items()
    }
    return table, {"about": raw["about"], "as_of": raw["as_of"]}


BUNDLED, BUNDLED_SOURCE = _bundled()


class PriceTable:
    """Prices for every model Vigil may see, resolved once per config."""

    def __init__(self, config: VigilConfig) -> None:
        self._prices: dict[str, Price] = dict(BUNDLED)
        for name, model in config.models.items():
            p = model.price
            if p.input_per_mtok or p.output_per_mtok or p.cached_input_per_mtok is not None:
                self._prices[name] = Price(
                    p.input_per_mtok, p.output_per_mtok, p.cached_input_per_mtok
                )
        self._by_length = sorted(self._prices, key=len, reverse=True)
        self._cache: dict[str, Price | None] = {}

    def lookup(self, *names: str) -> Price | None:
        for name in names:
            price = self._resolve(name)
            if price is not None:
                return price
        return None

    def _resolve(self, name: str) -> Price | None:
        if name in self._cache:
            return self._cache[name]
        price = self._prices.get(name)
        if price is None:
            bare = name.rsplit("/", 1)[-1] if name not in self._prices else name
            price = self._prices.get(bare)
            if price is None:
                prefix = next((k for k in self._by_length if bare.startswith(k)), None)
                price = self._prices[prefix] if prefix else None
        if len(self._cache) < 10_000:
            self._cache[name] = price
        return price

    def cost(
        self, model: str, deployment: str, input_tokens: int, output_tokens: int, cached: int = 0
    ) -> float:
        price = self.lookup(model, deployment)
        return price.cost(input_tokens, output_tokens, cached) if price else 0.0
