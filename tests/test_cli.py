"""The `vigil` command as a user runs it: help, version, check-config exit codes, demo start-up."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from conftest import free_port

CONFIGS = Path(__file__).parent / "configs"


def vigil(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )


def test_version_and_help_document_every_command() -> None:
    from vigil import __version__

    assert vigil("--version").stdout.strip() == f"vigil {__version__}"
    out = vigil("--help").stdout
    commands = ("serve", "demo", "sim", "check-config", "keys", "export", "drift")
    for command in commands:
        assert re.search(rf"│ {command}\s+\S", out), f"{command} undocumented in --help"
    for command in commands:
        assert vigil(command, "--help").returncode == 0


@pytest.mark.parametrize("name", sorted(p.name for p in (CONFIGS / "broken").iterdir()))
def test_check_config_rejects_broken_files_with_exit_2(name: str) -> None:
    result = vigil("check-config", str(CONFIGS / "broken" / name), env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    problems = [
        line for line in output.splitlines() if re.search(rf"{re.escape(name)}:\d+: ", line)
    ]
    assert len(problems) == 1, output  # one precise message, naming file and line


def test_check_config_accepts_a_good_file() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "VIGIL_TEST_ADMIN": "a",
        "VIGIL_TEST_OPENAI_KEY": "b",
        "VIGIL_TEST_RELAY_AUTH": "c",
        "VIGIL_TEST_SLACK_WEBHOOK": "https://hooks.example/d",
    }
    result = vigil("check-config", str(CONFIGS / "good.yaml"), env=env)
    assert result.returncode == 0, result.stderr


def test_serve_with_a_broken_config_exits_2() -> None:
    result = vigil("serve", "--config", str(CONFIGS / "broken" / "wrong_type.yaml"))
    assert result.returncode == 2
    assert "wrong_type.yaml" in result.stderr


def test_demo_prints_a_url_that_answers_within_60s(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "demo", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output = ""
    url = token = key = None
    while time.monotonic() - started < 60 and None in (url, token, key):
        line = proc.stdout.readline()
        if not line:
            break
        output += line
        if m := re.search(r"running at (http://\S+)", line):
            url = m.group(1)
        if m := re.search(r"Admin token: (\S+)", line):
            token = m.group(1)
        if m := re.search(r"Gateway key: (\S+)", line):
            key = m.group(1)
    assert url and token and key, output
    assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    assert time.monotonic() - started < 60
    # The printed key works with the openai SDK, and demo traffic flows through gateway and ingest.
    sdk = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    reply = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.choices[0].message.content
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        metrics = httpx.get(url + "/metrics").text
        if 'vigil_ingest_events_total{kind="prediction"}' in metrics and (
            'vigil_requests_total{model="claude' in metrics
        ):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("demo traffic never reached the gateway and ingest")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    rest = proc.stdout.read()
    assert "Demo stopped." in rest, output + rest
