"""`VigilConfig`, the root of `vigil.yaml`, and the settings sources that fill it.

Precedence is environment > YAML file > defaults. pydantic-settings merges the sources (deeply, so
`VIGIL_SERVER__PORT` changes only the port); this module only tells it which sources exist for one
load. The YAML has been read and its `env:` references resolved by `vigil.config.loader` before it
gets here, so the YAML source is a plain mapping.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import Field, PrivateAttr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from vigil.config.problems import Loc
from vigil.config.routing import KeyConfig, ModelConfig, ProviderConfig
from vigil.config.sections import (
    AlertsConfig,
    BudgetsConfig,
    CaptureConfig,
    LimitsBackendConfig,
    MetricsConfig,
    MLModelConfig,
    MonitorsConfig,
    PipelineConfig,
    ReportsConfig,
    RetentionConfig,
    ServerConfig,
    StatsConfig,
    StoreConfig,
    SyntheticConfig,
    UIConfig,
)

ENV_PREFIX = "VIGIL_"
ENV_DELIMITER = "__"


class YamlDataSource(PydanticBaseSettingsSource):
    """The already-parsed YAML file as a settings source (below the environment)."""

    def __init__(self, settings_cls: type[BaseSettings], data: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.data = dict(data)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


class MappingEnvSource(EnvSettingsSource):
    """`VIGIL_*` variables read from a given mapping instead of `os.environ`, so tests and
    `load_config(env=...)` never have to patch the process environment."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:
            return dict(self._env)
        return {name.lower(): value for name, value in self._env.items()}


class _LoadSources:
    def __init__(self, yaml_data: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.yaml_data = yaml_data
        self.env = env


_SOURCES: ContextVar[_LoadSources | None] = ContextVar("vigil_config_sources", default=None)


@contextmanager
def _sources(yaml_data: Mapping[str, Any], env: Mapping[str, str]) -> Iterator[None]:
    token = _SOURCES.set(_LoadSources(yaml_data, env))
    try:
        yield
    finally:
        _SOURCES.reset(token)


class VigilConfig(BaseSettings):
    """The whole configuration of one Vigil process (design.md §2 "Config").

    Build it with `vigil.config.load_config`, which reports every problem of a file at once.
    `VigilConfig()` alone gives the defaults plus `VIGIL_*` environment overrides.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        case_sensitive=False,
        extra="forbid",
        frozen=True,
    )

    server: ServerConfig = Field(
        default_factory=ServerConfig, description="The one HTTP server and its logs."
    )
    store: StoreConfig = Field(default_factory=StoreConfig, description="Where data is stored.")
    limits_backend: Annotated[LimitsBackendConfig, NoDecode] = Field(
        default_factory=LimitsBackendConfig,
        description="Where rate-limit and budget counters live. Shorthand: `memory` or a "
        "`redis://` URL.",
    )
    pipeline: PipelineConfig = Field(
        default_factory=PipelineConfig, description="Batching between ingest and the store."
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig,
        description="How long each data class is kept (at least 1h each).",
    )
    providers: dict[str, ProviderConfig] = Field(
        default_factory=dict, description="Upstream LLM APIs by name."
    )
    models: dict[str, ModelConfig] = Field(
        default_factory=dict, description="Public model names served by the gateway."
    )
    keys: list[KeyConfig] = Field(
        default_factory=list, description="Virtual keys created at startup if missing."
    )
    budgets: BudgetsConfig = Field(
        default_factory=BudgetsConfig, description="Spend limits shared by a team's keys."
    )
    capture: CaptureConfig = Field(
        default_factory=CaptureConfig,
        description="Keeping request and response bodies of gateway calls.",
    )
    ml_models: dict[str, MLModelConfig] = Field(
        default_factory=dict, description="Classic ML models whose predictions are monitored."
    )
    monitors: MonitorsConfig = Field(
        default_factory=MonitorsConfig, description="Drift and quality monitors."
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert evaluation.")
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="The Prometheus `/metrics` endpoint."
    )
    stats: StatsConfig = Field(
        default_factory=StatsConfig, description="The stats API's pre-aggregated rollups."
    )
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig, description="Synthetic probes against the gateway."
    )
    ui: UIConfig = Field(default_factory=UIConfig, description="The web UI's logins and sessions.")
    reports: ReportsConfig = Field(
        default_factory=ReportsConfig, description="Scheduled daily and weekly reports."
    )

    _secret_paths: frozenset[Loc] = PrivateAttr(default_factory=frozenset)
    """Key paths whose value came from an `env:` reference; `redacted_dict` masks them."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments > environment > YAML > defaults; no dotenv or secrets directory."""
        current = _SOURCES.get()
        if current is None:
            return init_settings, env_settings
        return (
            init_settings,
            MappingEnvSource(settings_cls, current.env),
            YamlDataSource(settings_cls, current.yaml_data),
        )

    @classmethod
    def from_sources(
        cls, yaml_data: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> VigilConfig:
        """Validate `yaml_data` overridden by the `VIGIL_*` variables of `env` (default: os)."""
        with _sources(yaml_data, os.environ if env is None else env):
            return cls()


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """The nested values `env` sets, to tell problems caused by a variable from file problems."""
    return MappingEnvSource(VigilConfig, env)()


def unwrap_annotation(annotation: Any) -> Any:
    """`Annotated[X, ...]` -> X and `X | None` -> X, to walk the models by their annotations."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        else:
            return annotation
