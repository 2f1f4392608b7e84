"""The gateway's upstream HTTP client against real servers on loopback.

aiohttp.web plays a well-behaved upstream; a raw asyncio server plays the misbehaving ones (a body
ended by closing, a cut body, broken HTTP, silence, an idle connection closed by the server).
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme
from aiohttp import web

from vigil.gateway.providers import http as upstream
from vigil.gateway.providers.http import (
    Endpoint,
    Limits,
    TransportError,
    TransportTimeout,
    UpstreamClient,
    render_headers,
)

LIMITS = Limits(connect=2, read=2, total=10)
HEADERS = render_headers({"content-type": "application/json", "authorization": "Bearer sk-x"})


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    c = UpstreamClient()
    yield c
    await c.close()


async def serve_app(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> tuple:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def serve_raw(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.AbstractServer, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def test_posts_and_reuses_one_connection(client: UpstreamClient) -> None:
    seen: list[tuple[str, str, bytes, str | None]] = []
    connections: set[object] = set()

    async def echo(request: web.Request) -> web.Response:
        connections.add(request.transport)
        body = await request.read()
        seen.append((request.path_qs, request.host, body, request.headers.get("authorization")))
        return web.json_response({"ok": len(seen)}, headers={"x-ratelimit-remaining": "7"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", echo)
    runner, port = await serve_app(app)
    try:
        endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/v1/chat/completions?api-version=1")
        for i in range(5):
            resp = await client.post(endpoint, b'{"n": %d}' % i, HEADERS, LIMITS)
            assert resp.status == 200
            assert resp.headers["x-ratelimit-remaining"] == "7"
            assert await resp.read() == b'{"ok": %d}' % (i + 1)
        assert len(connections) == 1
        assert seen[0] == (
            "/v1/chat/completions?api-version=1",
            f"127.0.0.1:{port}",
            b'{"n": 0}',
            "Bearer sk-x",
        )
    finally:
        await runner.cleanup()


async def test_streams_chunks_as_they_arrive(client: UpstreamClient) -> None:
    release = asyncio.Event()

    async def sse(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: one\n\n")
        await release.wait()
        await resp.write(b"data: two\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/s", sse)
    runner, port = await serve_app(app)
    try:
        resp = await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/s"), b"{}", b"", LIMITS)
        chunks = aiter(resp)
        assert await anext(chunks) == b"data: one\n\n"  # before the server sends the rest
        release.set()
        rest = b"".join([c async for c in chunks])
        assert rest == b"data: two\n\n"
    finally:
        await runner.cleanup()


async def test_error_status_is_returned_with_its_body(client: UpstreamClient) -> None:
    async def limited(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": "slow down"}}, status=429, headers={"retry-after": "3"}
        )

    app = web.Application()
    app.router.add_post("/x", limited)
    runner, port = await serve_app(app)
    try:
        resp = await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/x"), b"{}", b"", LIMITS)
        assert (resp.status, resp.headers["retry-after"]) == (429, "3")
        assert b"slow down" in await resp.read()
    finally:
        await runner.cleanup()


async def test_gzip_body_is_decoded(client: UpstreamClient) -> None:
    async def packed(request: web.Request) -> web.Response:
        body = gzip.compress(b'{"packed": true}')
        return web.Response(body=body, headers={"content-encoding": "gzip"})

    app = web.Application()
    app.router.add_post("/z", packed)
    runner, port = await serve_app(app)
    try:
        resp = await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/z"), b"{}", b"", LIMITS)
        assert await resp.read() == b'{"packed": true}'
    finally:
        await runner.cleanup()


async def test_tls_upstream(tmp_path: object) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=b"secure")

    app = web.Application()
    app.router.add_post("/t", hello)
    runner, port = await serve_app(app, server_ctx)
    try:
        trusting = UpstreamClient(ssl_context=client_ctx)
        resp = await trusting.post(
            Endpoint.parse(f"https://127.0.0.1:{port}/t"), b"{}", b"", LIMITS
        )
        assert await resp.read() == b"secure"
        await trusting.close()
        strict = UpstreamClient()  # the system's trust store does not know this CA
        with pytest.raises(TransportError, match="cannot connect"):
            await strict.post(Endpoint.parse(f"https://127.0.0.1:{port}/t"), b"{}", b"", LIMITS)
        await strict.close()
    finally:
        await runner.cleanup()


async def test_body_ended_by_close_and_cut_body(client: UpstreamClient) -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        await writer.drain()
        writer.close()

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        await writer.drain()
        writer.close()

    for handler, outcome in ((until_close, b"all of it"), (cut, None)):
        server, port = await serve_raw(handler)
        async with server:
            endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/")
            resp = await client.post(endpoint, b"{}", b"", LIMITS)
            if outcome is None:
                with pytest.raises(TransportError, match="closed the connection"):
                    await resp.read()
            else:
                assert await resp.read() == outcome


async def test_stale_idle_connection_is_replaced_once(client: UpstreamClient) -> None:
    """The upstream answers keep-alive, then drops the connection when the next request arrives
    on it (its idle timeout raced our reuse): that request goes out again on a fresh connection
    instead of failing. An upstream that closes idle connections visibly is never reused."""
    accepted = 0

    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await reader.read(1)  # the next request on this connection: dropped unanswered
        writer.close()

    server, port = await serve_raw(one_answer)
    async with server:
        endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/")
        for _ in range(3):
            resp = await client.post(endpoint, b"{}", b"", LIMITS)
            assert await resp.read() == b"ok"
        assert accepted == 3


async def test_idle_pooled_connections_expire(
    client: UpstreamClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: set[object] = set()

    async def hello(request: web.Request) -> web.Response:
        connections.add(request.transport)
        return web.Response(body=b"hi")

    app = web.Application()
    app.router.add_post("/", hello)
    runner, port = await serve_app(app)
    monkeypatch.setattr(upstream, "KEEPALIVE_S", 0.05)
    try:
        endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/")
        for _ in range(2):
            await (await client.post(endpoint, b"{}", b"", LIMITS)).read()
            await asyncio.sleep(0.1)
        assert len(connections) == 2
    finally:
        await runner.cleanup()


async def test_timeouts(client: UpstreamClient) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async def trickles(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(50):
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    quick = Limits(connect=1, read=0.3, total=5)
    server, port = await serve_raw(silent)
    async with server:
        with pytest.raises(TransportTimeout, match="first byte"):
            await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/"), b"{}", b"", quick)
    server, port = await serve_raw(stalls)
    async with server:
        resp = await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/"), b"{}", b"", quick)
        with pytest.raises(TransportTimeout, match="next chunk"):
            await resp.read()
    server, port = await serve_raw(trickles)
    async with server:
        short = Limits(connect=1, read=0.3, total=0.5)  # never idle long, but too long in all
        resp = await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/"), b"{}", b"", short)
        with pytest.raises(TransportTimeout, match="total"):
            await resp.read()


async def test_refused_and_broken_http(client: UpstreamClient) -> None:
    server, port = await serve_raw(lambda r, w: asyncio.sleep(0))
    server.close()
    await server.wait_closed()
    with pytest.raises(TransportError, match="cannot connect"):
        await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/"), b"{}", b"", LIMITS)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    server, port = await serve_raw(garbage)
    async with server:
        with pytest.raises(TransportError, match="invalid HTTP"):
            await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/"), b"{}", b"", LIMITS)


async def test_large_body_read_slowly_pauses_and_resumes(
    client: UpstreamClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 5 * upstream.HIGH_WATER
    pauses = 0
    pause = upstream._Connection.pause

    def counting(conn: upstream._Connection) -> None:
        nonlocal pauses
        pauses += 1
        pause(conn)

    monkeypatch.setattr(upstream._Connection, "pause", counting)
    payload = bytes(range(256)) * (size // 256)

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=payload)

    app = web.Application()
    app.router.add_post("/big", big)
    runner, port = await serve_app(app)
    try:
        endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/big")
        resp = await client.post(endpoint, b"{}", b"", LIMITS)
        got = bytearray()
        async for chunk in resp:
            got += chunk
            await asyncio.sleep(0.001)
        assert bytes(got) == payload
        assert pauses > 0
        assert await (await client.post(endpoint, b"{}", b"", LIMITS)).read() == payload
    finally:
        await runner.cleanup()


async def test_cancelled_read_closes_the_upstream_connection(client: UpstreamClient) -> None:
    gone = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"1\r\nx\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            gone.set()

    server, port = await serve_raw(endless)
    async with server:
        resp = await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/"), b"{}", b"", LIMITS)

        async def consume() -> None:
            async for _ in resp:
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(gone.wait(), 2)


def test_header_lines_cannot_be_smuggled() -> None:
    with pytest.raises(ValueError, match="invalid upstream header"):
        render_headers({"x-extra": "a\r\nx-evil: 1"})
    with pytest.raises(ValueError, match="http"):
        Endpoint.parse("ftp://example.com/v1")
    assert Endpoint.parse("https://api.example.com/v1/chat").host_header == b"api.example.com"
    assert Endpoint.parse("http://[::1]:8080/v1").host_header == b"[::1]:8080"
