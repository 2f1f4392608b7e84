"""Limits shared through a real `redis-server`: two Vigil processes, one key, one budget of RPM."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import VigilProcess, free_port
from gateway_env import gateway_config
from vigil.sim import SimServer

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server not installed (make system-deps)"
)

SHARED_KEY = "vk-shared-across-replicas-0123456789"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
        )
        if probe.stdout.strip() == "PONG":
            break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def test_two_processes_admit_at_most_rpm_between_them(tmp_path: Path, redis_url: str) -> None:
    with SimServer(profile="bench") as sim:
        config = gateway_config(sim, limits_backend=redis_url)
        config["keys"] = [{"alias": "shared", "key": SHARED_KEY, "rpm": 60}]
        replicas = []
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()
            replicas.append(VigilProcess(workdir, config).start())
        try:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
            headers = {"authorization": f"Bearer {SHARED_KEY}"}

            def send(i: int) -> int:
                target = replicas[i % 2]
                return httpx.post(
                    target.url + "/v1/chat/completions", json=body, headers=headers, timeout=30
                ).status_code

            started = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                statuses: list[Any] = list(pool.map(send, range(100)))
            assert time.monotonic() - started < 50, "the test must fit inside one minute"
            assert statuses.count(200) == 60, statuses
            assert statuses.count(429) == 40
        finally:
            for replica in replicas:
                replica.stop()


def test_budget_spent_on_one_replica_is_refused_on_the_other(
    tmp_path: Path, redis_url: str
) -> None:
    with SimServer(profile="bench") as sim:
        config = gateway_config(sim, limits_backend=redis_url)
        config["keys"] = [
            {"alias": "tight", "key": SHARED_KEY, "budget_usd": 0.00001, "budget_period": "daily"}
        ]
        replicas = []
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()
            replicas.append(VigilProcess(workdir, config).start())
        try:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "spend"}]}
            headers = {"authorization": f"Bearer {SHARED_KEY}"}
            first = httpx.post(
                replicas[0].url + "/v1/chat/completions", json=body, headers=headers, timeout=30
            )
            assert first.status_code == 200  # nothing spent yet: admitted, and it costs > budget
            time.sleep(0.3)
            second = httpx.post(
                replicas[1].url + "/v1/chat/completions", json=body, headers=headers, timeout=30
            )
            assert second.status_code == 402, second.text
            assert second.json()["error"]["code"] == "budget_exceeded"
        finally:
            for replica in replicas:
                replica.stop()
