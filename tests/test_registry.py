"""The ML model registry: config and API declarations, reference uploads (CSV and Parquet), and
`load_reference` as the monitors call it."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from conftest import VigilProcess
from vigil.ingest.registry import load_reference, model_schema

CONFIG = {
    "ml_models": {
        "fraud": {"task": "binary", "features": {"amount": "numerical"}, "positive_class": "1"}
    }
}


def test_declare_upload_and_load(vigil_factory: Any) -> None:
    proc: VigilProcess = vigil_factory(CONFIG)
    api, headers = proc.url + "/api/v1/ml-models", proc.headers
    churn = {
        "task": "binary",
        "features": {"age": "numerical", "plan": "categorical", "vec": "embedding"},
        "label_delay": "3d",
    }
    resp = httpx.put(api + "/churn", json=churn, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["label_delay_s"] == 3 * 86400 and resp.json()["source"] == "api"
    listed = {m["name"]: m["source"] for m in httpx.get(api, headers=headers).json()["models"]}
    assert listed == {"churn": "api", "fraud": "config"}

    csv = b"age,plan,label\n31,pro,1\n45,free,0\n"
    resp = httpx.put(
        api + "/churn/reference", content=csv, headers={**headers, "content-type": "text/csv"}
    )
    assert resp.status_code == 422 and resp.json()["error"]["details"]["missing"] == ["vec"]
    table = pa.table(
        {
            "age": [31.0, 45.0, 52.0],
            "plan": ["pro", "free", "pro"],
            "vec": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],
            "label": [1, 0, 1],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    resp = httpx.put(
        api + "/churn/reference",
        content=sink.getvalue(),
        headers={**headers, "content-type": "application/vnd.apache.parquet"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == 3
    fraud_csv = b"amount,label\n10.5,0\n999.0,1\n"
    resp = httpx.put(
        api + "/fraud/reference", content=fraud_csv, headers={**headers, "content-type": "text/csv"}
    )
    assert resp.status_code == 200  # config-declared models take uploads too
    detail = httpx.get(api + "/churn", headers=headers).json()
    assert detail["reference_summary"]["rows"] == 3

    # predictions against the schema: stored, and flagged when they do not fit
    events = [
        {
            "kind": "prediction",
            "model": "churn",
            "features": {"age": 3, "plan": "pro", "vec": [1.0, 2.0]},
        },
        {
            "kind": "prediction",
            "model": "churn",
            "features": {"age": None, "plan": ["x"], "vec": []},
        },
        {"kind": "prediction", "model": "fraud", "features": {"amount": "ten"}},
    ]
    body = httpx.post(
        proc.url + "/api/v1/events",
        json=events,
        headers=headers,
    ).json()
    assert body["accepted"] == 3 and body["flagged"] == 2

    # errors
    assert httpx.put(api + "/fraud", json=churn, headers=headers).status_code == 409
    assert httpx.put(api + "/bad%20name", json=churn, headers=headers).status_code == 400
    assert httpx.put(api + "/x", json={"task": "ranking"}, headers=headers).status_code == 422
    assert httpx.get(api + "/nope", headers=headers).status_code == 404
    resp = httpx.put(api + "/nope/reference", content=csv, headers=headers)
    assert resp.status_code == 404
    resp = httpx.put(
        api + "/churn/reference",
        content=b"\x00\x01garbage",
        headers={**headers, "content-type": "application/vnd.apache.parquet"},
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_reference"
    assert (
        httpx.put(
            api + "/churn/reference", content=csv, headers={**headers, "content-type": "image/png"}
        ).status_code
        == 415
    )
    assert httpx.get(api).status_code == 401

    # the monitors' entry point, offline (store directory) and after a restart
    assert proc.stop() == 0
    store_dir = proc.store_path.parent
    ref = load_reference(store_dir, "churn")
    assert set(ref) == {"age", "plan", "vec", "label"}
    np.testing.assert_array_equal(ref["age"], [31.0, 45.0, 52.0])
    assert list(ref["plan"]) == ["pro", "free", "pro"]
    np.testing.assert_allclose(ref["vec"][1], [0.3, 0.4])
    schema = model_schema(store_dir, "churn")
    assert schema is not None and schema.features["vec"] == "embedding"
    proc.start()
    assert httpx.get(api + "/churn", headers=headers).json()["reference_summary"]["rows"] == 3
    assert httpx.delete(api + "/churn", headers=headers).status_code == 204
    assert httpx.get(api + "/churn", headers=headers).status_code == 404
    assert not (store_dir / "references" / "churn.parquet").exists()


def test_a_model_declared_through_the_api_is_monitored(vigil_factory: Any) -> None:
    """Declared and given a reference over HTTP only: the monitors find it through the registry."""
    proc: VigilProcess = vigil_factory(
        {"monitors": {"window": "1m", "windows": 2, "min_rows": 20, "interval": "1h"}}
    )
    api, headers = proc.url + "/api/v1/ml-models", proc.headers
    spec = {"task": "binary", "features": {"x": "numerical", "y": "numerical"}}
    assert httpx.put(api + "/scorer", json=spec, headers=headers).status_code == 200
    rows = "\n".join(f"{i % 50},{(i * 7) % 50}" for i in range(400))
    csv = ("x,y\n" + rows + "\n").encode()
    resp = httpx.put(
        api + "/scorer/reference", content=csv, headers={**headers, "content-type": "text/csv"}
    )
    assert resp.status_code == 200, resp.text
    events = [
        {
            "kind": "prediction",
            "model": "scorer",
            "features": {"x": 100 + i % 10, "y": i % 50},
            "prediction": 1,
            "score": 0.9,
        }
        for i in range(200)
    ]
    assert httpx.post(proc.url + "/api/v1/events", json=events, headers=headers).status_code == 200
    run = httpx.post(proc.url + "/api/v1/monitors/run?model=scorer", headers=headers, timeout=60)
    assert run.status_code == 200, run.text
    found = httpx.get(
        proc.url + "/api/v1/monitors/scorer?monitor=data_drift&flagged=true", headers=headers
    ).json()
    assert any(r["feature"] == "x" for r in found["monitors"].get("data_drift", [])), found
