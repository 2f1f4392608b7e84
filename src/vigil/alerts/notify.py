"""Payloads and delivery: Alertmanager API v2, Alertmanager webhook format v4, Slack webhooks.

Every delivery runs in its own task with aiohttp timeouts and retries with exponential backoff, so a
slow or failing receiver delays only its own messages, never the evaluation loop. Each finished
delivery (sent or given up) is reported to `on_result` for the delivery log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr

from vigil.alerts.routing import Notification
from vigil.alerts.state import Alert

log = logging.getLogger("vigil.alerts")
ZERO_TIME = "0001-01-01T00:00:00Z"


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def generator_url(external_url: str, alert: Alert) -> str:
    return f"{external_url.rstrip('/')}/api/v1/alerts?rule={alert.rule}"


def alertmanager_alert(alert: Alert, ends_at: datetime, external_url: str) -> dict[str, Any]:
    """One element of `POST /api/v2/alerts` (Alertmanager's `postableAlert`)."""
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": iso(alert.fired_at or alert.active_at),
        "endsAt": iso(ends_at),
        "generatorURL": generator_url(external_url, alert),
    }


def webhook_payload(n: Notification, external_url: str) -> dict[str, Any]:
    """Alertmanager's webhook body, version 4, so receivers written for Alertmanager work."""
    alerts = [_webhook_alert(a, external_url) for a in n.alerts]
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": _common([a.labels for a in n.alerts]),
        "commonAnnotations": _common([a.annotations for a in n.alerts]),
        "externalURL": external_url,
        "alerts": alerts,
    }


def _webhook_alert(a: Alert, external_url: str) -> dict[str, Any]:
    resolved = a.state == "resolved" and a.resolved_at is not None
    return {
        "status": "resolved" if resolved else "firing",
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": iso(a.fired_at or a.active_at),
        "endsAt": iso(a.resolved_at) if resolved and a.resolved_at else ZERO_TIME,
        "generatorURL": generator_url(external_url, a),
        "fingerprint": a.fingerprint,
    }


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


_EMOJI = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}


def slack_payload(n: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook message: one line per alert, resolved ones marked."""
    lines = []
    for a in n.alerts:
        resolved = a.state == "resolved"
        mark = ":white_check_mark: RESOLVED" if resolved else _EMOJI.get(a.severity, "")
        summary = a.annotations.get("summary") or a.labels.get("alertname", a.rule)
        lines.append(f"{mark} *{a.labels.get('alertname', a.rule)}* {summary}".strip())
    return {"text": "\n".join(lines)}


def shown_url(url: SecretStr) -> str:
    """What logs and the delivery log show of a receiver URL: scheme and host only, since
    webhook URLs carry their credential in the path (Slack) or the user info."""
    try:
        parts = urlsplit(url.get_secret_value())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "********"
    return f"{parts.scheme}://{host}{port}/********"


@dataclass(frozen=True)
class Delivery:
    """One HTTP message to send, and what the delivery log records about it."""

    receiver: str
    kind: str  # alertmanager | webhook | slack
    url: SecretStr
    body: Any
    timeout: timedelta
    max_attempts: int
    group_key: str = ""

    @property
    def display_url(self) -> str:
        return shown_url(self.url)


@dataclass(frozen=True)
class DeliveryResult:
    delivery: Delivery
    ok: bool
    attempts: int
    status: int | None
    error: str | None
    ts: datetime


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before attempt `attempt + 1` (1-based): 0.5, 1, 2, 4 ... capped."""
    return float(min(cap, base * 2 ** (attempt - 1)))


async def send(
    session: aiohttp.ClientSession,
    d: Delivery,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DeliveryResult:
    """POST `d.body` as JSON; retry 5xx, 429 and connection errors with backoff."""
    status: int | None = None
    error: str | None = None
    attempt = 0
    timeout = aiohttp.ClientTimeout(total=d.timeout.total_seconds())
    while attempt < d.max_attempts:
        attempt += 1
        try:
            async with session.post(d.url.get_secret_value(), json=d.body, timeout=timeout) as resp:
                status = resp.status
                if resp.status < 300:
                    return DeliveryResult(d, True, attempt, status, None, datetime.now(UTC))
                error = (await resp.text())[:500]
                if resp.status < 500 and resp.status != 429:
                    break  # the receiver refuses this message: retrying will not help
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        if attempt < d.max_attempts:
            await sleep(backoff(attempt))
    log.warning(
        "alert delivery failed",
        extra={"receiver": d.receiver, "url": d.display_url, "attempts": attempt, "error": error},
    )
    return DeliveryResult(d, False, attempt, status, error, datetime.now(UTC))
