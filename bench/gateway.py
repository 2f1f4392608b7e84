"""Gateway overhead and throughput: direct-to-upstream vs Vigil vs LiteLLM proxy, in one run.

The upstream is Vigil's simulated OpenAI server with the zero-latency `bench` profile, in its own
process. Each target is measured in turn (never two at once) by `bench/loadgen.py` in its own
process:
- saturation: requests/s with 32 concurrent clients;
- added latency: P50/P99 at a fixed 200 requests/s, minus the direct figure at the same rate;
both non-stream and stream. LiteLLM runs from `.venv-litellm` (`make bench-peers` creates it) with
the same worker count as Vigil (1); it is skipped with a note when not installed.

Direct and Vigil are measured back to back `--repeat` times (default 3) and the report gives the
medians of the figures paired within each round, with their spread: on this VM the same
measurement varies by 2x from one minute to the next. LiteLLM is measured once, after them.

Usage: python bench/gateway.py [--duration S] [--rate R] [--concurrency C] [--repeat N]
                                [--no-litellm]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
KEY = "vk-bench-0123456789abcdef0123456789"
BODY = {
    "model": "bench-model",
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 16,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1, headers=headers).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {timeout}s")


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )


def load(
    mode: str, url: str, key: str, stream: bool, args: argparse.Namespace, model: str
) -> dict[str, Any]:
    body = dict(BODY, stream=stream, model=model)
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "loadgen.py"),
        mode,
        url,
        "--body",
        json.dumps(body),
        "--header",
        f"authorization: Bearer {key}",
        "--duration",
        str(args.duration),
        "--concurrency",
        str(args.concurrency),
        "--rps",
        str(args.rate),
    ]
    if stream:
        cmd.append("--stream")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration * 20 + 120)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(
    name: str, url: str, key: str, args: argparse.Namespace, model: str = "bench-model"
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stream in (False, True):
        kind = "stream" if stream else "non-stream"
        sat = load("saturate", url, key, stream, args, model)
        lat = load("rate", url, key, stream, args, model)
        out[kind] = {
            "rps": sat["rps"],
            "errors": sat["errors"] + lat["errors"],
            "p50_ms": lat["p50_ms"],
            "p99_ms": lat["p99_ms"],
        }
        print(
            f"  {name:8s} {kind:10s} saturation {sat['rps']:8.0f} req/s   at {args.rate:.0f} req/s "
            f"P50 {lat['p50_ms']:7.2f} ms  P99 {lat['p99_ms']:7.2f} ms  "
            f"errors {out[kind]['errors']}",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of direct + Vigil, back to back"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sim_port, vigil_port, litellm_port = free_port(), free_port(), free_port()
        procs.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "vigil",
                    "sim",
                    "--bench",
                    "--openai-port",
                    str(sim_port),
                    "--anthropic-port",
                    str(free_port()),
                ],
                tmp / "sim.log",
            )
        )
        sim_base = f"http://127.0.0.1:{sim_port}/v1"
        wait_http(sim_base + "/models", 30, {"authorization": "Bearer x"})

        config = {
            "server": {"port": vigil_port, "log_level": "warning"},
            "store": {"path": str(tmp / "vigil.duckdb")},
            "providers": {"sim": {"type": "openai", "api_base": sim_base, "api_key": "sk-sim"}},
            "models": {
                "bench-model": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}
            },
            "keys": [{"alias": "bench", "key": KEY}],
        }
        (tmp / "vigil.yaml").write_text(yaml.safe_dump(config))
        procs.append(
            start(
                [sys.executable, "-m", "vigil", "serve", "--config", str(tmp / "vigil.yaml")],
                tmp / "vigil.log",
            )
        )
        wait_http(f"http://127.0.0.1:{vigil_port}/healthz", 60)

        print(
            f"upstream: simulated OpenAI (bench profile); {args.concurrency} clients for "
            f"saturation, {args.rate:.0f} req/s for latency, {args.duration:.0f} s each"
        )
        rounds = []
        for r in range(args.repeat):
            print(f" round {r + 1}/{args.repeat}", flush=True)
            direct = measure("direct", sim_base + "/chat/completions", "x", args, "gpt-4o-mini")
            vigil = measure(
                "vigil", f"http://127.0.0.1:{vigil_port}/v1/chat/completions", KEY, args
            )
            rounds.append({"direct": direct, "vigil": vigil})
        results: dict[str, Any] = {"rounds": rounds}
        vigil_rss = _rss_mb(procs[-1].pid)

        if not args.no_litellm and LITELLM.exists():
            lconf = {
                "model_list": [
                    {
                        "model_name": "bench-model",
                        "litellm_params": {
                            "model": "openai/gpt-4o-mini",
                            "api_base": sim_base,
                            "api_key": "sk-sim",
                        },
                    }
                ],
                "general_settings": {"master_key": "sk-litellm-bench"},
            }
            (tmp / "litellm.yaml").write_text(yaml.safe_dump(lconf))
            procs.append(
                start(
                    [
                        str(LITELLM),
                        "--config",
                        str(tmp / "litellm.yaml"),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(litellm_port),
                        "--num_workers",
                        "1",
                    ],
                    tmp / "litellm.log",
                    {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"},
                )
            )
            wait_http(f"http://127.0.0.1:{litellm_port}/health/liveliness", 180)
            results["litellm"] = measure(
                "litellm",
                f"http://127.0.0.1:{litellm_port}/v1/chat/completions",
                "sk-litellm-bench",
                args,
            )
        else:
            print("  litellm  not measured (create .venv-litellm: make bench-peers)")
        report(results, vigil_rss, args)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def report(results: dict[str, Any], vigil_rss: float, args: argparse.Namespace) -> None:
    """Medians over the rounds of figures paired within a round (direct and Vigil measured back to
    back), so a machine that speeds up or slows down between rounds moves both sides alike."""
    rounds = results["rounds"]
    print(f"\nVigil RSS after the runs: {vigil_rss:.0f} MB; medians of {len(rounds)} round(s)")
    for kind in ("non-stream", "stream"):
        pairs = [(r["direct"][kind], r["vigil"][kind]) for r in rounds]
        added50s = [v["p50_ms"] - d["p50_ms"] for d, v in pairs]
        added99s = [v["p99_ms"] - d["p99_ms"] for d, v in pairs]
        ratios = [v["rps"] / d["rps"] for d, v in pairs]
        added50, added99, ratio = _median(added50s), _median(added99s), _median(ratios)
        rps = _median([v["rps"] for _, v in pairs])
        line = (
            f"{kind:10s} Vigil added latency at {args.rate:.0f} req/s: P50 {added50:+.2f} ms "
            f"({min(added50s):+.2f}..{max(added50s):+.2f}), P99 {added99:+.2f} ms "
            f"({min(added99s):+.2f}..{max(added99s):+.2f}); throughput {rps:.0f} req/s = "
            f"{ratio:.2f}x direct ({min(ratios):.2f}..{max(ratios):.2f})"
        )
        if "litellm" in results:
            lite = results["litellm"][kind]
            direct50 = _median([d["p50_ms"] for d, _ in pairs])
            line += (
                f", {rps / lite['rps']:.1f}x LiteLLM ({lite['rps']:.0f} req/s; LiteLLM adds "
                f"P50 {lite['p50_ms'] - direct50:+.1f} ms)"
            )
        print(line)
        met = added50 <= 1 and added99 <= 5 and ratio >= 0.4
        if "litellm" in results:
            met = met and rps >= 5 * results["litellm"][kind]["rps"]
        print(
            f"{'':10s} targets (P50 <= 1 ms, P99 <= 5 ms, >= 0.4x direct, >= 5x LiteLLM): "
            f"{'met' if met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
