"""`vigil sim`: serve the simulated OpenAI and Anthropic providers until Ctrl-C.

The main CLI registers `sim_command`; it lives here so the simulator's options sit next to the
simulator and `cli.py` stays a table of commands.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from vigil.sim.server import run_sim


def sim_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    openai_port: int = typer.Option(4010, "--openai-port", help="Port of the OpenAI-style API."),
    anthropic_port: int = typer.Option(4011, "--anthropic-port", help="Port of the Anthropic API."),
    profile: Path | None = typer.Option(
        None,
        "--profile",
        help="YAML/JSON profile (latency, failures, limits, prices); built-in default if unset.",
        exists=True,
        dir_okay=False,
    ),
    bench: bool = typer.Option(False, "--bench", help="Zero latency and no failures (benchmarks)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the random draws."),
    api_key: str | None = typer.Option(
        None, "--api-key", help="Require this key (default: any non-empty key is accepted)."
    ),
) -> None:
    """Serve simulated LLM providers (OpenAI and Anthropic wire formats) for demos and tests."""
    console = Console()

    def ready(openai_url: str, anthropic_url: str) -> None:
        console.print(f"[bold]OpenAI-compatible[/bold]  base_url={openai_url}")
        console.print(f"[bold]Anthropic Messages[/bold] base_url={anthropic_url}")
        console.print("Any non-empty API key works." if api_key is None else "API key required.")
        console.print("[dim]Ctrl-C to stop.[/dim]")

    source: str | Path | None = "bench" if bench else profile
    try:
        run_sim(
            host, openai_port, anthropic_port, source, seed=seed, api_key=api_key, on_ready=ready
        )
    except OSError as exc:
        console.print(f"[red]cannot listen: {exc}[/red]")
        raise typer.Exit(2) from exc
    except ValueError as exc:
        console.print(f"[red]bad profile: {exc}[/red]")
        raise typer.Exit(2) from exc
    console.print("stopped")
