"""`kill -9` in the middle of acknowledged writes loses nothing (design.md §4).

Writers of every kind (predictions as JSON, LLM calls as gzip NDJSON, labels and feedback mixed)
stream batches into a real `vigil serve`; at a random moment the process is SIGKILLed and
restarted on the same file. After all rounds, every event that was ever acknowledged with 200 must
be in the store, exactly as sent.
"""

from __future__ import annotations

import gzip
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import duckdb
import httpx
import orjson

ROUNDS = 20


def _batch(kind: str, ids: list[str]) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    if kind == "prediction":
        return [
            {
                "kind": kind,
                "id": i,
                "model": "m",
                "ts": now,
                "features": {"x": 1.5},
                "prediction": 1,
            }
            for i in ids
        ]
    if kind == "llm_call":
        return [{"kind": kind, "id": i, "model": "gpt-4o", "input_tokens": 3} for i in ids]
    return [  # labels and feedback mixed in one batch
        {"kind": "label", "id": i, "prediction_id": "p", "label": 1}
        if n % 2
        else {"kind": "feedback", "id": i, "score": 1.0}
        for n, i in enumerate(ids)
    ]


def _writer(
    url: str,
    headers: dict[str, str],
    prefix: str,
    kind: str,
    acked: list[tuple[str, list[dict[str, Any]]]],
    stop: threading.Event,
) -> None:
    """Posts batches of one kind; `llm_call` batches go as gzip NDJSON, the others as JSON."""
    seq = 0
    with httpx.Client(timeout=5.0) as client:
        while not stop.is_set():
            ids = [f"{prefix}-{seq + i}" for i in range(25)]
            seq += 25
            batch = _batch(kind, ids)
            try:
                if kind == "llm_call":
                    body = gzip.compress(b"\n".join(orjson.dumps(e) for e in batch))
                    extra = {"content-type": "application/x-ndjson", "content-encoding": "gzip"}
                    resp = client.post(
                        url + "/api/v1/events", content=body, headers={**headers, **extra}
                    )
                else:
                    resp = client.post(url + "/api/v1/events", json=batch, headers=headers)
            except httpx.HTTPError:
                return  # the server died under us: nothing after this point was acknowledged
            if resp.status_code == 200 and resp.json()["accepted"] == len(ids):
                acked.append((kind, batch))


KINDS = ("prediction", "llm_call", "mixed")
TABLES = ("predictions", "llm_calls", "labels", "feedback")


def test_kill9_loses_no_acknowledged_event(vigil_factory: Any) -> None:
    rng = random.Random(20261123)
    proc = vigil_factory(start=False)
    acked: list[tuple[str, list[dict[str, Any]]]] = []
    for round_no in range(ROUNDS):
        proc.start()
        stop = threading.Event()
        writers = [
            threading.Thread(
                target=_writer,
                args=(proc.url, proc.headers, f"r{round_no}w{w}", KINDS[w], acked, stop),
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
    # Restart once more (recovery from the last crash); a client retrying batches whose answer it
    # may have lost gets them acknowledged as duplicates, not stored twice.
    proc.start()
    for _, batch in rng.sample(acked, min(10, len(acked))):
        resp = httpx.post(proc.url + "/api/v1/events", json=batch, headers=proc.headers)
        assert resp.json()["duplicates"] == len(batch)
    assert proc.stop() == 0
    con = duckdb.connect(str(proc.store_path), read_only=True)
    stored: set[str] = set()
    for table in TABLES:
        rows = con.execute(f"SELECT id, count(*) FROM {table} GROUP BY id").fetchall()
        assert all(n == 1 for _, n in rows), f"duplicate ids stored in {table}"
        stored |= {row[0] for row in rows}
    con.close()
    acked_ids = [event["id"] for _, batch in acked for event in batch]
    assert {kind for kind, _ in acked} == set(KINDS), "every kind of writer must get through"
    assert len(acked_ids) > ROUNDS * 25, (
        "the writers barely wrote anything; the test proves nothing"
    )
    missing = set(acked_ids) - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
