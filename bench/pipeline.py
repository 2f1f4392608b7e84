"""Sustained committed records/s through the write pipeline into DuckDB, against the limit.

The limit is a plain DuckDB Arrow insert of the same rows in the same run: the records turned into
one Arrow table and inserted in a single transaction (what the pipeline does, minus queueing,
batching and acknowledgements). Two pipeline workloads are measured:

- ingest: concurrent producers each `await pipeline.write(batch)` (acknowledged after commit), the
  way `POST /api/v1/events` uses it;
- telemetry: one producer calling `offer(record)` per record, the way the gateway uses it.

Each figure is the best of `--repeat` runs (default 3) on a fresh DuckDB file, so a moment of
noise from another process does not decide the result.

Usage: python bench/pipeline.py [--records N] [--batch B] [--producers P] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.metrics import VigilMetrics
from vigil.pipeline import WritePipeline
from vigil.records import CallRecord
from vigil.store import DuckDBStore
from vigil.store.arrow import to_arrow

MODELS = [
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("claude-3-5-sonnet-latest", "anthropic"),
]


def make_records(n: int, seed: int = 7) -> list[CallRecord]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        model, provider = MODELS[i % len(MODELS)]
        out.append(
            CallRecord(
                id=f"{i:012x}",
                ts=start + timedelta(milliseconds=i),
                model=model,
                provider=provider,
                deployment=model,
                key_id=f"key-{i % 50}",
                team="team-a" if i % 2 else "team-b",
                status_code=429 if i % 97 == 0 else 200,
                input_tokens=rng.randint(10, 4000),
                output_tokens=rng.randint(1, 800),
                cost_usd=rng.random() / 100,
                duration_s=rng.random() * 3,
                ttft_s=rng.random() / 2,
                stream=bool(i % 3),
                request_id=f"req-{i}",
                metadata={"route": "chat", "n": i % 5} if i % 10 == 0 else None,
            )
        )
    return out


def bench_limit(records: list[CallRecord], directory: Path) -> tuple[float, float, float]:
    store = DuckDBStore(directory / "limit.duckdb")
    t0 = time.perf_counter()
    table = to_arrow(CallRecord, records)
    t1 = time.perf_counter()
    cur = store._con.cursor()
    cur.execute("BEGIN TRANSACTION")
    cur.register("__batch", table)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    cur.execute(f"INSERT INTO llm_calls ({cols}) SELECT {cols} FROM __batch")
    cur.execute("COMMIT")
    t2 = time.perf_counter()
    assert store.fetch("SELECT count(*) FROM llm_calls")[0][0] == len(records)
    store.close()
    return t2 - t0, t1 - t0, t2 - t1


async def _ingest(
    pipeline: WritePipeline, records: list[CallRecord], batch: int, producers: int
) -> None:
    chunks = [records[i : i + batch] for i in range(0, len(records), batch)]
    queue: asyncio.Queue[list[CallRecord]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def producer() -> None:
        while not queue.empty():
            await pipeline.write(queue.get_nowait())

    await asyncio.gather(*(producer() for _ in range(producers)))


def bench_ingest(records: list[CallRecord], directory: Path, batch: int, producers: int) -> float:
    store = DuckDBStore(directory / "ingest.duckdb")
    pipeline = WritePipeline(store, VigilMetrics(), queue_max=max(200_000, batch * producers * 2))
    pipeline.start()
    t0 = time.perf_counter()
    asyncio.run(_ingest(pipeline, records, batch, producers))
    elapsed = time.perf_counter() - t0
    pipeline.close()
    assert store.fetch("SELECT count(*) FROM llm_calls")[0][0] == len(records)
    store.close()
    return elapsed


def bench_telemetry(records: list[CallRecord], directory: Path) -> tuple[float, int]:
    store = DuckDBStore(directory / "telemetry.duckdb")
    pipeline = WritePipeline(store, VigilMetrics(), queue_max=len(records))
    pipeline.start()
    t0 = time.perf_counter()
    dropped = sum(not pipeline.offer(r) for r in records)
    pipeline.close()  # returns once everything offered is committed
    elapsed = time.perf_counter() - t0
    committed = store.fetch("SELECT count(*) FROM llm_calls")[0][0]
    assert committed + dropped == len(records)
    store.close()
    return elapsed, dropped


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per ingest request")
    parser.add_argument("--producers", type=int, default=8, help="concurrent ingest producers")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    args = parser.parse_args()

    print(f"building {args.records:,} CallRecords ...", flush=True)
    records = make_records(args.records)
    n = len(records)
    limits, ingests, telemetries = [], [], []
    dropped = 0
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            limits.append(bench_limit(records, directory))
            ingests.append(bench_ingest(records, directory, args.batch, args.producers))
            secs, lost = bench_telemetry(records, directory)
            telemetries.append(secs)
            dropped += lost
        print(
            f"run {run + 1}/{args.repeat}: limit {limits[-1][0]:.2f}s, ingest {ingests[-1]:.2f}s, "
            f"telemetry {telemetries[-1]:.2f}s",
            flush=True,
        )
    limit_s, arrow_s, insert_s = min(limits)
    ingest_s, telemetry_s = min(ingests), min(telemetries)

    limit_rate = n / limit_s
    print(
        f"limit (one Arrow table, one INSERT): {limit_rate:12,.0f} records/s"
        f"  (to Arrow {arrow_s:.2f}s + insert {insert_s:.2f}s;"
        f" the insert alone {n / insert_s:,.0f} records/s)"
    )
    for name, secs in (("pipeline ingest   ", ingest_s), ("pipeline telemetry", telemetry_s)):
        rate = n / secs
        print(f"{name}: {rate:12,.0f} records/s committed  ratio to limit {rate / limit_rate:.2f}")
    print(f"telemetry dropped: {dropped}")
    ingest_rate = n / ingest_s
    ok = ingest_rate >= 200_000 and ingest_rate / limit_rate >= 0.5
    print(
        "target (>= 200,000 records/s and >= 0.5 of the limit, ingest): "
        + ("met" if ok else "NOT met")
    )


if __name__ == "__main__":
    main()
