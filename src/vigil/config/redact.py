"""`redacted_dict`: the effective config as JSON-able data that is safe to show or log.

Typed secrets are `SecretStr`, but free-form sections (alert receivers, probes, headers) can hold
credentials too, so three rules apply: `SecretStr` values, values that came from an `env:`
reference, and values under secret-looking keys are masked; passwords inside URLs are masked.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from vigil.config.durations import format_duration
from vigil.config.model import VigilConfig
from vigil.config.problems import Loc
from vigil.config.sections import mask_url_password
from vigil.jsonlog import MASK

_SECRET_KEY = re.compile(r"token|secret|password|passwd|api[_-]?key|authorization|credential", re.I)


def redacted_dict(cfg: VigilConfig) -> dict[str, Any]:
    """The effective config with every secret replaced by `********`; durations as `30d`."""
    secret_paths = cfg._secret_paths
    data = cfg.model_dump(mode="python")

    def walk(value: Any, loc: Loc, secret_key: bool) -> Any:
        if isinstance(value, SecretStr) or (loc in secret_paths and value is not None):
            return MASK
        if isinstance(value, dict):
            return {
                str(key): walk(item, (*loc, str(key)), bool(_SECRET_KEY.search(str(key))))
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [walk(item, (*loc, index), secret_key) for index, item in enumerate(value)]
        if isinstance(value, timedelta):
            return format_duration(value)
        if isinstance(value, str):
            return MASK if secret_key else mask_url_password(value)
        return value

    result: dict[str, Any] = walk(data, (), False)
    return result
