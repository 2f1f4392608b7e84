"""`vigil demo`: Vigil, the simulated providers and a traffic generator in one command.

The demo writes a real `vigil.yaml` into its data directory (providers pointing at the simulators,
model prices, the `churn-classifier` ML model with its reference dataset) so what runs is exactly
what a user would configure; `kill -HUP` on the process reloads it like any `vigil serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from rich.console import Console

from vigil.app import create_app
from vigil.config import ConfigManager
from vigil.gateway.fastpath import GatewayFastPath
from vigil.gateway.keys import new_key
from vigil.jsonlog import configure_logging
from vigil.server import GracefulServer, check_store_or_exit, uvicorn_config
from vigil.sim import SimServer
from vigil.sim.churn import CATEGORICAL, MODEL, NUMERICAL
from vigil.sim.reference import write_reference
from vigil.sim.traffic import TrafficOptions, run_traffic

HOST = "127.0.0.1"


def demo_config(data_dir: Path, port: int, sim: SimServer, reference: Path) -> dict[str, Any]:
    """The config the demo runs with: every model of the simulator's profile, with its price."""
    providers = {
        "sim-openai": {"type": "openai", "api_base": sim.openai_base_url, "api_key": "sim-key"},
        "sim-anthropic": {
            "type": "anthropic",
            "api_base": sim.anthropic_base_url,
            "api_key": "sim-key",
        },
    }
    models: dict[str, Any] = {}
    for name, price in sim.profile.price_table().items():
        provider = "sim-anthropic" if name.startswith("claude") else "sim-openai"
        models[name] = {
            "deployments": [{"provider": provider, "model": name}],
            "price": {"input_per_mtok": price.input, "output_per_mtok": price.output},
        }
    features = {f: "numerical" for f in NUMERICAL} | {f: "categorical" for f in CATEGORICAL}
    return {
        "server": {"host": HOST, "port": port, "log_level": "warning", "log_format": "text"},
        "store": {"path": str(data_dir / "vigil.duckdb")},
        "providers": providers,
        "models": models,
        "keys": [{"alias": "demo", "key": "env:VIGIL_DEMO_KEY", "team": "demo"}],
        "capture": {"enabled": True},  # simulated traffic: safe to keep, and shows the feature
        "monitors": {
            "prompt_drift": {"enabled": True, "embedding_model": "text-embedding-3-small"}
        },
        "synthetic": {
            "probes": [
                {"name": "gpt-4o-mini-ping", "model": "gpt-4o-mini", "interval": "30s"},
                {"name": "claude-stream", "model": "claude-3-5-haiku-latest", "stream": True},
            ]
        },
        "ml_models": {
            MODEL: {
                "task": "binary",
                "features": features,
                "reference": str(reference),
                "label_delay": "90s",
                "positive_class": "1",
            }
        },
    }


class DemoServer(GracefulServer):
    """The first Ctrl-C (or SIGTERM) only asks to stop, so the demo can stop its traffic and let
    the last events land before the server shuts down; a second Ctrl-C stops at once."""

    exit_requested = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.exit_requested:
            super().handle_exit(sig, frame)
        self.exit_requested = True


async def _serve(
    server: DemoServer, opts: TrafficOptions, console: Console, token: str, url: str
) -> None:
    key = opts.gateway_key
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    console.print(f"\n[bold green]Vigil demo running[/] at [bold]{url}[/]", highlight=False)
    console.print(f"Admin token: [bold]{token}[/]", highlight=False)
    console.print(f"Gateway key: [bold]{key}[/]  (openai SDK: base_url={url}/v1)", highlight=False)
    console.print(
        f"Try: curl -H 'Authorization: Bearer {token}' {url}/metrics  ·  Ctrl-C stops all\n",
        highlight=False,
    )
    stop = asyncio.Event()
    traffic = asyncio.create_task(run_traffic(opts, stop))
    while not server.exit_requested and not serving.done():  # noqa: ASYNC110 (a signal flag)
        await asyncio.sleep(0.1)
    console.print("Stopping: traffic first, then Vigil (its queue is flushed) ...")
    stop.set()  # stop the generator first, so its last events land before the store closes
    with contextlib.suppress(Exception):
        await asyncio.wait_for(traffic, timeout=opts.stop_grace_s + 2)
    server.should_exit = True
    await serving


def run_demo(*, port: int, data_dir: Path, llm_rps: float, ml_rps: float, console: Console) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    console.print("Starting simulated providers ...")
    with SimServer(profile="default", seed=None) as sim:
        reference = write_reference(data_dir / "churn-reference.csv")
        config_path = data_dir / "vigil.yaml"
        gateway_key = new_key()
        os.environ["VIGIL_DEMO_KEY"] = gateway_key  # the config refers to it as env:VIGIL_DEMO_KEY
        config = demo_config(data_dir, port, sim, reference)
        config_path.write_text(yaml.safe_dump(config))
        manager = ConfigManager(config_path)
        cfg = manager.current
        configure_logging(cfg.server.log_level, cfg.server.log_format)
        logging.getLogger("vigil.sim.traffic").setLevel(logging.INFO)
        check_store_or_exit(cfg.store.path, console)
        app = create_app(manager)
        token: str = app.state.vigil.admin_token
        url = f"http://{HOST}:{port}"
        console.print(
            f"OpenAI simulator {sim.openai_base_url}  ·  "
            f"Anthropic simulator {sim.anthropic_base_url}"
        )
        console.print(f"Config written to {config_path}")
        opts = TrafficOptions(
            vigil_url=url,
            admin_token=token,
            openai_base_url=sim.openai_base_url,
            anthropic_base_url=sim.anthropic_base_url,
            llm_rps=llm_rps,
            ml_rps=ml_rps,
            via_gateway_url=url + "/v1",
            gateway_key=gateway_key,
        )
        server = DemoServer(uvicorn_config(GatewayFastPath(app), HOST, port))
        asyncio.run(_serve(server, opts, console, token, url))
    console.print("Demo stopped.")
