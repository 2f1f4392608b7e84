"""The gateway's config: upstream providers, public models routed onto them, bootstrap keys.

Names here are only checked one model at a time; references between them (a deployment's provider,
a fallback's model, a key's models) are checked on the whole config in `vigil.config.references`,
where the problem can name the exact key path.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from vigil.config.durations import Duration, parse_duration
from vigil.config.sections import Period, Section, doc_default

DEFAULT_API_BASES = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
"""Public endpoints, spelled like the official SDKs' `base_url`."""


class Timeouts(Section):
    connect: Duration = Field(
        default=parse_duration("5s"), description="Opening the TCP+TLS connection."
    )
    first_byte: Duration = Field(
        default=parse_duration("60s"), description="From request sent to first response byte."
    )
    total: Duration = Field(default=parse_duration("600s"), description="Whole upstream call.")
    idle: Duration = Field(
        default=parse_duration("60s"), description="Longest silence between two stream chunks."
    )


class ProviderConfig(Section):
    type: Literal["openai", "anthropic"] = Field(
        default="openai",
        description="Wire format. `openai` also covers Azure OpenAI, vLLM, Ollama and relays.",
    )
    api_base: str = Field(
        default="",
        description="Base URL the API paths are appended to. Default: the public endpoint of "
        "`type`.",
        json_schema_extra=doc_default(
            f"`{DEFAULT_API_BASES['openai']}` (openai), `{DEFAULT_API_BASES['anthropic']}` "
            "(anthropic)"
        ),
    )
    api_key: SecretStr | None = Field(
        default=None, description="Upstream API key; write `env:NAME` to read it from NAME."
    )
    api_version: str | None = Field(
        default=None, description="`api-version` query parameter (Azure) or `anthropic-version`."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, repr=False, description="Extra headers sent on every request."
    )
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Upstream timeouts.")
    rpm: int | None = Field(
        default=None, ge=1, description="Requests per minute allowed upstream (all models)."
    )
    tpm: int | None = Field(
        default=None, ge=1, description="Tokens per minute allowed upstream (all models)."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_api_base(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("api_base"):
            kind = data.get("type", "openai")
            if kind in DEFAULT_API_BASES:
                return {**data, "api_base": DEFAULT_API_BASES[kind]}
        return data

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"must be an http(s) URL like https://api.openai.com/v1, not {value!r}"
            )
        try:
            parts.port  # noqa: B018 (raises on a malformed port)
        except ValueError:
            raise ValueError(f"has an invalid port: {value!r}") from None
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _header_lines(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or any(c in name for c in ": \t\r\n") or any(c in text for c in "\r\n"):
                raise ValueError(
                    f"header {name!r}: a name without ':' or spaces, and no line breaks anywhere"
                )
        return value


class DeploymentConfig(Section):
    provider: str = Field(description="Name of an entry in `providers`.")
    model: str = Field(description="Upstream model id sent to the provider.")
    weight: float = Field(
        default=1.0, ge=0, description="Share of traffic relative to the other deployments."
    )
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute allowed.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens per minute allowed.")


class CanaryConfig(Section):
    deployment: int = Field(ge=0, description="Index into `deployments` of the canary.")
    percent: float = Field(ge=0, le=100, description="Share of requests sent to the canary.")
    sticky_by: Literal["request_id", "user"] = Field(
        default="request_id",
        description="What keeps a caller on the same side: `user` pins each user.",
    )


class CooldownConfig(Section):
    failures: int = Field(
        default=3, ge=1, description="Consecutive failures that take a deployment out."
    )
    period: Duration = Field(
        default=parse_duration("30s"), description="How long it stays out before a retry."
    )


class PriceConfig(Section):
    input_per_mtok: float = Field(default=0.0, ge=0, description="USD per million input tokens.")
    output_per_mtok: float = Field(default=0.0, ge=0, description="USD per million output tokens.")
    cached_input_per_mtok: float | None = Field(
        default=None, ge=0, description="USD per million cached input tokens; unset: input price."
    )


class ModelConfig(Section):
    deployments: list[DeploymentConfig] = Field(
        min_length=1, description="Where requests for this model go, chosen by weight."
    )
    canary: CanaryConfig | None = Field(
        default=None, description="Send a fixed share of traffic to one deployment."
    )
    fallbacks: list[str] = Field(
        default_factory=list, description="Other models tried in order when all deployments fail."
    )
    retries: int = Field(default=2, ge=0, description="Retries on another deployment per request.")
    rpm: int | None = Field(
        default=None, ge=1, description="Requests per minute for this model, all keys together."
    )
    tpm: int | None = Field(
        default=None, ge=1, description="Tokens per minute for this model, all keys together."
    )
    cooldown: CooldownConfig = Field(
        default_factory=CooldownConfig, description="Taking failing deployments out of rotation."
    )
    price: PriceConfig = Field(default_factory=PriceConfig, description="Cost of one call.")
    capture: bool | None = Field(
        default=None,
        description="Keep this model's request and response bodies; unset: `capture.enabled`.",
    )


class KeyConfig(Section):
    alias: str = Field(min_length=1, description="Human name shown in the UI and logs.")
    key: SecretStr = Field(description="The virtual key clients send; use `env:NAME`.")
    models: list[str] = Field(
        default_factory=list, description="Models this key may call; empty: all models."
    )
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute allowed.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens per minute allowed.")
    budget_usd: float | None = Field(
        default=None, ge=0, description="Spend allowed per period, in US dollars."
    )
    budget_period: Period = Field(default="monthly", description="When the spend counter resets.")
    team: str | None = Field(
        default=None, description="Team whose budget this key also counts against."
    )
