"""Checking a prediction's features against its model's declared schema.

A prediction that does not fit is still stored (the model did make it, and dropping it would hide
the problem); its issues go into the `schema_issues` column so the data-quality monitors and the UI
can count and show them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

FeatureKind: TypeAlias = Literal["numerical", "categorical", "text", "embedding"]
Task: TypeAlias = Literal["binary", "multiclass", "regression"]
FEATURE_KINDS: tuple[str, ...] = ("numerical", "categorical", "text", "embedding")

Issue: TypeAlias = dict[str, Any]
"""`{"feature", "check", "detail"}`; `check` is missing | wrong_type | not_finite | unexpected."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value_issue(kind: str, value: Any) -> tuple[str, str] | None:
    if kind == "numerical":
        if not _is_number(value):
            return "wrong_type", f"expected a number, got {type(value).__name__}"
        if not math.isfinite(value):
            return "not_finite", f"{value!r} is not a finite number"
    elif kind == "categorical":
        if not isinstance(value, str | int | bool):
            got = type(value).__name__
            return "wrong_type", f"expected a string, integer or boolean, got {got}"
    elif kind == "text":
        if not isinstance(value, str):
            return "wrong_type", f"expected a string, got {type(value).__name__}"
    elif kind == "embedding" and (
        not isinstance(value, list) or not value or not all(map(_is_number, value))
    ):
        return "wrong_type", "expected a non-empty list of numbers"
    return None


def feature_issues(schema: Mapping[str, str], features: Any) -> list[Issue]:
    """Everything wrong with `features` for a model whose schema maps feature name -> kind."""
    if not schema:
        return []
    if not isinstance(features, dict):
        detail = f"features must be an object of {len(schema)} features"
        return [{"feature": None, "check": "wrong_type", "detail": detail}]
    issues: list[Issue] = []
    for name, kind in schema.items():
        value = features.get(name)
        if value is None:
            issues.append({"feature": name, "check": "missing", "detail": f"no value ({kind})"})
            continue
        problem = _value_issue(kind, value)
        if problem is not None:
            issues.append({"feature": name, "check": problem[0], "detail": problem[1]})
    for name in features:
        if name not in schema:
            issues.append({"feature": name, "check": "unexpected", "detail": "not in the schema"})
    return issues
