"""The upstream HTTP/1.1 client: pooled keep-alive connections, responses parsed by httptools.

The gateway sends one kind of request (a POST of a JSON body to a handful of configured origins)
and reads one kind of answer (a whole body, or a body streamed as it arrives). aiohttp's general
client machinery (URL objects, multidicts, payload registry, tracing hooks, per-request timers)
cost about 115 us of CPU per proxied request, the largest single share of the gateway's hot path
on two cores; this client does the same job in about 40 us (bench/gateway.py and the A/B in
docs/performance.md). HTTP parsing is llhttp's, through httptools (uvicorn's parser), never ours.

What it does: TLS (the system's default trust store) or plain TCP; connections reused LIFO and
dropped after `KEEPALIVE_S` idle or when the upstream says `connection: close`; a request on a
reused connection that the upstream had closed (nothing received) is sent once more on a fresh
one; timeouts for connecting, between reads (first byte, then stream idle) and in total; reading
paused while a streamed body waits for its consumer beyond `HIGH_WATER` bytes; gzip and deflate
bodies decoded. It never follows redirects, keeps no cookies and does not read proxy settings.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

KEEPALIVE_S = 15.0
"""An idle pooled connection older than this is closed instead of reused."""
HIGH_WATER = 1 << 20
"""Buffered body bytes of one response above which reading from the upstream pauses."""


class TransportError(Exception):
    """The upstream connection failed: refused, reset, closed early or spoke broken HTTP."""


class TransportTimeout(TransportError, TimeoutError):
    """A connect, read or total timeout passed."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Seconds: to connect, between two reads (the first counts from the request), and in all."""

    connect: float
    read: float
    total: float


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed upstream URL with its request line and host header rendered once."""

    origin: tuple[str, str, int]
    path: bytes
    host_header: bytes

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream URL must be http(s)://host/...: {url!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = host if port == default else f"{host}:{port}"
        return cls((parts.scheme, parts.hostname, port), path.encode(), netloc.encode())


def render_headers(headers: dict[str, str]) -> bytes:
    """Header lines for every request of a provider, checked once: no CR/LF may smuggle lines."""
    lines = []
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n") or not name or ":" in name:
            raise ValueError(f"invalid upstream header {name!r}")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    return b"".join(lines)


class Response:
    """One upstream answer: status and headers at once, the body read whole or as it arrives."""

    def __init__(self, conn: _Connection) -> None:
        self._conn: _Connection | None = conn
        self.status = 0
        self.headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self._error: BaseException | None = None
        self._wake: asyncio.Future[None] | None = None
        self._decoder: Any = None

    # -- fed by the connection ------------------------------------------------------------------
    def _body(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                self._fail(TransportError(f"upstream sent a corrupt compressed body: {exc}"))
                return
        if data:
            self._chunks.append(data)
            self._buffered += len(data)
            if self._buffered > HIGH_WATER and self._conn is not None:
                self._conn.pause()
            self._notify()

    def _finish(self) -> None:
        if self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._chunks.append(tail)
        self._complete = True
        self._conn = None
        self._notify()

    def _fail(self, exc: BaseException) -> None:
        if not self._complete and self._error is None:
            self._error = exc
            self._notify()
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.abort()

    def _notify(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    # -- read by the provider -------------------------------------------------------------------
    async def _wait(self) -> None:
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await self._wake
        except asyncio.CancelledError:
            self.close()
            raise

    def _take(self) -> bytes:
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._conn is not None:
            self._conn.resume()
        return data

    async def read(self) -> bytes:
        """The whole body (taken as it arrives, so a large one never stalls on the high water)."""
        parts = []
        while True:
            if self._chunks:
                parts.append(self._take())
            if self._error is not None:
                raise self._error
            if self._complete:
                return parts[0] if len(parts) == 1 else b"".join(parts)
            await self._wait()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Whatever body bytes have arrived, as they arrive; raises TransportError if cut."""
        while True:
            if self._chunks:
                yield self._take()
            elif self._error is not None:
                raise self._error
            elif self._complete:
                return
            else:
                await self._wait()

    def close(self) -> None:
        """Give up on the rest of the body (the connection is dropped, never reused half-read)."""
        conn, self._conn = self._conn, None
        if conn is not None and not self._complete:
            conn.abort()
        self._chunks.clear()

    release = close


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, answers parsed by httptools."""

    def __init__(self, pool: UpstreamClient, origin: tuple[str, str, int]) -> None:
        self._pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.headers_done: asyncio.Future[None] | None = None
        self.received = False
        self.reusable = False
        self.closed = False
        self.idle_since = 0.0
        self._paused = False
        self._sized = False
        self._limits: Limits | None = None
        self._last = 0.0
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        self._last = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._error(TransportError(f"upstream sent invalid HTTP: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        resp = self.response
        if resp is not None and resp.status and not self._sized and exc is None:
            self._message_complete()  # a body delimited by the connection's end
            return
        reason = f": {exc}" if exc else ""
        self._error(TransportError(f"upstream closed the connection{reason}"))

    # -- httptools callbacks --------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        resp = self.response
        if resp is None:
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        resp.headers[key] = f"{resp.headers[key]}, {text}" if key in resp.headers else text

    def on_headers_complete(self) -> None:
        resp = self.response
        if resp is None:
            return
        resp.status = self._parser.get_status_code()
        self.reusable = self._parser.should_keep_alive()
        headers = resp.headers
        self._sized = "content-length" in headers or "chunked" in headers.get(
            "transfer-encoding", ""
        )
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            resp._decoder = zlib.decompressobj(47 if encoding != "deflate" else zlib.MAX_WBITS)
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response._body(body)

    def on_message_complete(self) -> None:
        self._message_complete()

    # -- the pool's side ------------------------------------------------------------------------
    def send(self, request: bytes, limits: Limits) -> Response:
        assert self.transport is not None
        self.response = Response(self)
        self.headers_done = asyncio.get_running_loop().create_future()
        self.received = False
        self._limits = limits
        self._last = now = time.monotonic()
        self._deadline = now + limits.total
        self._arm(min(limits.read, limits.total))
        self.transport.write(request)
        return self.response

    def _message_complete(self) -> None:
        self._stop_timer()
        resp, self.response = self.response, None
        if resp is not None:
            resp._finish()
        if self.reusable and not self.closed and not self._paused:
            self._pool.put(self)
        else:
            self.abort()

    def _error(self, exc: BaseException) -> None:
        self._stop_timer()
        resp, self.response = self.response, None
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_exception(exc)
        if resp is not None:
            resp._fail(exc)
        self.abort()

    def _arm(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._check_time)

    def _check_time(self) -> None:
        """One timer per request, re-armed only when it fires: reads just note their time."""
        self._timer = None
        if self.response is None or self._limits is None:
            return
        now = time.monotonic()
        if now >= self._deadline:
            self._error(TransportTimeout("upstream did not finish within the total timeout"))
        elif now - self._last >= self._limits.read:
            what = "first byte" if not self.received else "next chunk"
            self._error(TransportTimeout(f"upstream timed out waiting for the {what}"))
        elif not self._paused:
            self._arm(max(0.001, min(self._last + self._limits.read, self._deadline) - now))
        else:
            self._arm(max(0.001, self._deadline - now))  # a paused read waits on our consumer

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self._last = time.monotonic()
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()


class UpstreamClient:
    """Connection pools per origin (scheme, host, port), shared by every provider."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._ssl = ssl_context
        self._closed = False

    def put(self, conn: _Connection) -> None:
        if self._closed:
            conn.abort()
            return
        conn.idle_since = time.monotonic()
        self._idle.setdefault(conn.origin, []).append(conn)

    async def _connect(self, origin: tuple[str, str, int], limits: Limits) -> _Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
            self._ssl = context
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(limits.connect):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, origin), host, port, ssl=context
                )
        except TimeoutError as exc:
            raise TransportTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise TransportError(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def _reuse(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        oldest = time.monotonic() - KEEPALIVE_S
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since > oldest:
                return conn
            conn.abort()
        return None

    async def post(
        self, endpoint: Endpoint, body: bytes, headers: bytes, limits: Limits
    ) -> Response:
        """Send the request; returns once the status and headers are in."""
        if self._closed:
            raise TransportError("the upstream client is closed")
        request = b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
            endpoint.path,
            endpoint.host_header,
            len(body),
            headers,
            body,
        )
        for attempt in range(2):
            conn = self._reuse(endpoint.origin)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(endpoint.origin, limits)
            response = conn.send(request, limits)
            assert conn.headers_done is not None
            try:
                await conn.headers_done
            except TransportError as exc:
                stale = reused and not conn.received and not isinstance(exc, TransportTimeout)
                if stale and attempt == 0:
                    continue  # the upstream had closed this idle connection: once more, fresh
                raise
            except asyncio.CancelledError:
                conn.abort()
                raise
            return response
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()
