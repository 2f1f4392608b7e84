"""`ConfigManager`: the running config, reloadable (the app calls `reload()` on SIGHUP).

A reload is all or nothing: a broken file leaves the running config untouched (and logs why), so an
edit in progress can never take a working server down. Readers just take `.current`; it is one
immutable object, replaced by a single assignment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from vigil.config.loader import load_config
from vigil.config.model import VigilConfig
from vigil.config.problems import ConfigError

logger = logging.getLogger("vigil.config")

Subscriber = Callable[[VigilConfig, VigilConfig], None]
"""Called with (old, new) after each successful reload."""


class ConfigManager:
    """Holds the current config of `path` (None: defaults) and reloads it on demand.

    The constructor loads once and raises `ConfigError` if that fails: a server must not start on
    a broken config.
    """

    def __init__(
        self,
        path: str | Path | None,
        env: Mapping[str, str] | None = None,
        *,
        config: VigilConfig | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self._env = env
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._fixed = config is not None
        self._current = config if config is not None else load_config(self.path, env)

    @classmethod
    def from_config(cls, config: VigilConfig | None = None) -> ConfigManager:
        """A manager around an already built config (tests, embedding), or the defaults plus
        `VIGIL_*` overrides when None. A given config has no file behind it: `reload()` keeps it."""
        return cls(None, config=config)

    @property
    def current(self) -> VigilConfig:
        return self._current

    def subscribe(self, callback: Subscriber) -> None:
        """Call `callback(old, new)` after every successful reload."""
        self._subscribers.append(callback)

    def reload(self) -> bool:
        """Re-read the file; True if the new config is now current, False if it was kept."""
        if self._fixed:
            logger.warning("config reload skipped: this config was not loaded from a file")
            return False
        with self._lock:
            try:
                new = load_config(self.path, self._env)
            except ConfigError as err:
                logger.error(
                    "config reload failed, keeping the running config:\n%s",
                    err,
                    extra={"problems": [str(problem) for problem in err.problems]},
                )
                return False
            old, self._current = self._current, new
            logger.info("config reloaded", extra={"path": str(self.path) if self.path else None})
            for callback in list(self._subscribers):
                try:
                    callback(old, new)
                except Exception:
                    logger.exception("config subscriber %r failed", callback)
            return True
