"""Scheduled reports (`reports.schedule`): after each UTC midnight the daily report, after each
Monday's the weekly one, written to `reports.out_dir` and/or POSTed to `reports.webhook_url`.

The job reads the server's own API over loopback with the admin token, exactly as `vigil report`
does, so a scheduled report and a hand-run one are the same document.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from vigil.reports.command import api_fetcher, write_report

log = logging.getLogger("vigil.reports")


def due_periods(schedule: list[str], now: datetime) -> list[str]:
    """Periods whose report is due at the midnight `now` falls on (weekly: Mondays)."""
    return [p for p in schedule if p == "daily" or (p == "weekly" and now.weekday() == 0)]


def next_midnight(now: datetime) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1, minutes=1)  # a minute late: the last calls are committed


def deliver(state: Any, period: str) -> list[Path]:
    """Write one report where the config says; returns the files written."""
    cfg = state.config
    url = f"http://127.0.0.1:{cfg.server.port}"
    out = Path(cfg.reports.out_dir) if cfg.reports.out_dir else Path(cfg.store.path).parent
    written = write_report(api_fetcher(url, state.admin_token), period, out, cfg.reports.pdf)
    if cfg.reports.webhook_url is not None:
        html = written[0].read_text(encoding="utf-8")
        httpx.post(
            cfg.reports.webhook_url.get_secret_value(),
            json={"period": period, "file": written[0].name, "html": html},
            timeout=30,
        ).raise_for_status()
    return written


async def report_loop(state: Any) -> None:
    """Background job: sleep until the next midnight, deliver what is due, repeat."""
    while True:
        now = datetime.now(UTC)
        await asyncio.sleep(max((next_midnight(now) - now).total_seconds(), 1.0))
        for period in due_periods(list(state.config.reports.schedule), datetime.now(UTC)):
            try:
                files = await asyncio.to_thread(deliver, state, period)
                log.info("report delivered", extra={"period": period, "files": len(files)})
            except Exception as exc:  # a failed report must not stop the next one
                log.warning("report failed", extra={"period": period, "error": str(exc)})
