"""Vigil's configuration: `vigil.yaml` + `VIGIL_*` environment overrides -> `VigilConfig`.

Load with `load_config` (every problem of a file reported at once, with lines), keep the running
config in a `ConfigManager` (reload on SIGHUP), show it with `redacted_dict`. The reference in
`docs/configuration.md` is generated from the models by `python -m vigil.config.docs`.
"""

from vigil.config.check import check_config, run_check_config
from vigil.config.durations import Duration, format_duration, parse_duration
from vigil.config.loader import load_config
from vigil.config.manager import ConfigManager
from vigil.config.model import VigilConfig
from vigil.config.problems import ConfigError, ConfigProblem
from vigil.config.redact import redacted_dict

__all__ = [
    "ConfigError",
    "ConfigManager",
    "ConfigProblem",
    "Duration",
    "VigilConfig",
    "check_config",
    "format_duration",
    "load_config",
    "parse_duration",
    "redacted_dict",
    "run_check_config",
]
