"""`/api/v1/keys`: create (the key is shown once), list and revoke the gateway's virtual keys.

Writes go through the pipeline's writer (`run_exclusive`) together with an audit-log row; the
in-memory key ring changes in the same request, so a revoked key stops working at once.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.gateway.keys import KEY_COLUMNS, VirtualKey, hash_key, new_key
from vigil.gateway.service import Gateway
from vigil.records import new_id
from vigil.store import Store

router = APIRouter(tags=["keys"], dependencies=[Depends(require_admin)])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str = Field(min_length=1, max_length=100, description="Unique human name.")
    models: list[str] = Field(default_factory=list, description="Allowed models; empty: all.")
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, ge=0)
    budget_period: Literal["daily", "monthly"] = "monthly"
    team: str | None = None


def _gateway(request: Request) -> Gateway:
    gateway: Gateway | None = request.app.state.vigil.gateway
    if gateway is None:
        raise APIError(503, "starting", "the gateway is starting")
    return gateway


def _audit(store: Store, action: str, key: VirtualKey) -> None:
    store.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?)",
        [
            new_id(),
            datetime.now(UTC).replace(tzinfo=None),
            "admin",
            action,
            key.id,
            orjson.dumps({"alias": key.alias, "key_prefix": key.key_prefix}).decode(),
        ],
    )


@router.post("/api/v1/keys", status_code=201)
async def create_key(body: KeyCreate, request: Request) -> dict[str, Any]:
    """Create a virtual key. The response holds the key itself: it is never shown again."""
    state = request.app.state.vigil
    gateway = _gateway(request)
    if gateway.keys.alias_in_use(body.alias):
        raise APIError(409, "alias_in_use", f"an active key is already called {body.alias!r}")
    unknown = [m for m in body.models if m not in gateway.router.routes]
    if unknown:
        raise APIError(
            400,
            "unknown_model",
            f"unknown models: {', '.join(unknown)}",
            {"known": sorted(gateway.router.routes)},
        )
    plain = new_key()
    key = VirtualKey(
        id="key-" + secrets.token_hex(6),
        alias=body.alias,
        key_hash=hash_key(plain),
        key_prefix=plain[:8],
        models=frozenset(body.models),
        rpm=body.rpm,
        tpm=body.tpm,
        budget_usd=body.budget_usd,
        budget_period=body.budget_period,
        team=body.team,
    )

    def persist(store: Store) -> None:
        store.execute(
            f"INSERT INTO virtual_keys ({KEY_COLUMNS}) VALUES ({', '.join('?' * 12)})", key.row()
        )
        _audit(store, "key.create", key)

    await state.pipeline.run_exclusive(persist)
    gateway.keys.add(key)
    gateway.budgets.add_key(key)
    return {**key.public(), "key": plain}


@router.get("/api/v1/keys")
async def list_keys(request: Request) -> dict[str, Any]:
    """Every key (active and revoked), without secrets."""
    return {"keys": [k.public() for k in _gateway(request).keys.all()]}


@router.delete("/api/v1/keys/{key_id}")
async def revoke_key(key_id: str, request: Request) -> dict[str, Any]:
    """Revoke a key: it stops authenticating immediately."""
    state = request.app.state.vigil
    gateway = _gateway(request)
    key = gateway.keys.get(key_id)
    if key is None:
        raise APIError(404, "not_found", f"no key with id {key_id!r}")
    if key.source == "config":
        raise APIError(
            409,
            "bootstrap_key",
            "this key comes from vigil.yaml: remove it there and reload (SIGHUP)",
        )
    if key.revoked_at is not None:
        return key.public()
    when = datetime.now(UTC)
    gateway.keys.revoke(key_id, when)

    def persist(store: Store) -> None:
        store.execute(
            "UPDATE virtual_keys SET revoked_at = ? WHERE id = ?",
            [when.replace(tzinfo=None), key_id],
        )
        _audit(store, "key.revoke", key)

    await state.pipeline.run_exclusive(persist)
    return key.public()
