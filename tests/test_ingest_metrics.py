"""Ingest counts a batch of calls in the LLM metrics at once; the exposition must be the one that
counting each call on its own (as the gateway does) gives."""

from __future__ import annotations

import math
import random
from typing import Any

from prometheus_client import CollectorRegistry

from vigil.metrics import VigilMetrics
from vigil.metrics.registry import LATENCY_BUCKETS, BatchHistogram
from vigil.records import CallRecord


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[Any, ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        if metric.name.startswith("vigil_") and metric.name != "vigil_build"
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def _histograms() -> tuple[Any, Any]:
    """The same histogram in two registries: observed one by one, and all at once."""
    pair = []
    for _ in range(2):
        histogram = BatchHistogram(
            "h", "h", ["a"], buckets=LATENCY_BUCKETS, registry=CollectorRegistry()
        )
        pair.append(histogram.labels("x"))
    return pair[0], pair[1]


def _buckets_and_sum(histogram: Any) -> tuple[list[float], float]:
    samples = histogram.collect()[0].samples
    return [s.value for s in samples if s.name.endswith("_bucket")], next(
        s.value for s in samples if s.name.endswith("_sum")
    )


def test_observe_many_counts_like_observe() -> None:
    rng = random.Random(3)
    for amounts in (
        [*LATENCY_BUCKETS, 0.0, -1.0, math.inf, 0.0249, 0.0251, 1e9],
        [rng.uniform(0, 700) for _ in range(500)],
        [math.nan, 1.0, -math.inf],
        [0.5],
        [],
    ):
        one, many = _histograms()
        for amount in amounts:
            one.observe(amount)
        many.observe_many(amounts)
        (buckets_one, sum_one), (buckets_many, sum_many) = map(_buckets_and_sum, (one, many))
        assert buckets_one == buckets_many, amounts
        assert math.isclose(sum_one, sum_many) or (math.isnan(sum_one) and math.isnan(sum_many))


def test_a_batch_of_calls_counts_like_each_call() -> None:
    rng = random.Random(7)
    calls = [
        CallRecord(
            model=rng.choice(["a", "b"]),
            provider=rng.choice(["p", "q"]),
            status_code=rng.choice([200, 200, 429, 500]),
            input_tokens=rng.randint(0, 50),
            output_tokens=rng.randint(0, 5),
            cached_input_tokens=rng.choice([0, 0, 3]),
            cost_usd=rng.choice([0.0, 0.25, 0.5]),
            duration_s=rng.choice([0.025, 0.3, 2.0, 700.0]),
            ttft_s=rng.choice([None, 0.01, 0.4]),
        )
        for _ in range(300)
    ]
    each, batch = VigilMetrics(), VigilMetrics()
    for call in calls:
        each.observe_call(call)
    batch.observe_calls(calls)
    assert _samples(each.registry) == _samples(batch.registry)
