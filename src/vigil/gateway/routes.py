"""OpenAI-compatible routes: `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`.

Handlers take the raw request (no pydantic model on the hot path): the body is parsed with orjson
and only the fields the gateway interprets are checked; everything else passes through untouched.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from vigil.bodies import read_body
from vigil.gateway.capture import StreamTranscript
from vigil.gateway.errors import GatewayError
from vigil.gateway.providers import ChatStream, Completion, UpstreamError
from vigil.gateway.quality import answer_metadata, stream_metadata
from vigil.gateway.router import Deployment
from vigil.gateway.service import Attempted, CallContext, Gateway
from vigil.gateway.streaming import RelayResponse
from vigil.records import new_id

router = APIRouter(tags=["gateway"])

_CHAT_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "required": ["model"]}}},
    }
}


def _gateway(request: Request) -> Gateway:
    gateway: Gateway | None = request.app.state.vigil.gateway
    if gateway is None:
        raise GatewayError(503, "The gateway is starting.", code="starting")
    return gateway


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"Request body exceeds {limit} bytes.", code="body_too_large")


async def _json_body(request: Request, limit: int) -> tuple[dict[str, Any], bytes]:
    raw = await read_body(request, limit, _too_large)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            400, f"Request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise GatewayError(400, "Request body must be a JSON object.", code="invalid_request")
    return body, raw


def _require(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is None:
        raise GatewayError(
            400,
            f"Missing required parameter: '{name}'.",
            param=name,
            code="missing_required_parameter",
        )
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise GatewayError(
            400, f"Invalid type for '{name}': expected {what}.", param=name, code="invalid_type"
        )
    return value


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """A cheap up-front estimate (about 4 characters a token) for TPM; settled on real usage."""
    chars = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                chars += sum(len(str(p.get("text", ""))) for p in content if isinstance(p, dict))
            chars += 16  # role and framing
    value = body.get("input")
    if isinstance(value, str):
        chars += len(value)
    elif isinstance(value, list):
        chars += sum(len(v) if isinstance(v, str) else 4 * len(v) for v in value)
    return max(1, chars // 4)


async def _start(
    request: Request, *, chat: bool
) -> tuple[Gateway, CallContext, dict[str, Any], int]:
    gateway = _gateway(request)
    key = gateway.authenticate(request.headers)
    body, raw = await _json_body(request, gateway.max_body)
    model = _require(body, "model", str, "a string")
    if chat:
        _require(body, "messages", list, "an array of messages")
    else:
        _require(body, "input", (str, list), "a string or an array")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise GatewayError(
            400,
            "Invalid type for 'stream': expected a boolean.",
            param="stream",
            code="invalid_type",
        )
    user = body.get("user")
    ctx = CallContext(
        key=key,
        model=model,
        request_id=request.headers.get("x-request-id") or new_id(),
        user=user if isinstance(user, str) else None,
        stream=stream and chat,
        request_bytes=raw if gateway.capture.get(model) else None,
    )
    route = gateway.route_for(model, key)
    await gateway.check_budget(key)
    tokens = estimate_prompt_tokens(body)
    await gateway.admit(ctx, route, tokens)
    return gateway, ctx, body, tokens


def _headers(ctx: CallContext, attempted: Attempted) -> dict[str, str]:
    d = attempted.deployment
    return {
        **ctx.headers,
        "x-request-id": ctx.request_id,
        "x-vigil-deployment": f"{d.provider_name}/{d.upstream_model}",
    }


async def _finish_error(
    gateway: Gateway | None, ctx: CallContext | None, exc: GatewayError
) -> Response:
    if gateway is not None and ctx is not None and exc.code != "model_not_found":
        # (unknown model names are not recorded: they would flood the metrics' labels)
        await gateway.settle(ctx, 0)
        answer = orjson.dumps(exc.body()) if ctx.request_bytes is not None else None
        gateway.record(
            ctx, status=exc.status, error_type=exc.code or exc.type, response_body=answer
        )
    return exc.response()


@router.post("/v1/chat/completions", openapi_extra=_CHAT_DOC)
async def chat_completions(request: Request) -> Response:
    """OpenAI Chat Completions, streamed (`stream: true`) or not, routed to a deployment."""
    gateway: Gateway | None = None
    ctx: CallContext | None = None
    try:
        gateway, ctx, body, tokens = await _start(request, chat=True)
        if ctx.stream:
            return await _stream(gateway, ctx, body, tokens)
        gw, call = gateway, ctx

        async def attempt(d: Deployment) -> Completion:
            return await d.provider.chat(body, d.upstream_model)

        attempted = await gw.complete(call, tokens, attempt)
    except GatewayError as exc:
        return await _finish_error(gateway, ctx, exc)
    completion: Completion = attempted.result
    usage = completion.usage
    await gateway.settle(ctx, usage.input + usage.output)
    gateway.record(
        ctx,
        status=200,
        attempted=attempted,
        input_tokens=usage.input,
        output_tokens=usage.output,
        cached_tokens=usage.cached_input,
        metadata=answer_metadata(body, completion.message, completion.finish_reason),
        response_body=completion.body if ctx.request_bytes is not None else None,
    )
    return Response(
        completion.body, media_type="application/json", headers=_headers(ctx, attempted)
    )


async def _stream(
    gateway: Gateway, ctx: CallContext, body: dict[str, Any], tokens: int
) -> Response:
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    async def attempt(d: Deployment) -> tuple[ChatStream, AsyncIterator[list[bytes]], list[bytes]]:
        stream = await d.provider.chat_stream(body, d.upstream_model, include_usage)
        chunks = stream.chunks()
        try:
            first = await chunks.__anext__()  # a stream that dies before its first chunk is retried
        except StopAsyncIteration:
            await stream.aclose()
            raise UpstreamError(502, "upstream stream was empty", "stream_cut") from None
        except BaseException:
            await stream.aclose()
            raise
        return stream, chunks, first

    attempted = await gateway.complete(ctx, tokens, attempt)
    stream, chunks, first = attempted.result
    ttft = time.perf_counter() - ctx.started
    return RelayResponse(
        _relay(gateway, ctx, body, attempted, stream, chunks, first, ttft),
        headers={**_headers(ctx, attempted), "cache-control": "no-cache"},
    )


_DONE = b"data: [DONE]\n\n"


def _frame(batch: list[bytes]) -> bytes:
    return b"".join([b"data: " + chunk + b"\n\n" for chunk in batch])


async def _relay(
    gateway: Gateway,
    ctx: CallContext,
    body: dict[str, Any],
    attempted: Attempted,
    stream: ChatStream,
    chunks: AsyncIterator[list[bytes]],
    first: list[bytes],
    ttft: float,
) -> AsyncIterator[tuple[bytes, bool]]:
    """Forward chunk by chunk; a broken upstream becomes an error event; a gone client cancels.
    Yields (frame, more): the last frame ends the response in the same write."""
    status: int = 499
    error_type: str | None = "client_closed"
    transcript = StreamTranscript(gateway.capture_max) if ctx.request_bytes is not None else None
    try:
        if transcript is not None:
            transcript.add(first)
        last = _frame(first) + _DONE if stream.done else None
        if last is None:
            yield _frame(first), True
            async for batch in chunks:  # drained to its end even after the last batch
                if transcript is not None:
                    transcript.add(batch)
                if stream.done:
                    last = _frame(batch) + _DONE
                else:
                    yield _frame(batch), True
        yield last or _DONE, False
        status, error_type = 200, None
    except UpstreamError as exc:
        status, error_type = 502, exc.error_type
        gateway.metrics.upstream_errors.labels(
            attempted.deployment.provider_name, exc.error_type
        ).inc()
        error = GatewayError(
            502, f"Upstream stream failed: {exc.message}", code="upstream_stream_error"
        )
        yield b"data: " + orjson.dumps(error.body()) + b"\n\n", False
    finally:
        await stream.aclose()
        usage = stream.usage
        tokens_in = usage.input if usage else 0
        tokens_out = usage.output if usage else 0
        await gateway.settle(ctx, tokens_in + tokens_out)
        meta = stream_metadata(body, stream.finish_reason, tokens_out)
        if transcript is not None:  # the text was kept: judge it as a non-streamed answer's
            meta.update(answer_metadata(body, transcript.message(), stream.finish_reason))
            if transcript.truncated:
                meta["capture_truncated"] = ["response"]
        gateway.record(
            ctx,
            status=status,
            attempted=attempted,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cached_tokens=usage.cached_input if usage else 0,
            ttft=ttft,
            error_type=error_type,
            metadata=meta,
            response_body=transcript.render() if transcript is not None else None,
        )


@router.post("/v1/embeddings", openapi_extra=_CHAT_DOC)
async def embeddings(request: Request) -> Response:
    """OpenAI Embeddings, routed like chat completions."""
    gateway: Gateway | None = None
    ctx: CallContext | None = None
    try:
        gateway, ctx, body, tokens = await _start(request, chat=False)

        async def attempt(d: Deployment) -> Completion:
            return await d.provider.embeddings(body, d.upstream_model)

        attempted = await gateway.complete(ctx, tokens, attempt)
    except GatewayError as exc:
        return await _finish_error(gateway, ctx, exc)
    completion: Completion = attempted.result
    await gateway.settle(ctx, completion.usage.input)
    gateway.record(
        ctx,
        status=200,
        attempted=attempted,
        input_tokens=completion.usage.input,
        response_body=completion.body if ctx.request_bytes is not None else None,
    )
    return Response(
        completion.body, media_type="application/json", headers=_headers(ctx, attempted)
    )


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    """The models this key may call, in OpenAI's list format."""
    try:
        gateway = _gateway(request)
        key = gateway.authenticate(request.headers)
    except GatewayError as exc:
        return exc.response()
    created = int(time.time())
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "vigil"}
        for name in gateway.router.routes
        if not key.models or name in key.models
    ]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")
