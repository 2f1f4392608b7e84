"""`/api/v1/silences`: Alertmanager-compatible silences (the `/api/v2/silences` shape).

A silence has matchers (`{"name", "value", "isRegex", "isEqual"}`), `startsAt`, `endsAt`,
`createdBy` and `comment`; `status.state` is `pending`, `active` or `expired`. Deleting expires it
(its `endsAt` becomes now), as Alertmanager does, so the history keeps it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from vigil.alerts.config import Matcher
from vigil.alerts.notify import iso
from vigil.alerts.routing import Silence
from vigil.api.alerts import alert_service
from vigil.api.auth import require_admin
from vigil.api.errors import APIError, json_response

router = APIRouter(
    prefix="/api/v1/silences", tags=["silences"], dependencies=[Depends(require_admin)]
)


class PostableSilence(BaseModel):
    """Alertmanager's `postableSilence`; `id` replaces an existing silence."""

    id: str | None = None
    matchers: list[Matcher] = Field(min_length=1)
    startsAt: datetime  # Alertmanager's field names
    endsAt: datetime
    createdBy: str = ""
    comment: str = ""


def silence_json(s: Silence, now: datetime) -> dict[str, object]:
    return {
        "id": s.id,
        "matchers": [m.model_dump(by_alias=True) for m in s.matchers],
        "startsAt": iso(s.starts_at),
        "endsAt": iso(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "updatedAt": iso(s.updated_at),
        "status": {"state": s.status(now)},
    }


@router.get("")
async def list_silences(request: Request) -> Response:
    """Every silence (pending, active and expired), newest first."""
    service = await alert_service(request)
    now = service.clock()
    silences = sorted(service.silences.values(), key=lambda s: s.updated_at, reverse=True)
    return json_response([silence_json(s, now) for s in silences])


@router.post("")
async def post_silence(request: Request, body: PostableSilence) -> Response:
    """Create (or, with `id`, update) a silence; answers `{"silenceID": ...}`."""
    service = await alert_service(request)
    if body.startsAt.tzinfo is None or body.endsAt.tzinfo is None:
        raise APIError(422, "invalid_request", "startsAt and endsAt need a time zone (e.g. Z)")
    if body.endsAt <= body.startsAt:
        raise APIError(422, "invalid_request", "endsAt must be after startsAt")
    if body.id is not None and body.id not in service.silences:
        raise APIError(404, "not_found", f"no silence {body.id!r}")
    now = service.clock()
    silence = Silence(
        body.id or str(uuid.uuid4()),
        tuple(body.matchers),
        body.startsAt,
        body.endsAt,
        body.createdBy,
        body.comment,
        now,
    )
    await service.add_silence(silence)
    return json_response({"silenceID": silence.id})


@router.get("/{silence_id}")
async def get_silence(request: Request, silence_id: str) -> Response:
    service = await alert_service(request)
    silence = service.silences.get(silence_id)
    if silence is None:
        raise APIError(404, "not_found", f"no silence {silence_id!r}")
    return json_response(silence_json(silence, service.clock()))


@router.delete("/{silence_id}")
async def expire_silence(request: Request, silence_id: str) -> Response:
    """Expire the silence now."""
    service = await alert_service(request)
    silence = service.silences.get(silence_id)
    if silence is None:
        raise APIError(404, "not_found", f"no silence {silence_id!r}")
    now = service.clock()
    if silence.status(now) != "expired":
        ends = max(now, silence.starts_at)
        expired = Silence(
            silence.id, silence.matchers, silence.starts_at, ends, silence.created_by,
            silence.comment, now,
        )  # fmt: skip
        await service.add_silence(expired)
    return json_response({"expired": silence_id})
