"""UI benchmark: time to fully rendered of the Overview and LLM pages with 10 M stored calls.

Generates the calls like bench/stats.py (ending now, spread over `--days`), runs `vigil serve` on
the file as a child process, logs in with Debian's Chromium (Playwright) and times, per page,
navigation start to the moment the page's data is on screen (`body[data-ready]`, set after every
fetch and chart of the page). Prints best and median of `--repeat` loads; target: <= 1 s.

    python bench/ui.py [--calls 10000000] [--days 1] [--repeat 10] [--range 1h] [--reuse]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
import stats as stats_bench  # bench/stats.py: the 10 M-call generator
from vigil.reports.command import BROWSER_FLAGS

TOKEN = "bench-ui-admin-token"
ARGS = BROWSER_FLAGS


def start_server(store: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = workdir / "vigil.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"port": port, "admin_token": TOKEN, "log_level": "warning"},
                "store": {"path": str(store)},
                "monitors": {"enabled": False},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("vigil did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--range", default="1h", help="the pages' time range (15m .. 30d)")
    parser.add_argument("--reuse", action="store_true", help="keep an existing store file")
    args = parser.parse_args()
    workdir = Path(tempfile.gettempdir()) / "vigil-bench-ui"
    workdir.mkdir(exist_ok=True)
    store = workdir / f"calls-{args.calls}.duckdb"
    if not (args.reuse and store.exists()):
        stats_bench.END = datetime.now(UTC) + timedelta(minutes=1)
        took = stats_bench.generate(store, args.calls, args.days)
        print(f"generated {args.calls:,} calls over {args.days} d in {took:.1f} s")
    proc, url = start_server(store, workdir)
    try:
        with sync_playwright() as p:
            chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(url + "/login")
            page.get_by_label("Token").fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            for path in ("/", "/llm"):
                samples = []
                for _ in range(args.repeat + 1):  # the first load warms DuckDB's caches
                    page.goto(f"{url}{path}?range={args.range}")
                    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
                    samples.append(float(page.evaluate("document.body.dataset.readyAt")) / 1000)
                samples = samples[1:]
                name = "Overview" if path == "/" else "LLM"
                print(
                    f"{name:8s} page, {args.calls:,} calls, range {args.range}: time to fully "
                    f"rendered best {min(samples) * 1000:.0f} ms, median "
                    f"{statistics.median(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms "
                    f"({args.repeat} loads; target <= 1000 ms)"
                )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
