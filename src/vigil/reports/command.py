"""`vigil report --period daily|weekly [--out DIR] [--pdf]`: the periodic report of a running Vigil.

It reads the server's API (`--url`/`--token`, or `VIGIL_URL`/`VIGIL_ADMIN_TOKEN`) rather than the
DuckDB file, which the server holds open as its only writer. The PDF is the same HTML printed by
headless Chromium (Debian's `chromium`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from vigil.reports.periodic import gather
from vigil.reports.periodic_html import render

BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
"""Debian's Chromium as a quiet, offline, sandbox-free tool (as root in CI); the UI tests and
`bench/ui.py` launch it with the same flags."""
CHROMIUM_ARGS = ["--headless", *BROWSER_FLAGS, "--no-pdf-header-footer"]


def api_fetcher(url: str, token: str) -> Any:
    client = httpx.Client(
        base_url=url.rstrip("/"), headers={"authorization": f"Bearer {token}"}, timeout=120
    )

    def fetch(path: str, params: dict[str, str]) -> Any:
        r = client.get(path, params=params)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    return fetch


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def html_to_pdf(html_path: Path, pdf_path: Path, timeout: float = 120) -> None:
    """Print a local HTML file to PDF with headless Chromium (its own throwaway profile)."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium not found: install Debian's `chromium` for --pdf")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                binary,
                *CHROMIUM_ARGS,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={pdf_path}",
                html_path.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise RuntimeError("chromium did not write the PDF")


def write_report(fetch: Any, period: str, out: Path, pdf: bool) -> list[Path]:
    """Gather, render and write `vigil-<period>-<date>.html` (and `.pdf`) into `out`."""
    data = gather(fetch, period)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    html_path = out / f"vigil-{period}-{stamp}.html"
    html_path.write_text(render(data), encoding="utf-8")
    written = [html_path]
    if pdf:
        pdf_path = html_path.with_suffix(".pdf")
        html_to_pdf(html_path, pdf_path)
        written.append(pdf_path)
    return written


def report_command(
    period: Annotated[str, typer.Option(help="daily or weekly.")] = "daily",
    out: Annotated[Path, typer.Option(help="Directory the report is written to.")] = Path("."),
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also print a PDF (headless Chromium).")
    ] = False,
    url: Annotated[
        str, typer.Option("--url", envvar="VIGIL_URL", help="Vigil's base URL.")
    ] = "http://127.0.0.1:4000",
    token: Annotated[
        str,
        typer.Option(
            "--token", envvar="VIGIL_ADMIN_TOKEN", help="Admin token.", show_default=False
        ),
    ] = "",
) -> None:
    """Write the daily or weekly report (HTML, optionally PDF) of a running Vigil."""
    console = Console(stderr=True)
    if period not in ("daily", "weekly"):
        console.print("[red]error:[/] --period is daily or weekly")
        raise typer.Exit(2)
    try:
        written = write_report(api_fetcher(url, token), period, out, pdf)
    except httpx.HTTPError as exc:
        console.print(f"[red]error:[/] cannot read Vigil's API at {url}: {exc}")
        raise typer.Exit(1) from exc
    except (RuntimeError, subprocess.SubprocessError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    for path in written:
        typer.echo(str(path))
