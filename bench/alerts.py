"""One alert evaluation cycle: 1,000 rules over 10 million stored calls, against the limit.

The rules mix every call signal (rates, error ratios by class, latency and TTFT percentiles, token
and cost rates) over four windows (1m, 5m, 15m, 1h), with group-by and filters on model, provider,
key and team, plus monitor and budget rules; about a third fire. A cycle is
`AlertService.cycle()`: signals -> state machine -> silences and inhibition -> routing ->
persistence, on the real store and write pipeline (no receivers: deliveries are separate tasks
and never part of a cycle). The limit is the grouped SQL the cycle runs (one GROUPING SETS query
per window, `vigil.alerts.signals.call_sql`, and the monitor query), executed in the same process
on the same store with `store.fetch`. The clock advances 15 s (the default interval) per cycle,
ending at the newest call, so windows slide and values change as in production; the first cycle
(every alert new) is shown apart.

The calls come from bench/stats.py's generator (10 M calls over 24 h) and its cached file, copied
so the alert tables written here never touch it (and another bench may hold it open).

Usage: python bench/alerts.py [--calls N] [--rules R] [--repeat N] [--path FILE] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stats import END, MODELS, describe, generate
from vigil.alerts.config import CALL_SIGNALS, AlertRule
from vigil.alerts.service import AlertService
from vigil.alerts.signals import MONITOR_SQL, Sources, _label_set, _naive, call_sql
from vigil.config import VigilConfig
from vigil.gctune import tune_gc
from vigil.metrics import VigilMetrics
from vigil.pipeline import WritePipeline
from vigil.store import open_store

WINDOWS = ["1m", "5m", "15m", "1h"]
GROUPINGS: list[tuple[list[str] | None, dict[str, str]]] = [
    (None, {}),  # model, provider
    (["model"], {}),
    (["team"], {}),
    (["key"], {}),
    (["model", "team"], {}),
    ([], {}),
    (["model"], {"provider": "openai"}),
    (None, {"team": "team-3"}),
    (["key"], {"model": "gpt-4o"}),
]
# (signal, threshold that fires on the generated data, threshold that does not)
THRESHOLDS = {
    "request_rate": (1.0, 1e6),
    "error_ratio": (0.01, 0.5),
    "latency_avg": (1.0, 100.0),
    "latency_p50": (1.0, 100.0),
    "latency_p95": (5.0, 100.0),
    "latency_p99": (5.0, 100.0),
    "ttft_p50": (0.1, 100.0),
    "ttft_p95": (0.5, 100.0),
    "input_token_rate": (1.0, 1e9),
    "output_token_rate": (1.0, 1e9),
    "cost_rate": (1e-6, 1e6),
}
SEVERITIES = ["critical", "warning", "info"]


def make_rules(count: int) -> list[dict[str, Any]]:
    """`count` rules: ~95% call rules (a third firing), the rest monitor and budget rules."""
    rules: list[dict[str, Any]] = []
    for i in range(count):
        base: dict[str, Any] = {"name": f"Rule{i:04d}", "severity": SEVERITIES[i % 3]}
        if i % 20 == 19:
            signal = ["drift_score", "performance", "budget_used", "llm_quality"][i // 20 % 4]
            extra = {"metric": "accuracy"} if signal == "performance" else {}
            extra |= {"metric": "refusal_rate"} if signal == "llm_quality" else {}
            rules.append({**base, "signal": signal, "window": "1h", "threshold": 0.5, **extra})
            continue
        signal = CALL_SIGNALS[i % len(CALL_SIGNALS)]
        group_by, filters = GROUPINGS[(i // len(CALL_SIGNALS)) % len(GROUPINGS)]
        fires, quiet = THRESHOLDS[signal]
        rule = {
            **base,
            "signal": signal,
            "error_class": ["5xx", "429", "4xx", "timeout", "total"][i % 5],
            "window": WINDOWS[(i // 7) % len(WINDOWS)],
            "threshold": fires if i % 3 == 0 else quiet,
            "for": "1m" if i % 2 else "0s",
            "filters": filters,
            "annotations": {"summary": "{{ $labels.model }} at {{ $value }}"},
        }
        if group_by is not None:
            rule["group_by"] = group_by
        rules.append(rule)
    return rules


def plain_sql(rules: list[AlertRule], now: datetime) -> list[tuple[str, list[Any]]]:
    """The queries one cycle runs, built by the same functions as `evaluate_signals`."""
    by_window: dict[timedelta, set[tuple[str, ...]]] = defaultdict(set)
    for rule in rules:
        if rule.signal in CALL_SIGNALS:
            by_window[rule.window].add(_label_set(rule))
    out = []
    for window, sets in by_window.items():
        sql, _ = call_sql(sorted(sets))
        out.append((sql, [_naive(now - window), _naive(now)]))
    monitors = ["data_drift", "output_drift", "performance", "llm_quality"]
    sql = MONITOR_SQL.format(monitors=", ".join("?" for _ in monitors))
    out.append((sql, [_naive(now - timedelta(hours=1)), _naive(now), *monitors]))
    return out


async def run(args: argparse.Namespace, path: Path) -> None:
    cfg = VigilConfig.model_validate(
        {"alerts": {"default_rules": False, "rules": make_rules(args.rules)}}
    ).alerts
    store = open_store(str(path))
    pipeline = WritePipeline(store, VigilMetrics(), queue_max=1000, high_water_ratio=0.8,
                             batch_max=100, flush_interval=0.01, retry_after=1.0)  # fmt: skip
    pipeline.start()
    budgets = [(f"key-{k}", "", k / 200) for k in range(200)]
    sources = Sources(budgets=lambda: budgets)
    step = timedelta(seconds=15)
    start = END - (args.repeat + 1) * step
    service = AlertService(store, pipeline.run_exclusive, lambda: cfg, sources, lambda: start)
    try:
        await service.start()
        tune_gc()  # as `vigil serve` does once started
        started = time.perf_counter()
        first = await service.cycle(start)
        first_s = time.perf_counter() - started
        alerts = service.evaluator.active()
        firing = sum(a.state == "firing" for a in alerts)
        profile = cProfile.Profile() if args.profile else None
        cycles = []
        for i in range(args.repeat):
            if profile:
                profile.enable()
            started = time.perf_counter()
            await service.cycle(start + (i + 1) * step)
            cycles.append(time.perf_counter() - started)
            if profile:
                profile.disable()
        queries = plain_sql(list(cfg.rules), END)
        plain = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            for sql, params in queries:
                store.fetch(sql, params)
            plain.append(time.perf_counter() - started)
    finally:
        await service.stop()
        pipeline.close()
        store.close()
    calls = len(cfg.rules)
    print(f"{calls:,} rules, {len(queries)} queries per cycle; first cycle {first_s * 1000:.0f} ms "
          f"({len(first):,} transitions); {len(alerts):,} alerts, {firing:,} firing")  # fmt: skip
    print(f"{args.repeat} cycles each")
    print(describe("evaluation cycle", cycles))
    print(describe("same SQL in DuckDB (limit)", plain))
    p95 = sorted(cycles)[round(0.95 * (len(cycles) - 1))]
    p95_sql = sorted(plain)[round(0.95 * (len(plain) - 1))]
    print(f"ratio cycle/SQL: p95 {p95 / p95_sql:.2f}x, best {min(cycles) / min(plain):.2f}x")
    print(f"target <= 1 s per cycle: {'met' if p95 <= 1.0 else 'NOT met'} (p95 {p95:.2f} s)")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--path", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="cProfile the steady cycles")
    args = parser.parse_args()
    path = args.path or Path(tempfile.gettempdir()) / f"vigil-bench-stats-{args.calls}.duckdb"
    if not path.exists():
        seconds = generate(path, args.calls, 1.0)
        print(f"generated {args.calls:,} calls over 1 day in {seconds:.1f} s")
    else:
        print(f"reusing {path} ({args.calls:,} calls, bench/stats.py's file)")
    print(f"models: {', '.join(MODELS)}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "alerts.duckdb"
        shutil.copyfile(path, copy)
        asyncio.run(run(args, copy))


if __name__ == "__main__":
    main()
