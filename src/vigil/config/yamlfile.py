"""Reading `vigil.yaml`: safe YAML, the line of every key, and `env:NAME` references.

pydantic reports errors by key path, not by line, so the YAML node tree (which keeps marks) is
walked once to map every key path to the line it was written on. The same walk catches duplicate
keys, which PyYAML would otherwise silently resolve to the last one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vigil.config.problems import ConfigProblem, Loc, format_path

ENV_REFERENCE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")
"""A whole string value `env:NAME` is replaced by the environment variable NAME."""


@dataclass
class YamlDocument:
    """A parsed config file: its data, where each key was written, and what was wrong."""

    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    file: str | None = None

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest parent written in the file."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None

    def problem(self, loc: Loc, message: str) -> ConfigProblem:
        return ConfigProblem(format_path(loc), message, self.line_of(loc), self.file)


def parse_yaml(text: str, file: str | None = None) -> YamlDocument:
    """Parse `text`; a syntax error or a non-mapping document is returned as the only problem."""
    doc = YamlDocument(file=file)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:  # before constructing, which flattens `<<` merges in place
            _index(node, (), doc, set())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        doc.problems.append(_syntax_problem(err, file))
        return doc
    except yaml.YAMLError as err:
        doc.problems.append(ConfigProblem("", f"invalid YAML: {err}", None, file))
        return doc
    finally:
        loader.dispose()
    if data is None:
        return doc
    if not isinstance(data, dict):
        line = node.start_mark.line + 1 if node is not None else None
        message = "the file must be a mapping of sections (server:, providers:, models:, ...)"
        doc.problems.append(ConfigProblem("", message, line, file))
        return doc
    doc.data = data
    return doc


def _syntax_problem(err: yaml.MarkedYAMLError, file: str | None) -> ConfigProblem:
    """`invalid YAML: <problem> (column C); <context> on line L`, at the problem's line."""
    mark = err.problem_mark or err.context_mark
    message = f"invalid YAML: {err.problem or err.context or 'syntax error'}"
    if mark is not None:
        message += f" (column {mark.column + 1})"
    if err.problem and err.context:
        message += f"; {err.context}"
        if err.context_mark is not None:
            message += f" on line {err.context_mark.line + 1}"
    return ConfigProblem("", message, mark.line + 1 if mark is not None else None, file)


def _index(node: Node, loc: Loc, doc: YamlDocument, active: set[int]) -> None:
    """Record the line of every key below `node`; `active` guards against recursive aliases."""
    if id(node) in active:
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            child = (*loc, key)
            if key in first_seen:
                message = f"duplicate key '{key}' (first written on line {first_seen[key]})"
                doc.problems.append(ConfigProblem(format_path(child), message, line, doc.file))
            first_seen.setdefault(key, line)
            doc.lines[child] = line
            _index(value_node, child, doc, active)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            child = (*loc, index)
            doc.lines[child] = item.start_mark.line + 1
            _index(item, child, doc, active)
    active.discard(id(node))


def resolve_env_references(
    value: Any, env: Mapping[str, str], doc: YamlDocument, loc: Loc = ()
) -> tuple[Any, set[Loc], set[Loc]]:
    """Replace every `env:NAME` string below `value` by the variable NAME.

    Returns the new value, the paths that were resolved (they may hold secrets, see
    `vigil.config.redact`) and the paths whose variable is missing (the value stays unresolved,
    and the problem is added to `doc`).
    """
    resolved: set[Loc] = set()
    missing: set[Loc] = set()

    def walk(item: Any, here: Loc) -> Any:
        if isinstance(item, str) and (match := ENV_REFERENCE.match(item)):
            name = match.group(1)
            if name in env:
                resolved.add(here)
                return env[name]
            missing.add(here)
            doc.problems.append(doc.problem(here, f"environment variable {name} is not set"))
            return item
        if isinstance(item, dict):
            return {key: walk(child, (*here, str(key))) for key, child in item.items()}
        if isinstance(item, list):
            return [walk(child, (*here, index)) for index, child in enumerate(item)]
        return item

    return walk(value, loc), resolved, missing
