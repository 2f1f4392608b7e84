"""`kill -9` in the middle of acknowledged writes loses nothing (design.md §4).

Writers stream batches into a real `vigil serve`; at a random moment the process is SIGKILLed and
restarted on the same file. After all rounds, every event that was ever acknowledged with 200 must
be in the store, exactly as sent.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import duckdb
import httpx

ROUNDS = 20


def _writer(
    url: str, headers: dict[str, str], prefix: str, acked: list[str], stop: threading.Event
) -> None:
    seq = 0
    with httpx.Client(timeout=5.0) as client:
        while not stop.is_set():
            ids = [f"{prefix}-{seq + i}" for i in range(25)]
            seq += 25
            batch = [
                {
                    "kind": "prediction",
                    "id": i,
                    "model": "m",
                    "ts": datetime.now(UTC).isoformat(),
                    "features": {"x": 1.5},
                    "prediction": 1,
                }
                for i in ids
            ]
            try:
                resp = client.post(url + "/api/v1/events", json=batch, headers=headers)
            except httpx.HTTPError:
                return  # the server died under us: nothing after this point was acknowledged
            if resp.status_code == 200 and resp.json()["accepted"] == len(ids):
                acked.extend(ids)


def test_kill9_loses_no_acknowledged_event(vigil_factory: Any) -> None:
    rng = random.Random(20261123)
    proc = vigil_factory(start=False)
    acked: list[str] = []
    for round_no in range(ROUNDS):
        proc.start()
        stop = threading.Event()
        writers = [
            threading.Thread(
                target=_writer, args=(proc.url, proc.headers, f"r{round_no}w{w}", acked, stop)
            )
            for w in range(3)
        ]
        for t in writers:
            t.start()
        time.sleep(rng.uniform(0.05, 0.8))  # random kill point while writes are in flight
        proc.kill()
        stop.set()
        for t in writers:
            t.join(10)
    # Restart once more (recovery from the last crash), then stop cleanly and read the file.
    proc.start()
    assert proc.stop() == 0
    con = duckdb.connect(str(proc.store_path), read_only=True)
    stored = {row[0] for row in con.execute("SELECT id FROM predictions").fetchall()}
    con.close()
    assert len(acked) > ROUNDS * 25, "the writers barely wrote anything; the test proves nothing"
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
