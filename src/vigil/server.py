"""Running the app under uvicorn (uvloop + httptools), shared by `vigil serve` and `vigil demo`."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from vigil.app import create_app
from vigil.config import ConfigError, ConfigManager
from vigil.gateway.fastpath import GatewayFastPath
from vigil.gctune import tune_gc
from vigil.jsonlog import configure_logging
from vigil.store import StoreError, open_store


def load_manager_or_exit(path: Path | None, console: Console) -> ConfigManager:
    """Load the config, or print every problem and exit 2."""
    if path is not None and not path.exists():
        console.print(f"[red]error:[/] config file {path} does not exist")
        raise typer.Exit(2)
    try:
        return ConfigManager(path)
    except ConfigError as exc:
        console.print(f"[red]error:[/] invalid config {path}:")
        for problem in exc.problems:
            console.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def check_store_or_exit(path: str, console: Console) -> None:
    """Open (and migrate) the store up front so a bad file fails with a clear message, exit 2."""
    try:
        open_store(path).close()
    except StoreError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


class GracefulServer(uvicorn.Server):
    """uvicorn, but a graceful SIGTERM/SIGINT shutdown exits 0 instead of re-raising the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        tune_gc()  # once the app has built its long-lived state


def uvicorn_config(app: FastAPI | GatewayFastPath, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=False,  # Vigil does not trust X-Forwarded-* by default; saves a wrapper
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


def announce(console: Console, host: str, port: int, app: FastAPI, manager: ConfigManager) -> None:
    console.print(f"Vigil listening on [bold]http://{host}:{port}[/]", highlight=False)
    if manager.current.server.admin_token is None:
        # Shown once on the terminal, never written to the logs.
        token = app.state.vigil.admin_token
        console.print(f"Admin token (generated for this run): [bold]{token}[/]", highlight=False)


def run_server(
    manager: ConfigManager, *, host: str | None, port: int | None, console: Console
) -> None:
    cfg = manager.current
    configure_logging(cfg.server.log_level, cfg.server.log_format)
    check_store_or_exit(cfg.store.path, console)
    app = create_app(manager)
    host = host or cfg.server.host
    port = port or cfg.server.port
    announce(console, host, port, app, manager)
    server = GracefulServer(uvicorn_config(GatewayFastPath(app), host, port))
    server.run()
    if not server.started:
        raise typer.Exit(1)
