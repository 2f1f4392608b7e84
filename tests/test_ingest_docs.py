"""The Python examples of docs/ingest.md and docs/sdk.md, run as written against a real server
(and the simulated OpenAI provider for the SDK's `openai` calls)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ADMIN_TOKEN, VigilProcess
from vigil.sim import SimServer

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(name: str) -> list[str]:
    return BLOCK.findall((DOCS / name).read_text())


@pytest.mark.parametrize("doc", ["ingest.md", "sdk.md"])
def test_doc_examples_run(vigil: VigilProcess, doc: str) -> None:
    blocks = python_blocks(doc)
    assert len(blocks) >= 3
    if doc == "sdk.md":  # the SDK doc's predictions fit the model ingest.md declares
        blocks = python_blocks("ingest.md")[1:2] + blocks
    with SimServer() as sim:
        env = {
            **os.environ,
            "VIGIL_URL": vigil.url,
            "VIGIL_TOKEN": ADMIN_TOKEN,
            "OPENAI_BASE_URL": sim.openai_base_url,
            "OPENAI_API_KEY": "sk-docs",
        }
        for number, code in enumerate(blocks, 1):
            done = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, f"{doc} example {number} failed:\n{code}\n{done.stderr}"
