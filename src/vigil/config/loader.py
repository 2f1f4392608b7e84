"""`load_config`: file + environment -> a validated `VigilConfig`, or every problem at once.

Steps: parse the YAML (keeping lines), resolve `env:NAME` references, let pydantic-settings merge
`VIGIL_*` variables over the file and validate, then check cross-references. Every pydantic error
is turned into a `ConfigProblem` naming the key path, and either the file line it came from or the
environment variable that set it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsError

from vigil.config.model import ENV_DELIMITER, ENV_PREFIX, VigilConfig, unwrap_annotation
from vigil.config.problems import ConfigError, ConfigProblem, Loc, format_path
from vigil.config.references import reference_problems
from vigil.config.yamlfile import YamlDocument, parse_yaml, resolve_env_references


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> VigilConfig:
    """Load `path` (None: defaults only) with `VIGIL_*` overrides and `env:` secrets from `env`
    (default `os.environ`). Raises `ConfigError` listing every problem found."""
    env = os.environ if env is None else env
    doc = _read(path)
    if doc.problems and not doc.data:  # unreadable or not YAML: nothing more to say
        raise ConfigError(doc.problems)
    data, resolved, missing = resolve_env_references(doc.data, env, doc)
    problems = list(doc.problems)
    try:
        cfg = VigilConfig.from_sources(data, env)
    except ValidationError as err:
        for error in err.errors():
            loc = _clean_loc(error["loc"])
            if not any(loc[: len(bad)] == bad for bad in missing):
                problems.append(_problem(error, loc, doc, env))
    except SettingsError as err:  # a VIGIL_* variable holding malformed JSON
        problems.append(_settings_problem(err, env))
    else:
        for loc, message in reference_problems(cfg):
            problems.append(doc.problem(loc, message))
        if not problems:
            cfg._secret_paths = frozenset(resolved)
            return cfg
    problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))
    raise ConfigError(problems)


def _read(path: str | Path | None) -> YamlDocument:
    if path is None:
        return YamlDocument()
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        return YamlDocument(
            problems=[ConfigProblem("", f"cannot read: {err.strerror}", None, file)]
        )
    except UnicodeDecodeError as err:
        return YamlDocument(problems=[ConfigProblem("", f"not UTF-8 text: {err}", None, file)])
    return parse_yaml(text, file)


def _settings_problem(err: SettingsError, env: Mapping[str, str]) -> ConfigProblem:
    """pydantic-settings names the field but not the variable; name both."""
    match = re.search(r'field "([^"]+)"', str(err))
    if match is None:
        return ConfigProblem("", str(err))
    field = match.group(1)
    variable = _env_variable((field,), env) or ENV_PREFIX + field.upper()
    reason = f": {err.__cause__}" if err.__cause__ else ""
    return ConfigProblem(field, f"{variable} must hold a JSON value{reason}")


def _clean_loc(loc: tuple[int | str, ...]) -> Loc:
    """Drop pydantic's markers (`[key]` for dict keys) that are not part of the key path."""
    return tuple(part for part in loc if part != "[key]")


def _problem(
    error: ErrorDetails, loc: Loc, doc: YamlDocument, env: Mapping[str, str]
) -> ConfigProblem:
    message = _message(error, loc)
    variable = _env_variable(loc, env)
    if variable is not None:
        return ConfigProblem(format_path(loc), f"{message} (set by {variable})")
    return doc.problem(loc, message)


def _message(error: ErrorDetails, loc: Loc) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden" and loc:
        return _unknown_key_message(loc)
    if kind == "missing" and loc:
        return f"required key '{loc[-1]}' is missing"
    return message.removeprefix("Value error, ")


def _unknown_key_message(loc: Loc) -> str:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    if not allowed:
        return f"unknown key '{key}'"
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{key}'{hint} (allowed: {', '.join(allowed)})"


def _allowed_keys(loc: Loc) -> list[str]:
    """Field names of the model found at `loc`, walking the annotations from the root."""
    current: Any = VigilConfig
    for part in loc:
        current = unwrap_annotation(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field is not None else None
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return []
    current = unwrap_annotation(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _env_variable(loc: Loc, env: Mapping[str, str]) -> str | None:
    """The `VIGIL_*` variable that set the value at `loc` (or one of its parents), if any."""
    names = {name.lower(): name for name in env if name.upper().startswith(ENV_PREFIX)}
    for end in range(len(loc), 0, -1):
        candidate = ENV_PREFIX + ENV_DELIMITER.join(str(part) for part in loc[:end])
        if candidate.lower() in names:
            return names[candidate.lower()]
    return None
