"""`vigil report`: the HTML and the PDF (headless Chromium, read back with pdftotext) hold the
period's real figures as the stats API computes them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ADMIN_TOKEN
from test_ui_env import UIEnv, start_ui_env
from vigil.reports.periodic import windows
from vigil.reports.periodic_html import render, svg_bars

needs_pdf = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("pdftotext")),
    reason="Debian chromium and poppler-utils needed",
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIEnv]:
    e = start_ui_env(tmp_path_factory.mktemp("report"), seconds=5, llm_rps=15)
    yield e
    e.close()


@needs_pdf
def test_daily_report_pdf_has_the_stats_api_figures(env: UIEnv, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    run = subprocess.run(
        [sys.executable, "-m", "vigil", "report", "--period", "daily", "--out", str(out), "--pdf"],
        env={"VIGIL_URL": env.url, "VIGIL_ADMIN_TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    html_path, pdf_path = (Path(p) for p in run.stdout.split())
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    # no traffic arrives after the env is filled, so the last 24 h are the report's period
    stats = env.api("/api/v1/stats", since="24h", group_by="")["series"][0]
    models = env.api("/api/v1/stats/models", since="24h")["models"]
    assert f"{stats['requests'][0]:,}" in text
    assert f"${stats['cost_usd'][0]:,.4f}" in text or f"${stats['cost_usd'][0]:,.2f}" in text
    assert f"{stats['latency_s']['p95'][0]:.3f} s" in text
    assert f"{stats['latency_s']['p99'][0]:.3f} s" in text
    assert f"{stats['errors']['429'][0]:,}" in text
    for m in models:
        assert m["model"] in text
    assert "churn-classifier" in text  # drift and quality section
    assert ADMIN_TOKEN not in html_path.read_text()
    shots = Path(__file__).resolve().parent.parent / "test-artifacts" / "reports"
    shots.mkdir(parents=True, exist_ok=True)
    shutil.copy(pdf_path, shots / "daily.pdf")
    shutil.copy(html_path, shots / "daily.html")


def test_render_compares_with_the_previous_period_and_escapes() -> None:
    current, previous = windows("weekly")
    assert current.since == previous.until
    totals = {
        "requests": 200, "cost_usd": 2.5, "input_tokens": 10, "output_tokens": 5, "errors": 4,
        "errors_5xx": 1, "rate_limited": 2, "error_rate": 0.02, "p50_s": 0.1, "p95_s": 0.5,
        "p99_s": 0.9,
    }  # fmt: skip
    data = {
        "period": "weekly",
        "current": {"since": "a", "until": "b"},
        "previous": {"since": "c", "until": "d"},
        "totals": totals,
        "previous_totals": {**totals, "requests": 100},
        "series": None,
        "models": [
            {
                "model": "<script>",
                "requests": 1,
                "cost_usd": 0.1,
                "p95_latency_s": 1.0,
                "success_rate": 1.0,
            }
        ],
        "ml": [],
        "alerts": [],
        "alerts_available": False,
        "generated_at": "now",
    }
    html = render(data)
    assert "+100.0%" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert "<svg" in svg_bars([1.0, 2.0], ["x", "y"], "t")


def test_scheduled_delivery_writes_to_the_directory_and_posts_the_webhook(
    env: UIEnv, tmp_path: Path
) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from pydantic import SecretStr

    from vigil.reports.schedule import deliver, due_periods, next_midnight

    monday = datetime(2026, 11, 23, 0, 1, tzinfo=UTC)
    assert due_periods(["daily", "weekly"], monday) == ["daily", "weekly"]
    assert due_periods(["daily", "weekly"], monday.replace(day=24)) == ["daily"]
    assert next_midnight(monday.replace(hour=13)) == monday.replace(day=24)
    posted: list[bytes] = []

    import http.server
    import threading

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    reports = SimpleNamespace(
        out_dir=str(tmp_path),
        pdf=False,
        webhook_url=SecretStr(f"http://127.0.0.1:{hook.server_address[1]}/hook"),
    )
    config = SimpleNamespace(
        server=SimpleNamespace(port=env.vigil.port),
        store=SimpleNamespace(path=str(tmp_path / "x.duckdb")),
        reports=reports,
    )
    (written,) = deliver(SimpleNamespace(config=config, admin_token=ADMIN_TOKEN), "weekly")
    hook.shutdown()
    assert written.parent == tmp_path and "weekly" in written.name
    assert len(posted) == 1 and b"Vigil weekly report" in posted[0]
