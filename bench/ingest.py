"""Acknowledged events/s through `POST /api/v1/events` and spans/s through OTLP, on a real server.

A `vigil serve` process is started on a fresh store; concurrent senders (asyncio + aiohttp in this
process) post 1,000-event batches, each answered only once committed. Bodies are built before the
clock starts, so the figure is the server's, not the client's JSON encoder (the client still
shares the machine's two cores with the server). Figures:

- events/s: `llm_call` events as a JSON array, without ids (Vigil assigns them);
- events/s with client ids: the same with an id per event (the idempotency check runs);
- spans/s: OTLP protobuf `ExportTraceServiceRequest`s of 1,000 spans, a tenth of them GenAI spans
  (which also become LLM calls);
- the pipeline's own limit measured in the same run (`bench/pipeline.py`'s `bench_ingest`: the
  same records written straight into `WritePipeline.write`, no HTTP, no JSON), and the ratio.

Each figure is the best of `--repeat` runs (default 3). Usage:
python bench/ingest.py [--events N] [--batch B] [--senders S] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import orjson
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

sys.path.insert(0, str(Path(__file__).parent))
from pipeline import bench_ingest, make_records

TOKEN = "bench-admin-token"


class Server:
    """`python -m vigil serve` on a free port and a fresh store, as a user runs it."""

    def __init__(self, directory: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = {
            "server": {"port": self.port, "admin_token": TOKEN, "log_level": "warning"},
            "store": {"path": str(directory / "vigil.duckdb")},
            "pipeline": {"queue_max_records": 400_000},
        }
        (directory / "vigil.yaml").write_text(yaml.safe_dump(config))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil", "serve", "--config", str(directory / "vigil.yaml")],
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("vigil did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def event_bodies(n: int, batch: int, with_ids: bool) -> list[bytes]:
    events = []
    for record in make_records(n, seed=11):
        event = dataclasses.asdict(record)
        event["kind"] = "llm_call"
        event["ts"] = record.ts.isoformat()
        if not with_ids:
            del event["id"]
        events.append(event)
    return [orjson.dumps(events[i : i + batch]) for i in range(0, n, batch)]


def span_bodies(n: int, batch: int) -> list[bytes]:
    rng = random.Random(5)
    bodies = []
    start = time.time_ns()
    for first in range(0, n, batch):
        request = trace_pb.ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.add(key="service.name").value.string_value = "bench"
        spans = rs.scope_spans.add().spans
        for i in range(first, min(first + batch, n)):
            span = spans.add(
                trace_id=(i // 10).to_bytes(16, "big") or b"\x01",
                span_id=(i + 1).to_bytes(8, "big"),
                name="chat gpt-4o-mini" if i % 10 == 0 else "work",
                kind=3,
                start_time_unix_nano=start + i * 1000,
                end_time_unix_nano=start + i * 1000 + rng.randint(10**6, 10**9),
            )
            span.attributes.add(key="http.route").value.string_value = "/chat"
            if i % 10 == 0:
                for key, value in (
                    ("gen_ai.operation.name", "chat"),
                    ("gen_ai.provider.name", "openai"),
                    ("gen_ai.request.model", "gpt-4o-mini"),
                ):
                    span.attributes.add(key=key).value.string_value = value
                span.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = 800
                span.attributes.add(key="gen_ai.usage.output_tokens").value.int_value = 120
        bodies.append(request.SerializeToString())
    return bodies


async def send_all(url: str, bodies: list[bytes], senders: int, content_type: str) -> float:
    """Post every body from `senders` concurrent connections; seconds until the last ack."""
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": content_type}
    pending = list(reversed(bodies))

    async def sender(session: aiohttp.ClientSession) -> None:
        while pending:
            body = pending.pop()
            while True:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        break
                    if resp.status != 503:
                        raise RuntimeError(f"{url} answered {resp.status}")
                await asyncio.sleep(float(resp.headers.get("retry-after", "0.1")))

    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(senders)))
        return time.perf_counter() - t0


def run_once(args: argparse.Namespace, bodies: dict[str, list[bytes]]) -> dict[str, float]:
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            for name, path, media in (
                ("events", "/api/v1/events", "application/json"),
                ("events_with_ids", "/api/v1/events", "application/json"),
                ("spans", "/v1/traces", "application/x-protobuf"),
            ):
                seconds = asyncio.run(
                    send_all(server.url + path, bodies[name], args.senders, media)
                )
                rates[name] = args.events / seconds
        finally:
            server.stop()
        records = make_records(args.events)
        rates["pipeline"] = args.events / bench_ingest(records, Path(tmp), args.batch, args.senders)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="events (and spans) per run")
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best of each counts")
    args = parser.parse_args()
    print(f"building {args.events:,} events and spans ...", flush=True)
    bodies = {
        "events": event_bodies(args.events, args.batch, with_ids=False),
        "events_with_ids": event_bodies(args.events, args.batch, with_ids=True),
        "spans": span_bodies(args.events, args.batch),
    }
    best: dict[str, float] = {}
    for run in range(args.repeat):
        rates = run_once(args, bodies)
        print(
            f"run {run + 1}/{args.repeat}: "
            + ", ".join(f"{k} {v:,.0f}/s" for k, v in rates.items()),
            flush=True,
        )
        for key, value in rates.items():
            best[key] = max(best.get(key, 0.0), value)
    limit = best["pipeline"]
    print(
        f"cores: {os.cpu_count()}, batches of {args.batch}, {args.senders} senders, best of "
        f"{args.repeat}"
    )
    print(f"pipeline limit (WritePipeline.write, no HTTP): {limit:12,.0f} records/s")
    for key, label in (
        ("events", "POST /api/v1/events          "),
        ("events_with_ids", "POST /api/v1/events (ids)    "),
        ("spans", "POST /v1/traces (protobuf)   "),
    ):
        unit = "spans/s " if key == "spans" else "events/s"
        ratio = best[key] / limit
        print(f"{label}: {best[key]:12,.0f} {unit} acknowledged  ratio to limit {ratio:.2f}")
    met = best["events"] >= 100_000
    print("target (>= 100,000 events/s acknowledged): " + ("met" if met else "NOT met"))


if __name__ == "__main__":
    main()
