"""The coalescing transport: one socket write per loop turn, nothing lost or reordered."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

from vigil.coalesce import CoalescingHttpProtocol, CoalescingTransport


class Recorder:
    """The transport calls the wrapper makes, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_writes_of_one_turn_leave_as_one_and_close_flushes_first() -> None:
    async def scenario() -> list[tuple[str, Any]]:
        rec = Recorder()
        t = CoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(bytearray(b"body"))
        assert rec.calls == [] and t.get_write_buffer_size() == 23
        await asyncio.sleep(0)  # one turn
        t.write(b"frame-1")
        await asyncio.sleep(0)
        t.write(b"frame-2")
        t.close()  # pending data goes out before the close
        await asyncio.sleep(0)
        assert t.get_extra_info("peername") == "info:peername"  # the rest delegates
        t.write(b"lost")
        t.abort()  # abort drops what is pending
        return rec.calls

    calls = asyncio.run(scenario())
    assert calls == [
        ("write", b"HTTP/1.1 200 OK\r\n\r\nbody"),
        ("write", b"frame-1"),
        ("write", b"frame-2"),
        ("close", None),
        ("abort", None),
    ]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = b"x" * 600
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_uvicorn_serves_whole_responses_over_keep_alive() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=port,
        http=CoalescingHttpProtocol,
        log_config=None,
        lifespan="off",
        loop="uvloop",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", port)) as conn:
            for _ in range(3):  # keep-alive: every response of the connection
                conn.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                time.sleep(0.05)  # the whole answer has arrived by now
                data = conn.recv(65536)
                assert data.startswith(b"HTTP/1.1 200 OK\r\n")
                assert data.endswith(b"\r\n\r\n" + b"x" * 600)
    finally:
        server.should_exit = True
        thread.join(10)
