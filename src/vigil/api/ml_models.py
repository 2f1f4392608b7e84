"""`/api/v1/ml-models`: declare classic ML models and upload their reference datasets (admin).

Models declared in vigil.yaml (`ml_models`) are listed too but are read-only here (409): the file
stays the one source of truth for what it declares. The registry itself is
`vigil.ingest.registry`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from vigil.api.auth import require_admin
from vigil.api.errors import APIError
from vigil.bodies import read_decoded_body
from vigil.config.durations import parse_duration
from vigil.ingest.registry import ModelSchema, RegistryError, describe, parse_dataset
from vigil.ingest.state import ingest_state

router = APIRouter(tags=["ml-models"], dependencies=[Depends(require_admin)])

_STATUS = {"not_found": 404, "conflict": 409, "invalid_reference": 422, "invalid_request": 400}

_REFERENCE_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class ModelDeclaration(BaseModel):
    """The body of `PUT /api/v1/ml-models/{name}`."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["binary", "multiclass", "regression"]
    features: dict[str, Literal["numerical", "categorical", "text", "embedding"]] = Field(
        default_factory=dict
    )
    positive_class: str | None = None
    label_delay: str | None = Field(None, description="How late labels arrive, e.g. `3d`.")


def _error(exc: RegistryError) -> APIError:
    return APIError(_STATUS.get(exc.code, 400), exc.code, str(exc), exc.details)


def _schema(request: Request, name: str) -> ModelSchema:
    vigil = request.app.state.vigil
    schema = ingest_state(vigil).registry.get(vigil.config, name)
    if schema is None:
        raise APIError(404, "not_found", f"no ML model named {name!r}")
    return schema


async def _summary(schema: ModelSchema) -> dict[str, Any]:
    body = schema.to_dict()
    body["reference_summary"] = None
    if schema.reference:
        try:
            body["reference_summary"] = await asyncio.to_thread(_describe_file, schema.reference)
        except RegistryError as exc:
            body["reference_summary"] = {"error": str(exc)}
    return body


def _describe_file(path: str) -> dict[str, Any] | None:
    file = Path(path)
    return describe(parse_dataset(file.read_bytes())) if file.exists() else None


@router.get("/api/v1/ml-models")
async def list_models(request: Request) -> dict[str, Any]:
    """Every declared model (vigil.yaml and API), with its schema and reference path."""
    vigil = request.app.state.vigil
    registry = ingest_state(vigil).registry
    models = [registry.get(vigil.config, n) for n in registry.names(vigil.config)]
    return {"models": [m.to_dict() for m in models if m is not None]}


@router.get("/api/v1/ml-models/{name}")
async def get_model(request: Request, name: str) -> dict[str, Any]:
    """One model's schema, and the shape of its reference dataset."""
    return await _summary(_schema(request, name))


@router.put("/api/v1/ml-models/{name}")
async def declare_model(request: Request, name: str, body: ModelDeclaration) -> dict[str, Any]:
    """Declare (or replace) a model: task, feature schema, positive class, label delay."""
    vigil = request.app.state.vigil
    delay = None
    if body.label_delay:
        try:
            delay = parse_duration(body.label_delay).total_seconds()
        except ValueError as exc:
            raise APIError(400, "invalid_request", f"label_delay: {exc}") from None
    schema = ModelSchema(
        name=name,
        task=body.task,
        features=dict(body.features),
        positive_class=body.positive_class,
        label_delay_s=delay,
        source="api",
    )
    try:
        stored = await asyncio.to_thread(ingest_state(vigil).registry.declare, vigil.config, schema)
    except RegistryError as exc:
        raise _error(exc) from None
    return stored.to_dict()


@router.delete("/api/v1/ml-models/{name}", status_code=204)
async def delete_model(request: Request, name: str) -> Response:
    """Forget an API-declared model and its uploaded reference (stored predictions stay)."""
    vigil = request.app.state.vigil
    try:
        await asyncio.to_thread(ingest_state(vigil).registry.delete, vigil.config, name)
    except RegistryError as exc:
        raise _error(exc) from None
    return Response(status_code=204)


@router.put("/api/v1/ml-models/{name}/reference", openapi_extra=_REFERENCE_DOC)
async def upload_reference(request: Request, name: str) -> dict[str, Any]:
    """Upload the reference (training) dataset as CSV with a header row, or Parquet.

    Every feature of the schema must be a column; other columns (prediction, label) are kept.
    Stored as Parquet under the store's directory; replaces any earlier upload.
    """
    vigil = request.app.state.vigil
    schema = _schema(request, name)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    allowed = ("text/csv", "application/vnd.apache.parquet", "application/octet-stream", "")
    if media not in allowed:
        raise APIError(
            415,
            "unsupported_media_type",
            f"content-type {media!r} is not supported; send text/csv or "
            "application/vnd.apache.parquet",
        )
    data = await read_decoded_body(request, vigil.config.server.max_body_bytes)
    registry = ingest_state(vigil).registry
    try:
        summary = await asyncio.to_thread(registry.save_reference, schema, data)
    except RegistryError as exc:
        raise _error(exc) from None
    return {"model": name, "reference": str(registry.reference_file(name)), **summary}
