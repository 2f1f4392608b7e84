"""The `vigil` command line (Typer). Exit codes: 0 ok, 1 failure found, 2 usage or config error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vigil import __version__

app = typer.Typer(
    name="vigil",
    help="AI observability in one process: LLM gateway, ingest, monitors, metrics, alerts and UI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Path to vigil.yaml (defaults apply to every missing key)."
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vigil {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Vigil: requests, tokens, cost, latency, drift and accuracy of your models in one place."""


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default server.port).")] = None,
) -> None:
    """Run the Vigil server (gateway, ingest, APIs, UI) on one port."""
    from vigil.server import load_manager_or_exit, run_server

    manager = load_manager_or_exit(config, err)
    run_server(manager, host=host, port=port, console=err)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port for Vigil.")] = 4000,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its store.")] = Path(
        "vigil-data/demo"
    ),
    llm_rps: Annotated[float, typer.Option(help="Simulated LLM requests per second.")] = 5.0,
    ml_rps: Annotated[float, typer.Option(help="Simulated ML predictions per second.")] = 10.0,
) -> None:
    """Start Vigil with simulated providers and traffic; prints the URL and an admin token."""
    from vigil.demo import run_demo

    run_demo(port=port, data_dir=data_dir, llm_rps=llm_rps, ml_rps=ml_rps, console=err)


@app.command("check-config")
def check_config_cmd(
    file: Annotated[Path, typer.Argument(help="The vigil.yaml to check.")],
) -> None:
    """Validate a config file: report every problem with its key path and line (exit 2 if any)."""
    from vigil.config import run_check_config

    raise typer.Exit(run_check_config(file))


def _register_feature_commands() -> None:
    """Commands that live with their feature; one registration each."""
    from vigil.gateway.keys_cli import keys_app
    from vigil.sim.command import sim_command

    app.add_typer(keys_app, name="keys")

    app.command(
        "sim", help="Run the simulated OpenAI and Anthropic providers (for tests and demos)."
    )(sim_command)

    from vigil.monitors.offline import drift_command

    app.command("drift", help="Offline drift report (HTML or JSON) of CSV/Parquet files.")(
        drift_command
    )

    from vigil.exports.command import export_app

    app.add_typer(export_app)

    from vigil.reports.command import report_command

    app.command("report", help="Daily or weekly report (HTML, --pdf) of a running Vigil.")(
        report_command
    )


_register_feature_commands()


def main() -> None:
    app()
