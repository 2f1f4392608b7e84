"""Every YAML example in docs/alerts.md is valid config, so the page cannot drift from the model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from vigil.config import load_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "alerts.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
MINIMAL: dict[str, Any] = {"server": {"port": 4000}, "alerts": {"enabled": True}}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if both else value
    return out


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_yaml_example_loads(block: str, tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(yaml.safe_dump(merge(MINIMAL, yaml.safe_load(block))))
    env = {name: f"https://hooks.example/{name}" for name in re.findall(r"env:(\w+)", block)}
    cfg = load_config(path, env=env)
    assert cfg.alerts.enabled
    for receiver in cfg.alerts.receivers:  # the referenced secrets resolved
        for url in [*receiver.webhook_urls, *receiver.slack_urls]:
            assert url.get_secret_value().startswith("https://")
