"""`vigil check-config FILE`: validate a config without starting anything.

Meant for CI and for editing sessions: it never raises for a bad file, prints every problem with
its line, and exits 2 so scripts can tell a bad config (2) from a good one (0).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.text import Text

from vigil.config.loader import load_config
from vigil.config.model import VigilConfig
from vigil.config.problems import ConfigError, ConfigProblem

EXIT_OK = 0
EXIT_INVALID = 2


def check_config(
    path: str | Path | None, env: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """Every problem of the config at `path` (`[]` when it loads)."""
    try:
        load_config(path, env)
    except ConfigError as err:
        return err.problems
    return []


def run_check_config(
    path: str | Path | None,
    env: Mapping[str, str] | None = None,
    *,
    stdout: Console | None = None,
    stderr: Console | None = None,
) -> int:
    """Print the verdict on `path` (problems to stderr, summary to stdout); return the exit code."""
    out = stdout or Console()
    err = stderr or Console(stderr=True)
    name = str(path) if path is not None else "default config"
    try:
        cfg = load_config(path, env)
    except ConfigError as error:
        count = len(error.problems)
        err.print(Text(f"✗ {name}: {count} problem{'s' if count != 1 else ''}", style="bold red"))
        for problem in error.problems:
            err.print(Text(f"  {problem}"), soft_wrap=True)
        return EXIT_INVALID
    out.print(Text(f"✓ {name} is valid", style="bold green"))
    out.print(Text(summary(cfg)), soft_wrap=True)
    return EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def summary(cfg: VigilConfig) -> str:
    """One line saying what the config sets up, to confirm it is the file you meant."""
    store = cfg.store.path if cfg.store.backend == "duckdb" else cfg.store.backend
    return (
        f"  {_count(len(cfg.providers), 'provider')}, {_count(len(cfg.models), 'model')}, "
        f"{_count(len(cfg.keys), 'key')}, {_count(len(cfg.ml_models), 'ML model')}; "
        f"store {cfg.store.backend} ({store}), limits {cfg.limits_backend.backend}, "
        f"listening on {cfg.server.host}:{cfg.server.port}"
    )
