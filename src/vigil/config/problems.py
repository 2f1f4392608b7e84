"""What is wrong with a config file, said precisely enough to fix it without reading code.

A problem names the key path (`models.gpt-4o.deployments[0].weight`), the file and the line, and
loading collects all of them before failing, so one `vigil check-config` run shows everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

Loc: TypeAlias = tuple[str | int, ...]
"""A key path as a tuple: mapping keys are strings, list indexes are ints."""


def format_path(loc: Loc) -> str:
    """("models", "gpt-4o", "deployments", 0, "weight") -> "models.gpt-4o.deployments[0].weight"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem: `path` is the dotted key path ("" for the whole file)."""

    path: str
    message: str
    line: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        elif self.line is not None:
            where = f"line {self.line}: "
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class ConfigError(Exception):
    """The config could not be loaded; `problems` lists every reason, in file order."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))
