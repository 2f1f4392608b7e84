"""OpenAI's error bodies, rate-limit headers and request checks, shared by the simulated routes.

Kept apart from the routes so each module reads in one sitting; the shapes follow OpenAI's API
reference: `{"error": {message, type, param, code}}`, `x-request-id` on every response, and the
`x-ratelimit-*` family (plus `retry-after` and `retry-after-ms` on a 429).
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from aiohttp import web

from vigil.sim.behavior import Limits, Plan, SimState, duration_text, wait_until_closed
from vigil.sim.profiles import ModelProfile

STATE_KEY = web.AppKey("sim_state", SimState)
ERRORS = {
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error"),
    529: ("The engine is currently overloaded, please try again later.", "server_error"),
}


def request_id() -> str:
    return "req_" + os.urandom(12).hex()


def error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in OpenAI's shape `{"error": {message, type, param, code}}`."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    all_headers = {"x-request-id": request_id()}
    all_headers.update(headers or {})
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=all_headers,
    )


def limit_headers(limits: Limits) -> dict[str, str]:
    return {
        "x-request-id": request_id(),
        "x-ratelimit-limit-requests": str(limits.limit_requests),
        "x-ratelimit-remaining-requests": str(limits.remaining_requests),
        "x-ratelimit-reset-requests": duration_text(limits.reset_requests_s),
        "x-ratelimit-limit-tokens": str(limits.limit_tokens),
        "x-ratelimit-remaining-tokens": str(limits.remaining_tokens),
        "x-ratelimit-reset-tokens": duration_text(limits.reset_tokens_s),
    }


def rate_limited(model: str, limits: Limits) -> web.Response:
    headers = limit_headers(limits)
    retry = max(limits.retry_after_s, 0.001)
    headers["retry-after"] = str(max(int(retry + 0.999), 1))
    headers["retry-after-ms"] = str(int(retry * 1000))
    message = (
        f"Rate limit reached for {model} on requests per min (RPM): "
        f"Limit {limits.limit_requests}, Used {limits.limit_requests}, Requested 1. "
        f"Please try again in {duration_text(retry)}."
    )
    return error(429, message, "requests", None, "rate_limit_exceeded", headers)


def check_auth(request: web.Request, state: SimState) -> web.Response | None:
    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not key:
        return error(401, "You didn't provide an API key. Provide it as a Bearer token.")
    if state.api_key is not None and key != state.api_key:
        return error(401, "Incorrect API key provided.", code="invalid_api_key")
    return None


async def json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return error(400, "The request body must be a JSON object.")
    return body


def lookup_model(state: SimState, body: dict[str, Any], kind: str) -> ModelProfile | web.Response:
    name = body.get("model")
    if not isinstance(name, str) or not name:
        return error(400, "you must provide a model parameter", param="model")
    model = state.profile.get(name, "openai")
    if model is None or model.kind != kind:
        message = f"The model `{name}` does not exist or you do not have access to it."
        return error(404, message, code="model_not_found")
    return model


async def fault_response(request: web.Request, plan: Plan) -> web.Response:
    if plan.fault == "timeout":
        await wait_until_closed(request.transport)
        return web.Response(status=504)
    message, type_ = ERRORS[int(plan.fault or 500)]
    status = int(plan.fault or 500)
    return error(status, message, type_)
