"""Behaviour profiles of the simulated models: latency, failures, limits, output length, price.

A profile makes the simulator look like a particular day at a provider: `gpt-4o` slower and pricier
than `gpt-4o-mini`, `o3-mini` thinking before its first token, a few 429s and 5xx, the odd dropped
or stalled stream. The same structure with everything at zero is the `bench` profile, used when the
simulator is the upstream of a gateway benchmark and must only be fast.

Profiles load from YAML or JSON (docs/simulator.md shows the format); `base: default|bench` in a
file starts from a built-in profile and overrides only the models it lists.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

_Z95 = 1.6448536269514722


@dataclass(frozen=True, slots=True)
class Dist:
    """A lognormal delay given by its median and 95th percentile in ms; zero when the median is."""

    median_ms: float = 0.0
    p95_ms: float = 0.0

    def sample_s(self, rng: random.Random) -> float:
        if self.median_ms <= 0:
            return 0.0
        p95 = max(self.p95_ms, self.median_ms)
        sigma = (math.log(p95) - math.log(self.median_ms)) / _Z95
        return rng.lognormvariate(math.log(self.median_ms), sigma) / 1000.0

    @classmethod
    def parse(cls, raw: Any) -> Dist:
        """`{median: 400, p95: 1200}`, `[400, 1200]` or a plain number (a fixed delay)."""
        if isinstance(raw, Dist):
            return raw
        if raw is None:
            return cls()
        if isinstance(raw, int | float):
            return cls(float(raw), float(raw))
        if isinstance(raw, list | tuple) and len(raw) == 2:
            return cls(float(raw[0]), float(raw[1]))
        if isinstance(raw, dict):
            median = float(raw.get("median", 0))
            return cls(median, float(raw.get("p95", median)))
        raise ValueError(f"latency must be a number, [median, p95] or {{median, p95}}, got {raw!r}")


@dataclass(frozen=True, slots=True)
class Price:
    """The simulator's list price in USD per 1M tokens (used by the demo to fill `cost_usd`)."""

    input: float = 0.0
    output: float = 0.0
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """USD for one call; `input_tokens` includes the cached ones, billed at `cached_input`."""
        cached_rate = self.input if self.cached_input is None else self.cached_input
        fresh = max(input_tokens - cached_input_tokens, 0)
        usd = fresh * self.input + cached_input_tokens * cached_rate + output_tokens * self.output
        return usd / 1_000_000


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """How one simulated model behaves. Rates are probabilities per request."""

    name: str
    provider: str = "openai"
    """openai | anthropic: which simulated server serves the model."""
    kind: str = "chat"
    """chat | embedding"""
    ttft: Dist = Dist()
    token: Dist = Dist()
    """Delay between two streamed pieces (one draw per request: the request's speed)."""
    error_rate: float = 0.0
    """Server errors: 500 or 503 (Anthropic: 500 or 529), half each."""
    rate_limit_rate: float = 0.0
    """Injected 429s, on top of the real `rpm` limit."""
    drop_rate: float = 0.0
    """Streams cut mid-way without a final frame."""
    slow_rate: float = 0.0
    """Streams that stall for `slow_gap` between some chunks."""
    midstream_error_rate: float = 0.0
    """Streams that end with an error frame (OpenAI `data: {"error"}`, Anthropic `event: error`)."""
    slow_gap: Dist = Dist(3000, 6000)
    rpm: int | None = None
    """Real requests-per-minute limit (a token bucket: honest 429s and remaining/reset headers)."""
    tpm: int | None = None
    """Real tokens-per-minute limit, prompt plus completion tokens of each request."""
    output_tokens: tuple[int, int] = (20, 300)
    reasoning_tokens: tuple[int, int] = (0, 0)
    """Hidden reasoning tokens (o-series): billed as output, never streamed."""
    dimensions: int = 1536
    """Default vector size of an embedding model."""
    price: Price = Price()

    @classmethod
    def parse(
        cls, name: str, raw: dict[str, Any], base: ModelProfile | None = None
    ) -> ModelProfile:
        """Build from a profile file entry; keys absent from `raw` keep `base`'s values."""
        known = {f.name for f in fields(cls)} | {"ttft_ms", "token_ms", "slow_gap_ms"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"model {name!r}: unknown keys {sorted(unknown)}")
        values: dict[str, Any] = {"name": name}
        for key, value in raw.items():
            key = key.removesuffix("_ms") if key.endswith("_ms") else key
            if key in ("ttft", "token", "slow_gap"):
                values[key] = Dist.parse(value)
            elif key == "price":
                values[key] = value if isinstance(value, Price) else Price(**value)
            elif key in ("output_tokens", "reasoning_tokens"):
                low, high = (value, value) if isinstance(value, int) else value
                values[key] = (int(low), int(high))
            else:
                values[key] = value
        if values.get("provider", "openai") not in ("openai", "anthropic"):
            raise ValueError(f"model {name!r}: provider must be openai or anthropic")
        return replace(base, **values) if base is not None else cls(**values)


@dataclass(slots=True)
class Profile:
    """A named set of model profiles plus the seed of the simulator's random draws."""

    models: dict[str, ModelProfile] = field(default_factory=dict)
    seed: int | None = None
    time_scale: float = 1.0
    """Multiplies every delay; 0.1 makes a ten-times faster demo or test."""
    name: str = "custom"

    def get(self, model: str, provider: str) -> ModelProfile | None:
        found = self.models.get(model)
        return found if found is not None and found.provider == provider else None

    def price_table(self) -> dict[str, Price]:
        return {name: m.price for name, m in self.models.items()}

    def as_bench(self) -> Profile:
        """The same models with no delay, no failure and no limit."""
        quiet = {
            name: replace(
                m,
                ttft=Dist(),
                token=Dist(),
                error_rate=0.0,
                rate_limit_rate=0.0,
                drop_rate=0.0,
                slow_rate=0.0,
                midstream_error_rate=0.0,
                rpm=None,
                tpm=None,
                output_tokens=(16, 64),
                reasoning_tokens=(0, 0),
            )
            for name, m in self.models.items()
        }
        return Profile(models=quiet, seed=self.seed, time_scale=1.0, name="bench")


def _m(name: str, **raw: Any) -> tuple[str, ModelProfile]:
    return name, ModelProfile.parse(name, raw)


def default_profile(seed: int | None = None) -> Profile:
    """Several models with distinct, realistic behaviour (latencies in ms, prices per 1M tokens)."""
    models = dict(
        [
            _m(
                "gpt-4o",
                ttft={"median": 450, "p95": 1400},
                token={"median": 14, "p95": 30},
                error_rate=0.01,
                rate_limit_rate=0.02,
                drop_rate=0.005,
                slow_rate=0.005,
                output_tokens=(40, 350),
                price={"input": 2.50, "output": 10.00, "cached_input": 1.25},
            ),
            _m(
                "gpt-4o-mini",
                ttft={"median": 250, "p95": 700},
                token={"median": 6, "p95": 14},
                error_rate=0.005,
                rate_limit_rate=0.01,
                drop_rate=0.003,
                slow_rate=0.003,
                output_tokens=(20, 250),
                price={"input": 0.15, "output": 0.60, "cached_input": 0.075},
            ),
            _m(
                "o3-mini",
                ttft={"median": 2500, "p95": 7000},
                token={"median": 8, "p95": 18},
                error_rate=0.02,
                rate_limit_rate=0.01,
                output_tokens=(30, 250),
                reasoning_tokens=(64, 1024),
                price={"input": 1.10, "output": 4.40, "cached_input": 0.55},
            ),
            _m(
                "text-embedding-3-small",
                kind="embedding",
                ttft={"median": 60, "p95": 180},
                error_rate=0.002,
                dimensions=1536,
                price={"input": 0.02, "output": 0.0},
            ),
            _m(
                "claude-3-5-sonnet-latest",
                provider="anthropic",
                ttft={"median": 700, "p95": 2000},
                token={"median": 16, "p95": 35},
                error_rate=0.01,
                rate_limit_rate=0.02,
                drop_rate=0.003,
                slow_rate=0.005,
                midstream_error_rate=0.005,
                output_tokens=(40, 400),
                price={"input": 3.00, "output": 15.00, "cached_input": 0.30},
            ),
            _m(
                "claude-3-5-haiku-latest",
                provider="anthropic",
                ttft={"median": 350, "p95": 900},
                token={"median": 7, "p95": 16},
                error_rate=0.01,
                rate_limit_rate=0.01,
                drop_rate=0.003,
                midstream_error_rate=0.005,
                output_tokens=(20, 250),
                price={"input": 0.80, "output": 4.00, "cached_input": 0.08},
            ),
        ]
    )
    return Profile(models=models, seed=seed, name="default")


def bench_profile(seed: int | None = None) -> Profile:
    """Zero latency, zero errors, short answers: the simulator as a benchmark upstream."""
    return default_profile(seed).as_bench()


BUILTIN = {"default": default_profile, "bench": bench_profile}


def load_profile(source: str | Path | Profile | None = None, seed: int | None = None) -> Profile:
    """A profile from a built-in name (`default`, `bench`), a YAML/JSON file, or as given.

    `seed` overrides the profile's seed when not None.
    """
    if isinstance(source, Profile):
        profile = source
    elif source is None or str(source) in BUILTIN:
        profile = BUILTIN[str(source or "default")]()
    else:
        raw = yaml.safe_load(Path(source).read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{source}: a profile is a mapping with a `models` key")
        profile = profile_from_dict(raw, name=Path(source).stem)
    if seed is not None:
        profile = replace(profile, seed=seed)
    return profile


def profile_from_dict(raw: dict[str, Any], name: str = "custom") -> Profile:
    """Parse the file format: `{base?, seed?, time_scale?, models: {name: {...}}}`."""
    base_name = raw.get("base")
    if base_name is not None and base_name not in BUILTIN:
        raise ValueError(f"base must be one of {sorted(BUILTIN)}, got {base_name!r}")
    base = BUILTIN[base_name]() if base_name else Profile()
    models = dict(base.models)
    for model, entry in (raw.get("models") or {}).items():
        models[model] = ModelProfile.parse(model, entry or {}, base=models.get(model))
    return Profile(
        models=models,
        seed=raw.get("seed", base.seed),
        time_scale=float(raw.get("time_scale", base.time_scale)),
        name=name,
    )
