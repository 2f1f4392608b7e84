"""A small HTTP load generator for the benches, run as its own process (its own GIL and core).

Two modes, both on loopback only and bounded in time:
- `saturate`: C concurrent clients loop for D seconds; prints requests/s.
- `rate`: an open-loop schedule of R requests/s for D seconds (a late request is not skipped, so
  queueing shows in the latency); prints latency percentiles.

Usage: python bench/loadgen.py saturate|rate URL --body JSON [--header K:V] [--stream] ...
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import aiohttp
import numpy as np


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.")):
        sys.exit(f"refusing to load {host}: load tests target loopback (127.0.0.0/8) only")


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, stream: bool) -> int:
    async with session.post(url, data=body) as resp:
        if stream:
            async for _ in resp.content.iter_any():
                pass
        else:
            await resp.read()
        return resp.status


async def saturate(
    url: str, body: bytes, headers: dict[str, str], stream: bool, concurrency: int, duration: float
) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        for _ in range(concurrency):  # warm the connections
            await _one(session, url, body, stream)
        done = errors = 0
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                status = await _one(session, url, body, stream)
                done += 1
                errors += status != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"requests": done, "errors": errors, "rps": done / elapsed}


async def rate(
    url: str, body: bytes, headers: dict[str, str], stream: bool, rps: float, duration: float
) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=0)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        for _ in range(20):
            await _one(session, url, body, stream)

        async def timed(at: float) -> None:
            nonlocal errors
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.perf_counter()
            status = await _one(session, url, body, stream)
            latencies.append(time.perf_counter() - started)
            errors += status != 200

        start = time.perf_counter() + 0.05
        n = int(rps * duration)
        await asyncio.gather(*(timed(start + i / rps) for i in range(n)))
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("mode", choices=["saturate", "rate"])
    parser.add_argument("url")
    parser.add_argument("--body", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rps", type=float, default=200)
    parser.add_argument("--duration", type=float, default=5)
    args = parser.parse_args()
    _loopback_only(args.url)
    headers = {"content-type": "application/json"}
    for h in args.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    body = args.body.encode()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.mode == "saturate":
        result = asyncio.run(
            saturate(args.url, body, headers, args.stream, args.concurrency, args.duration)
        )
    else:
        result = asyncio.run(rate(args.url, body, headers, args.stream, args.rps, args.duration))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
