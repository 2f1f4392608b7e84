"""The SDK's transport: a bounded queue drained by one background thread into `/api/v1/events`.

Why this shape: instrumented code must never wait for, or fail because of, its monitoring. `send`
only appends to a bounded queue (dropping, and counting, when it is full rather than growing
memory); a daemon thread posts batches, retries connection errors, 429 and 5xx with exponential
backoff and jitter (honouring `retry-after`), and gives up on other 4xx (retrying cannot fix
them). Every event carries an id made here, so a batch retried after a lost answer is stored once
(the server deduplicates ids). `flush()` runs at interpreter exit. Only the standard library is
used, so the SDK adds no dependency to the application.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import json
import logging
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

log = logging.getLogger("vigil.sdk")

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


def backoff(attempt: int, base: float = 0.25, cap: float = 10.0) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2**attempt)))


class VigilClient:
    """Sends events to a Vigil server in the background; no method raises into the caller."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_retries: int = 6,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/") + "/api/v1/events"
        self.token = token
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_retries = max_retries
        self.timeout = timeout
        self._sleep = sleep
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._closed = False
        self.sent = 0
        self.dropped = 0
        """Events lost: queue full, rejected by the server, or retries exhausted."""
        self._thread = threading.Thread(target=self._run, name="vigil-sdk", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def send(self, event: dict[str, Any]) -> None:
        """Queue one event; never blocks, never raises (a full queue drops the event)."""
        try:
            with self._lock:
                if self._closed:
                    self.dropped += 1
                    return
                self._in_flight += 1
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self._in_flight -= 1
                self.dropped += 1
        except Exception:  # pragma: no cover - defensive: monitoring never breaks the app
            log.debug("vigil sdk: could not queue an event", exc_info=True)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is sent (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush (bounded by `timeout`) and stop taking events; registered with `atexit`."""
        self.flush(timeout)
        with self._lock:
            self._closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    # -- background thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self.flush_interval
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                ok = self._post(batch)
            except Exception:  # pragma: no cover - defensive
                log.debug("vigil sdk: unexpected error sending a batch", exc_info=True)
                ok = False
            with self._idle:
                if ok:
                    self.sent += len(batch)
                else:
                    self.dropped += len(batch)
                self._in_flight -= len(batch)
                self._idle.notify_all()

    def _post(self, batch: list[dict[str, Any]]) -> bool:
        body = gzip.compress(json.dumps(batch, default=str).encode(), compresslevel=1)
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    answer = json.loads(resp.read() or b"{}")
                for rejected in answer.get("rejected", [])[:5]:
                    log.warning("vigil sdk: event rejected: %s", rejected.get("reason"))
                return True
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRYABLE:
                    log.warning("vigil sdk: batch refused with %s: %s", exc.code, exc.read()[:300])
                    return False
                header = exc.headers.get("retry-after") if exc.headers else None
                with contextlib.suppress(TypeError, ValueError):
                    retry_after = float(header) if header else None
            except (OSError, ValueError):
                pass  # connection refused/reset, timeout, bad answer: retry
            if attempt < self.max_retries:
                self._sleep(retry_after if retry_after is not None else backoff(attempt))
        log.warning("vigil sdk: dropped %d events after %d attempts", len(batch), attempt + 1)
        return False
