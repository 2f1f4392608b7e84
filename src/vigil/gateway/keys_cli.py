"""`vigil keys create|list|revoke`: manage virtual keys through a running Vigil's admin API.

The server owns the store (DuckDB allows one writer process), so the CLI is an HTTP client; it
reads the server URL and admin token from options or `VIGIL_URL` / `VIGIL_ADMIN_TOKEN`.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

keys_app = typer.Typer(
    help="Create, list and revoke the gateway's virtual keys.", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

UrlOption = Annotated[str, typer.Option("--url", envvar="VIGIL_URL", help="Vigil's base URL.")]
TokenOption = Annotated[
    str,
    typer.Option("--token", envvar="VIGIL_ADMIN_TOKEN", help="Admin token.", show_default=False),
]


def _call(method: str, url: str, token: str, path: str, body: Any = None) -> Any:
    try:
        resp = httpx.request(
            method,
            url.rstrip("/") + path,
            json=body,
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/] cannot reach Vigil at {url}: {exc}")
        raise typer.Exit(1) from None
    if resp.status_code >= 400:
        try:
            message = resp.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = resp.text
        err.print(f"[red]error:[/] {resp.status_code}: {message}", highlight=False)
        raise typer.Exit(2 if resp.status_code in (400, 401, 404, 409) else 1)
    return resp.json()


@keys_app.command("create")
def create(
    alias: Annotated[str, typer.Option(help="Unique name of the key.")],
    models: Annotated[
        list[str] | None, typer.Option("--models", help="Allowed model (repeat); default all.")
    ] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute.")] = None,
    budget_usd: Annotated[
        float | None, typer.Option(help="Spend allowed per period (USD).")
    ] = None,
    budget_period: Annotated[str, typer.Option(help="daily or monthly.")] = "monthly",
    team: Annotated[
        str | None, typer.Option(help="Team whose budget the key also counts against.")
    ] = None,
    url: UrlOption = "http://127.0.0.1:4000",
    token: TokenOption = "",
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    body = {
        "alias": alias,
        "models": models or [],
        "rpm": rpm,
        "tpm": tpm,
        "budget_usd": budget_usd,
        "budget_period": budget_period,
        "team": team,
    }
    created = _call("POST", url, token, "/api/v1/keys", body)
    err.print(
        f"Created key [bold]{created['alias']}[/] ({created['id']}). "
        "Store it now: it will not be shown again.",
        highlight=False,
    )
    out.print(created["key"], highlight=False, markup=False)


@keys_app.command("list")
def list_keys(url: UrlOption = "http://127.0.0.1:4000", token: TokenOption = "") -> None:
    """List keys (never their secret)."""
    keys = _call("GET", url, token, "/api/v1/keys")["keys"]
    table = Table("id", "alias", "prefix", "models", "rpm", "tpm", "budget", "team", "status")
    for k in keys:
        budget = f"${k['budget_usd']}/{k['budget_period']}" if k["budget_usd"] is not None else ""
        status = "revoked" if k["revoked_at"] else k["source"]
        table.add_row(
            k["id"],
            k["alias"],
            k["key_prefix"] + "…",
            ",".join(k["models"]) or "all",
            str(k["rpm"] or ""),
            str(k["tpm"] or ""),
            budget,
            k["team"] or "",
            status,
        )
    out.print(table)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `vigil keys list`).")],
    url: UrlOption = "http://127.0.0.1:4000",
    token: TokenOption = "",
) -> None:
    """Revoke a key; it stops working immediately."""
    revoked = _call("DELETE", url, token, f"/api/v1/keys/{key_id}")
    err.print(f"Revoked {revoked['alias']} ({revoked['id']}).", highlight=False)
