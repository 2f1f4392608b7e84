"""Running the simulated providers: in a test (`SimServer`) or from the CLI (`run_sim`).

`SimServer` serves both apps from a background thread with its own event loop (uvloop when
installed), so synchronous tests, async tests and benchmarks can all use it without sharing their
loop with it: a slow simulated stream never stalls the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from vigil.sim import anthropic_api, openai_api
from vigil.sim.behavior import SimState
from vigil.sim.profiles import Profile, load_profile

ProfileSource = Profile | str | Path | None

SHUTDOWN_TIMEOUT_S = 0.5
"""Open streams (slow, timeout) are cut after this long when the server stops."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when available (about twice the throughput), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _start(app: web.Application, sock: socket.socket) -> web.AppRunner:
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    await web.SockSite(runner, sock, backlog=1024).start()
    return runner


class SimServer:
    """Both simulated providers on loopback, for tests and benchmarks.

    >>> with SimServer() as sim:
    ...     client = openai.OpenAI(base_url=sim.openai_base_url, api_key="x")

    Ports default to free ones. `profile` is a `Profile`, a built-in name (`default`, `bench`) or a
    YAML/JSON file; `api_key` makes both servers require that key. `state_openai` and
    `state_anthropic` expose the live state (profile, request counts) to tests.
    """

    def __init__(
        self,
        profile: ProfileSource = "bench",
        *,
        seed: int | None = 0,
        host: str = "127.0.0.1",
        openai_port: int = 0,
        anthropic_port: int = 0,
        api_key: str | None = None,
    ) -> None:
        self.profile = load_profile(profile, seed=seed)
        self.host = host
        self.api_key = api_key
        self.state_openai = SimState(self.profile, api_key)
        self.state_anthropic = SimState(self.profile, api_key)
        self._socks = (_bind(host, openai_port), _bind(host, anthropic_port))
        self.openai_port: int = self._socks[0].getsockname()[1]
        self.anthropic_port: int = self._socks[1].getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []

    @property
    def openai_base_url(self) -> str:
        return f"http://{self._netloc(self.openai_port)}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic SDK's `base_url` (it appends `/v1/messages` itself)."""
        return f"http://{self._netloc(self.anthropic_port)}"

    def _netloc(self, port: int) -> str:
        return f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"

    def start(self) -> SimServer:
        """Serve in a background thread; returns once both ports accept requests."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._runners = self._loop.run_until_complete(self._start_apps())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="vigil-sim", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    async def _start_apps(self) -> list[web.AppRunner]:
        return [
            await _start(openai_api.create_app(self.state_openai), self._socks[0]),
            await _start(anthropic_api.create_app(self.state_anthropic), self._socks[1]),
        ]

    async def _cleanup(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    def stop(self) -> None:
        """Stop serving, cut open streams and join the thread."""
        if self._thread is None or self._loop is None:
            for sock in self._socks:
                sock.close()
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> SimServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: Any) -> None:
        await asyncio.to_thread(self.stop)


async def serve_forever(
    host: str,
    openai_port: int,
    anthropic_port: int,
    profile: ProfileSource = None,
    seed: int | None = None,
    api_key: str | None = None,
    on_ready: Callable[[str, str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve both providers on the running loop until `stop` is set (or the task is cancelled)."""
    loaded = load_profile(profile, seed=seed)
    runners = [
        await _start(openai_api.create_app(SimState(loaded, api_key)), _bind(host, openai_port)),
        await _start(
            anthropic_api.create_app(SimState(loaded, api_key)), _bind(host, anthropic_port)
        ),
    ]
    try:
        if on_ready is not None:
            on_ready(f"http://{host}:{openai_port}/v1", f"http://{host}:{anthropic_port}")
        await (stop or asyncio.Event()).wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def run_sim(
    host: str = "127.0.0.1",
    openai_port: int = 4010,
    anthropic_port: int = 4011,
    profile_path: str | Path | None = None,
    *,
    seed: int | None = None,
    api_key: str | None = None,
    on_ready: Callable[[str, str], None] | None = None,
) -> None:
    """Serve both providers until Ctrl-C (blocking); what `vigil sim` runs."""
    loop = new_event_loop()
    stop = asyncio.Event()
    task = loop.create_task(
        serve_forever(
            host, openai_port, anthropic_port, profile_path, seed, api_key, on_ready, stop
        )
    )
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(NotImplementedError):  # SIGTERM stops as cleanly as Ctrl-C
            loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        loop.run_until_complete(task)
    except KeyboardInterrupt:
        stop.set()
        loop.run_until_complete(task)
    finally:
        loop.close()
