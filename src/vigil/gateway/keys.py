"""Virtual keys: what clients send as their API key; hashed at rest, looked up in memory.

Keys are 256-bit random tokens, so one SHA-256 is the right hash (no salt or slow KDF is needed for
secrets that cannot be guessed); the plaintext is returned once, at creation, and never stored or
logged. Keys from `keys:` in the config are bootstrap keys: they live as long as the config does.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from vigil.config import VigilConfig

KEY_PREFIX = "vk-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(slots=True)
class VirtualKey:
    id: str
    alias: str
    key_hash: str
    key_prefix: str
    """The first characters of the key, enough for a human to tell keys apart."""
    models: frozenset[str] = frozenset()
    """Models the key may call; empty means all."""
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: str = "monthly"
    team: str | None = None
    source: str = "api"
    """api (created through the admin API or CLI) or config (bootstrap)."""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    revoked_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """Everything about the key except its hash."""
        return {
            "id": self.id,
            "alias": self.alias,
            "key_prefix": self.key_prefix,
            "models": sorted(self.models),
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_usd": self.budget_usd,
            "budget_period": self.budget_period,
            "team": self.team,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }

    def row(self) -> list[Any]:
        """Columns of the `virtual_keys` table, in order."""
        return [
            self.id,
            self.alias,
            self.key_hash,
            self.key_prefix,
            orjson.dumps(sorted(self.models)).decode(),
            self.rpm,
            self.tpm,
            self.budget_usd,
            self.budget_period,
            self.team,
            self.created_at.replace(tzinfo=None),
            self.revoked_at.replace(tzinfo=None) if self.revoked_at else None,
        ]

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> VirtualKey:
        (id_, alias, key_hash, prefix, models, rpm, tpm, budget, period, team, created, revoked) = (
            row
        )
        return cls(
            id=id_,
            alias=alias,
            key_hash=key_hash,
            key_prefix=prefix,
            models=frozenset(orjson.loads(models) if models else ()),
            rpm=rpm,
            tpm=tpm,
            budget_usd=budget,
            budget_period=period,
            team=team,
            created_at=created.replace(tzinfo=UTC),
            revoked_at=revoked.replace(tzinfo=UTC) if revoked else None,
        )


KEY_COLUMNS = (
    "id, alias, key_hash, key_prefix, models, rpm, tpm, budget_usd, budget_period, team, "
    "created_at, revoked_at"
)


class KeyRing:
    """Active keys by hash: the gateway's auth lookup (no I/O)."""

    def __init__(self) -> None:
        self._by_hash: dict[str, VirtualKey] = {}
        self._by_id: dict[str, VirtualKey] = {}

    def load(self, stored: list[VirtualKey], config: VigilConfig) -> None:
        """Replace the ring with stored keys plus the config's bootstrap keys."""
        by_hash: dict[str, VirtualKey] = {}
        by_id: dict[str, VirtualKey] = {}
        for key in stored:
            by_id[key.id] = key
            if key.revoked_at is None:
                by_hash[key.key_hash] = key
        for boot in config.keys:
            plain = boot.key.get_secret_value()
            digest = hash_key(plain)
            key = VirtualKey(
                id=f"cfg-{boot.alias}",
                alias=boot.alias,
                key_hash=digest,
                key_prefix=plain[:8],
                models=frozenset(boot.models),
                rpm=boot.rpm,
                tpm=boot.tpm,
                budget_usd=boot.budget_usd,
                budget_period=boot.budget_period,
                team=boot.team,
                source="config",
            )
            by_hash[digest] = key
            by_id[key.id] = key
        self._by_hash, self._by_id = by_hash, by_id

    def authenticate(self, presented: str) -> VirtualKey | None:
        return self._by_hash.get(hash_key(presented))

    def get(self, key_id: str) -> VirtualKey | None:
        return self._by_id.get(key_id)

    def all(self) -> list[VirtualKey]:
        return sorted(self._by_id.values(), key=lambda k: k.created_at)

    def add(self, key: VirtualKey) -> None:
        self._by_id[key.id] = key
        if key.revoked_at is None:
            self._by_hash[key.key_hash] = key

    def revoke(self, key_id: str, when: datetime) -> VirtualKey | None:
        key = self._by_id.get(key_id)
        if key is None:
            return None
        key.revoked_at = when
        self._by_hash.pop(key.key_hash, None)
        return key

    def alias_in_use(self, alias: str) -> bool:
        return any(k.alias == alias and k.revoked_at is None for k in self._by_id.values())
