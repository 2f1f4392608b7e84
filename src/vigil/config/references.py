"""Checks that need the whole config: names that point elsewhere, and backend-dependent keys.

They run on a validated `VigilConfig` and return (key path, message) pairs, so the loader can attach
the line where the offending name was written.
"""

from __future__ import annotations

from vigil.config.model import VigilConfig
from vigil.config.problems import Loc


def _known(kind: str, names: list[str]) -> str:
    return f"defined {kind}: {', '.join(sorted(names))}" if names else f"no {kind} are defined"


def reference_problems(cfg: VigilConfig) -> list[tuple[Loc, str]]:
    """Every cross-reference and backend problem of `cfg`, in key order."""
    problems: list[tuple[Loc, str]] = []
    if cfg.store.backend == "clickhouse" and not cfg.store.url:
        problems.append((("store", "url"), "required when store.backend is clickhouse"))
    if cfg.limits_backend.backend == "redis" and not cfg.limits_backend.url:
        problems.append((("limits_backend", "url"), "required when limits_backend is redis"))
    problems += _model_problems(cfg)
    problems += _key_problems(cfg)
    problems += _probe_problems(cfg)
    problems += _prompt_drift_problems(cfg)
    return problems


def _model_problems(cfg: VigilConfig) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    providers = list(cfg.providers)
    for name, model in cfg.models.items():
        here: Loc = ("models", name)
        for index, deployment in enumerate(model.deployments):
            if deployment.provider not in cfg.providers:
                message = (
                    f"unknown provider '{deployment.provider}' ({_known('providers', providers)})"
                )
                problems.append(((*here, "deployments", index, "provider"), message))
        if all(deployment.weight == 0 for deployment in model.deployments):
            message = "at least one deployment needs a weight above 0"
            problems.append(((*here, "deployments"), message))
        canary = model.canary
        if canary is not None and canary.deployment >= len(model.deployments):
            count = len(model.deployments)
            message = f"deployment index {canary.deployment} is out of range (0..{count - 1})"
            problems.append(((*here, "canary", "deployment"), message))
        for index, fallback in enumerate(model.fallbacks):
            if fallback == name:
                problems.append(((*here, "fallbacks", index), "a model cannot fall back to itself"))
            elif fallback not in cfg.models:
                others = [other for other in cfg.models if other != name]
                message = f"unknown model '{fallback}' ({_known('other models', others)})"
                problems.append(((*here, "fallbacks", index), message))
    return problems


def _key_problems(cfg: VigilConfig) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    aliases: dict[str, int] = {}
    secrets: dict[str, int] = {}
    for index, key in enumerate(cfg.keys):
        for position, model in enumerate(key.models):
            if model not in cfg.models:
                message = f"unknown model '{model}' ({_known('models', list(cfg.models))})"
                problems.append((("keys", index, "models", position), message))
        if key.alias in aliases:
            message = f"alias '{key.alias}' is already used by keys[{aliases[key.alias]}]"
            problems.append((("keys", index, "alias"), message))
        secret = key.key.get_secret_value()
        if secret in secrets:
            message = f"the same key value is already used by keys[{secrets[secret]}]"
            problems.append((("keys", index, "key"), message))
        aliases.setdefault(key.alias, index)
        secrets.setdefault(secret, index)
    return problems


def _probe_problems(cfg: VigilConfig) -> list[tuple[Loc, str]]:
    """Probe names are unique (they label metrics and stored results) and call defined models."""
    problems: list[tuple[Loc, str]] = []
    names: dict[str, int] = {}
    for index, probe in enumerate(cfg.synthetic.probes):
        here: Loc = ("synthetic", "probes", index)
        if probe.name in names:
            message = (
                f"name '{probe.name}' is already used by synthetic.probes[{names[probe.name]}]"
            )
            problems.append(((*here, "name"), message))
        names.setdefault(probe.name, index)
        if probe.model not in cfg.models:
            message = f"unknown model '{probe.model}' ({_known('models', list(cfg.models))})"
            problems.append(((*here, "model"), message))
    return problems


def _prompt_drift_problems(cfg: VigilConfig) -> list[tuple[Loc, str]]:
    """The prompt-drift monitor embeds through a defined model that can serve embeddings."""
    drift = cfg.monitors.prompt_drift
    here: Loc = ("monitors", "prompt_drift", "embedding_model")
    name = drift.embedding_model
    if name is None:
        if drift.enabled:
            return [(here, "required when monitors.prompt_drift.enabled is true")]
        return []
    model = cfg.models.get(name)
    if model is None:
        return [(here, f"unknown model '{name}' ({_known('models', list(cfg.models))})")]
    providers = [cfg.providers.get(d.provider) for d in model.deployments]
    if all(p is not None and p.type == "anthropic" for p in providers):
        return [(here, f"model '{name}' has only Anthropic deployments, which serve no embeddings")]
    return []
