"""`vigil.sdk`: the real `openai` SDK (sync, async, streaming) against the simulated provider,
reported into a real `vigil serve`; and the transport's behaviour when Vigil is slow or away."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import duckdb
import openai
import pytest

import vigil.sdk as vs
from conftest import ADMIN_TOKEN, VigilProcess, free_port
from vigil.sim import SimServer


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer() as server:
        yield server


def _rows(proc: VigilProcess, sql: str) -> list[tuple[Any, ...]]:
    assert proc.stop() == 0
    con = duckdb.connect(str(proc.store_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_instrumented_openai_clients_report_calls(vigil: VigilProcess, sim: SimServer) -> None:
    client = vs.VigilClient(vigil.url, ADMIN_TOKEN, flush_interval=0.05)
    sync = vs.instrument(
        openai.OpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0),
        client=client,
        team="search",
    )
    messages = [{"role": "user", "content": "hello there"}]
    reply = sync.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert reply.choices[0].message.content  # the caller gets the SDK's own object
    chunks = list(
        sync.chat.completions.create(
            model="gpt-4o",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None
    with pytest.raises(openai.InternalServerError):
        sync.chat.completions.create(
            model="gpt-4o-mini", messages=messages, extra_headers={"x-sim-fail": "500"}
        )
    sync.embeddings.create(model="text-embedding-3-small", input="abc")

    async def use_async() -> None:
        aclient = vs.instrument(
            openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0),
            client=client,
        )
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=messages, user="u1")
        stream = await aclient.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            async for _ in stream:
                pass

    asyncio.run(use_async())
    assert client.flush(10) and client.dropped == 0 and client.sent == 6
    rows = _rows(
        vigil,
        "SELECT model, stream, status_code, error_type, input_tokens > 0, output_tokens > 0, "
        'ttft_s IS NOT NULL, source, team, "user" FROM llm_calls ORDER BY ts',
    )
    assert rows == [
        ("gpt-4o-mini", False, 200, None, True, True, False, "ingest", "search", None),
        ("gpt-4o", True, 200, None, True, True, True, "ingest", "search", None),
        (
            "gpt-4o-mini",
            False,
            500,
            "InternalServerError",
            False,
            False,
            False,
            "ingest",
            "search",
            None,
        ),
        ("text-embedding-3-small", False, 200, None, True, False, False, "ingest", "search", None),
        ("gpt-4o-mini", False, 200, None, True, True, False, "ingest", None, "u1"),
        ("gpt-4o-mini", True, 200, None, True, True, True, "ingest", None, None),
    ]


def test_predictions_labels_feedback(vigil: VigilProcess) -> None:
    vs.init(vigil.url, ADMIN_TOKEN, flush_interval=0.05)
    pid = vs.log_prediction("churn", {"age": 42, "plan": "pro"}, prediction=1, score=0.8)
    vs.log_label(pid, 1, model="churn")
    vs.log_feedback(trace_id="t1", score=1.0, comment="great", user="ann")
    assert vs.flush(10)
    assert vigil.stop() == 0
    con = duckdb.connect(str(vigil.store_path), read_only=True)
    assert con.execute("SELECT id, score FROM predictions").fetchall() == [(pid, 0.8)]
    assert con.execute("SELECT prediction_id, label FROM labels").fetchall() == [(pid, "1")]
    feedback = con.execute('SELECT trace_id, comment, "user" FROM feedback').fetchall()
    assert feedback == [("t1", "great", "ann")]
    con.close()


class _Flaky(http.server.BaseHTTPRequestHandler):
    """503 twice (with retry-after: 0), then 200: what a restarting Vigil looks like."""

    calls: ClassVar[list[list[dict[str, Any]]]] = []

    def do_POST(self) -> None:
        import gzip

        body = gzip.decompress(self.rfile.read(int(self.headers["content-length"])))
        self.calls.append(json.loads(body))
        if len(self.calls) <= 2:
            self.send_response(503)
            self.send_header("retry-after", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"accepted": 1, "rejected": []}')

    def log_message(self, *args: Any) -> None:
        pass


def test_retries_with_backoff_then_delivers_once() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = vs.VigilClient(f"http://127.0.0.1:{server.server_port}", "t", flush_interval=0.01)
        client.send({"kind": "feedback", "id": "f1", "score": 1})
        assert client.flush(10)
        assert client.sent == 1 and client.dropped == 0
        assert [c[0]["id"] for c in _Flaky.calls] == ["f1", "f1", "f1"]  # same id: idempotent
    finally:
        server.shutdown()


def test_unreachable_vigil_never_raises_and_memory_is_bounded() -> None:
    waits: list[float] = []
    gate = threading.Event()

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        gate.wait(5)

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = vs.VigilClient(url, max_queue=5, batch_size=1, max_retries=2, sleep=sleep)
    for i in range(100):
        client.send({"kind": "feedback", "id": str(i)})
    assert client.dropped >= 94  # 1 being retried + 5 queued; the rest dropped, not buffered
    gate.set()
    assert client.flush(10)
    assert client.sent == 0 and client.dropped == 100
    assert all(0 <= w <= 10 for w in waits) and waits
    client.close()
    client.send({"kind": "feedback"})  # after close: dropped, no error
    assert client.dropped == 101
