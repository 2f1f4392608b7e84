"""Loki push (`/loki/api/v1/push`) from a real Loki client library (JSON) and in Loki's snappy
protobuf wire format, read back through `GET /api/v1/logs`."""

from __future__ import annotations

import gzip
import logging
import time
from typing import Any

import cramjam
import httpx
import logging_loki
import orjson

from conftest import ADMIN_TOKEN, VigilProcess
from vigil.ingest.loki_proto import PushRequest


def _logs(proc: VigilProcess, **params: Any) -> list[dict[str, Any]]:
    resp = httpx.get(proc.url + "/api/v1/logs", params=params, headers=proc.headers)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["logs"])


def _varint_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (lengths < 128 here), written by hand."""
    assert len(payload) < 128
    return bytes([(number << 3) | 2, len(payload)]) + payload


def test_loki_client_library_json(vigil: VigilProcess) -> None:
    handler = logging_loki.LokiHandler(
        url=vigil.url + "/loki/api/v1/push",
        tags={"app": "checkout", "env": "prod"},
        auth=("anyone", ADMIN_TOKEN),  # Basic auth, the way Grafana Cloud clients send it
        version="1",
    )
    logger = logging.getLogger("vigil.test.loki")
    logger.propagate = False
    logger.addHandler(handler)
    logger.error("card declined", extra={"tags": {"order": "A7"}})
    logger.warning("slow payment provider")
    lines = _logs(vigil, service="checkout")
    assert [(x["body"], x["level"]) for x in lines] == [
        ("slow payment provider", "warning"),
        ("card declined", "error"),
    ]
    assert lines[1]["attributes"]["order"] == "A7"
    assert len(_logs(vigil, label="env:prod", query="DECLINED")) == 1


def test_snappy_protobuf_push_and_errors(vigil: VigilProcess) -> None:
    now_ns = time.time_ns()
    push = PushRequest()
    stream = push.streams.add(labels='{job="api", level="error", msg="say \\"hi\\""}')
    entry = stream.entries.add(line="upstream timeout")
    entry.timestamp.FromNanoseconds(now_ns)
    entry.structuredMetadata.add(name="trace_id", value="AB" * 16)
    body = bytes(cramjam.snappy.compress_raw(push.SerializeToString()))
    headers = {**vigil.headers, "content-type": "application/x-protobuf"}
    resp = httpx.post(vigil.url + "/loki/api/v1/push", content=body, headers=headers)
    assert resp.status_code == 204, resp.text

    # The same wire format written field by field (push.proto's numbers), not by our descriptor.
    timestamp = bytes([0x08]) + _varint(now_ns // 10**9)
    raw_entry = _varint_field(1, timestamp) + _varint_field(2, b"hand-made line")
    raw = _varint_field(1, _varint_field(1, b'{job="api"}') + _varint_field(2, raw_entry))
    resp = httpx.post(
        vigil.url + "/loki/api/v1/push",
        content=bytes(cramjam.snappy.compress_raw(raw)),
        headers=headers,
    )
    assert resp.status_code == 204, resp.text

    (line,) = _logs(vigil, trace_id="ab" * 16)
    assert line["body"] == "upstream timeout" and line["level"] == "error"
    assert line["service"] == "api" and line["attributes"]["msg"] == 'say "hi"'
    assert line["trace"] == "/api/v1/traces/" + "ab" * 16
    assert {x["body"] for x in _logs(vigil, service="api")} == {
        "upstream timeout",
        "hand-made line",
    }

    # JSON, gzip-compressed, with structured metadata
    payload = {
        "streams": [
            {"stream": {"service_name": "web"}, "values": [[str(now_ns), "hi", {"k": "v"}]]}
        ]
    }
    resp = httpx.post(
        vigil.url + "/loki/api/v1/push",
        content=gzip.compress(orjson.dumps(payload)),
        headers={**vigil.headers, "content-type": "application/json", "content-encoding": "gzip"},
    )
    assert resp.status_code == 204
    assert _logs(vigil, service="web")[0]["attributes"] == {"service_name": "web", "k": "v"}

    bad: list[tuple[dict[str, str], bytes, int, str]] = [
        ({"content-type": "application/x-protobuf"}, b"not snappy", 400, "invalid_push"),
        ({"content-type": "application/json"}, b'{"streams": 3}', 400, "invalid_push"),
        (
            {"content-type": "application/json"},
            b'{"streams": [{"stream": {}, "values": [["x", "l"]]}]}',
            400,
            "invalid_push",
        ),
        ({"content-type": "text/plain"}, b"x", 415, "unsupported_media_type"),
    ]
    for extra, content, status, code in bad:
        resp = httpx.post(
            vigil.url + "/loki/api/v1/push", content=content, headers={**vigil.headers, **extra}
        )
        assert resp.status_code == status and resp.json()["error"]["code"] == code, resp.text
    bad_labels = PushRequest()
    bad_labels.streams.add(labels="job=api").entries.add(line="x")
    resp = httpx.post(
        vigil.url + "/loki/api/v1/push",
        content=bytes(cramjam.snappy.compress_raw(bad_labels.SerializeToString())),
        headers=headers,
    )
    assert resp.status_code == 400 and "labels" in resp.json()["error"]["message"]
    unauthorized = httpx.post(vigil.url + "/loki/api/v1/push", json=payload, auth=("u", "wrong"))
    assert unauthorized.status_code == 401


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
