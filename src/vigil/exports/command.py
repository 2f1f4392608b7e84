"""`vigil export grafana|prometheus-rules|alertmanager DIR`: write the files, list what was written.

Exit codes follow the CLI: 0 written, 2 when DIR cannot be used (a file, no permission).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from vigil.config import ConfigError, load_config
from vigil.exports.alertmanager import CHAT_URL, PAGER_URL, alertmanager_config
from vigil.exports.grafana import dashboards, provisioning
from vigil.exports.rules import config_alerts, rule_file

export_app = typer.Typer(
    name="export",
    help="Write Grafana dashboards, Prometheus rules or an Alertmanager config for Vigil.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DirArg = Annotated[Path, typer.Argument(help="Directory to write into (created if missing).")]


def _write(directory: Path, files: dict[str, Any]) -> None:
    """Write each relative path: `.json` as indented JSON, anything else as YAML."""
    try:
        for rel, content in files.items():
            path = directory / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith(".json"):
                text = json.dumps(content, indent=2) + "\n"
            else:
                text = yaml.safe_dump(content, sort_keys=False, width=4096)
            path.write_text(text)
            out.print(str(path))
    except OSError as exc:
        err.print(f"[red]cannot write to {directory}: {exc}[/red]")
        raise typer.Exit(2) from None


@export_app.command("grafana")
def export_grafana(
    directory: DirArg,
    dashboards_path: Annotated[
        str | None,
        typer.Option(help="Where Grafana will read the dashboards (default: DIR/dashboards)."),
    ] = None,
    prometheus_url: Annotated[
        str, typer.Option(help="URL of the Prometheus datasource that provisioning creates.")
    ] = "http://localhost:9090",
) -> None:
    """Dashboards (Overview, LLM gateway, ML models, Vigil itself) and provisioning YAML."""
    path = dashboards_path or str((directory / "dashboards").resolve())
    files: dict[str, Any] = {f"dashboards/{n}": d for n, d in dashboards().items()}
    files.update(provisioning(path, prometheus_url))
    _write(directory, files)


@export_app.command("prometheus-rules")
def export_rules(
    directory: DirArg,
    config: Annotated[
        Path | None,
        typer.Option(help="Also export this vigil.yaml's alert rules that PromQL can express."),
    ] = None,
) -> None:
    """Recording rules and the default alert set (and config rules) as one Prometheus rule file."""
    exported: list[dict[str, Any]] = []
    if config is not None:
        try:
            cfg = load_config(config)
        except ConfigError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        exported, skipped = config_alerts(cfg.alerts.rules)
        for name, reason in skipped.items():
            err.print(f"not exported: {name}: {reason}")
    _write(directory, {"vigil-rules.yml": rule_file(exported)})


@export_app.command("alertmanager")
def export_alertmanager(
    directory: DirArg,
    pager_url: Annotated[str, typer.Option(help="Webhook for critical alerts.")] = PAGER_URL,
    chat_url: Annotated[str, typer.Option(help="Webhook for warnings.")] = CHAT_URL,
) -> None:
    """An example Alertmanager config routing by severity (critical, warning, info)."""
    _write(directory, {"alertmanager.yml": alertmanager_config(pager_url, chat_url)})
