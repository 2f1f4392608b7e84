"""Prompt drift: has what users ask an LLM model changed? Captured prompts, embedded through the
gateway's own embeddings route, tested with the embedding domain classifier.

Per watched model and run: the text of the last `user` message of a seeded random sample of the
last window's captured requests (`request_body`; calls whose request was cut at
`capture.max_bytes`, or without user text, are skipped), and likewise of the `monitors.windows`
windows before it, are embedded by `monitors.prompt_drift.embedding_model` and compared with
`drift.column_drift(..., "embedding")` (ROC AUC of a classifier telling the two apart). The result
is an `llm_quality` result with metric `prompt_drift` in the model's LLM run.

Embeddings cost money, so the sample is chosen by a keyed hash of the call id: a call picked while
it is in the current window is picked again while it is in the baseline, and `PromptEmbeddings`
keeps the vectors of the last run's samples, so each sampled prompt is embedded once (again after
a restart). The embedding calls go through the in-process gateway like synthetic probes'
(`vigil.probes.internal_call`): the embedding model's routing, retries, fallbacks and rate limits
apply, and they are not user traffic, so they are not stored in `llm_calls` nor counted in the
request metrics or budgets; their tokens and cost are in the result's `details`. Any failure (the
embedding model down or rate limited, too few prompts) gives a result with `details.skipped` and
no value, never an exception.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from vigil.config.sections import MonitorsConfig
from vigil.gateway.errors import GatewayError
from vigil.gateway.keys import VirtualKey
from vigil.gateway.providers import Completion
from vigil.gateway.router import Deployment
from vigil.gateway.routes import estimate_prompt_tokens
from vigil.gateway.service import Gateway
from vigil.monitors import drift
from vigil.monitors.results import MonitorResult, Outcome
from vigil.probes import internal_call
from vigil.store.base import Store

log = logging.getLogger("vigil.monitors.prompts")

Vectors = npt.NDArray[np.float32]

MONITOR_KEY = VirtualKey(
    id="vigil-monitor", alias="vigil-monitor", key_hash="", key_prefix="", source="monitor"
)
"""The monitors' identity for embedding calls: like the probes', no limits or budget of its own
(the embedding model's limits apply) and not in the key ring."""

EMBED_BATCH = 100
"""Inputs per embeddings request."""
MAX_PROMPT_CHARS = 8000
"""A prompt is embedded from its first this many characters (~2,000 tokens): enough to place its
topic, well under embedding models' input limits, and a bound on each prompt's cost."""
_SALT = b"vigil-prompt-drift"
_FETCH_CHUNK = 500

METRIC = "prompt_drift"
FEATURE = "prompt"


@dataclass(slots=True)
class Embedded:
    """One embeddings request's vectors (in input order) and what it cost."""

    vectors: Vectors
    tokens: int = 0
    cost_usd: float = 0.0


Embed = Callable[[list[str]], Awaitable[Embedded]]
"""Embeds up to `EMBED_BATCH` texts; raises `EmbeddingFailed`."""


class EmbeddingFailed(Exception):
    """The embedding model gave no usable answer; the message is the skip reason."""


def gateway_embedder(gateway: Gateway, model: str) -> Embed:
    """`Embed` through the in-process gateway: one `/v1/embeddings` request per call, as a client's
    would be routed (`d.provider.embeddings`), under `MONITOR_KEY`."""

    async def embed(texts: list[str]) -> Embedded:
        body: dict[str, Any] = {"model": model, "input": texts}
        tokens = estimate_prompt_tokens(body)

        async def attempt(d: Deployment) -> Completion:
            return await d.provider.embeddings(body, d.upstream_model)

        try:
            async with internal_call(gateway, MONITOR_KEY, model, tokens) as call:
                attempted = await gateway.complete(call.ctx, tokens, attempt)
                completion: Completion = attempted.result
                call.used = completion.usage.input
        except GatewayError as exc:
            raise EmbeddingFailed(f"embedding model {model!r}: {exc.code}: {exc.message}") from None
        vectors = parse_embeddings(completion.body, len(texts))
        cost = gateway.prices.cost(
            attempted.model, attempted.deployment.upstream_model, completion.usage.input, 0, 0
        )
        return Embedded(vectors, completion.usage.input, cost)

    return embed


def parse_embeddings(body: bytes, count: int) -> Vectors:
    """The vectors of an OpenAI embeddings answer in input order (float lists or base64)."""
    try:
        data = sorted(orjson.loads(body)["data"], key=lambda item: item["index"])
        rows = [
            np.frombuffer(base64.b64decode(e), "<f4")
            if isinstance(e := item["embedding"], str)
            else np.asarray(e, np.float32)
            for item in data
        ]
        vectors = np.vstack(rows).astype(np.float32) if rows else None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EmbeddingFailed(f"unreadable embeddings answer: {exc!r}") from None
    if vectors is None or len(vectors) != count or vectors.ndim != 2:
        raise EmbeddingFailed(f"the embeddings answer has {len(data)} vectors for {count} inputs")
    return vectors


def last_user_text(body: str | None) -> str | None:
    """The text of the last `user` message of a captured chat request (text parts joined)."""
    try:
        messages = orjson.loads(body or "")["messages"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                parts = [p.get("text") for p in content if isinstance(p, dict)]
                content = "\n".join(p for p in parts if isinstance(p, str))
            if isinstance(content, str) and content.strip():
                return content[:MAX_PROMPT_CHARS]
            return None
    return None


def _rank(call_id: str) -> bytes:
    return hashlib.blake2b(call_id.encode(), digest_size=8, key=_SALT).digest()


_CANDIDATES_SQL = (
    "SELECT id FROM llm_calls WHERE model = ? AND ts >= ? AND ts < ? AND request_body IS NOT NULL "
    "AND coalesce(json_extract_string(metadata, '$.capture_truncated'), '') NOT LIKE '%request%'"
)


def sample_prompts(
    store: Store, model: str, start: datetime, end: datetime, size: int
) -> tuple[list[tuple[str, str]], int]:
    """Up to `size` (call id, prompt) of `model`'s captured calls in [start, end), and how many
    calls had an uncut request body.

    The sample is the calls with the lowest keyed hash of their id that have user text: random
    but stable, so a window's sample is (mostly) its later baseline's sample and hits the cache.
    """
    ids = sorted((row[0] for row in store.fetch(_CANDIDATES_SQL, [model, start, end])), key=_rank)
    picked: list[tuple[str, str]] = []
    for first in range(0, len(ids), _FETCH_CHUNK):
        chunk = ids[first : first + _FETCH_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = store.fetch(f"SELECT id, request_body FROM llm_calls WHERE id IN ({marks})", chunk)
        bodies = dict(rows)
        for call_id in chunk:
            text = last_user_text(bodies.get(call_id))
            if text is not None:
                picked.append((call_id, text))
                if len(picked) == size:
                    return picked, len(ids)
    return picked, len(ids)


class PromptEmbeddings:
    """Vectors by (embedding model, call id), kept from one run to the next so that a prompt is
    embedded once while it stays sampled. `forget_unused` after each run drops what the run did
    not use, which bounds the cache to one run's samples: `sample` x (`windows` + 1) vectors per
    watched model."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[str, str], Vectors] = {}
        self._used: set[tuple[str, str]] = set()
        self.tokens = 0
        self.cost_usd = 0.0
        self.embedded = 0

    def __len__(self) -> int:
        return len(self._vectors)

    async def vectors(
        self, model: str, prompts: Sequence[tuple[str, str]], embed: Embed
    ) -> Vectors:
        """The vectors of `prompts` in order; the ones not cached are embedded in batches, each
        distinct text once (templated prompts repeat). What a failing batch's earlier batches
        cost is kept, then `EmbeddingFailed` propagates."""
        keys = [(model, call_id) for call_id, _ in prompts]
        self._used.update(keys)
        missing: dict[str, list[tuple[str, str]]] = {}
        for key, (_, text) in zip(keys, prompts, strict=True):
            if key not in self._vectors:
                missing.setdefault(text, []).append(key)
        texts = list(missing)
        for first in range(0, len(texts), EMBED_BATCH):
            batch = texts[first : first + EMBED_BATCH]
            got = await embed(batch)
            self.tokens += got.tokens
            self.cost_usd += got.cost_usd
            self.embedded += len(batch)
            for text, vector in zip(batch, got.vectors, strict=True):
                self._vectors.update(dict.fromkeys(missing[text], vector))
        rows = [self._vectors[key] for key in keys]
        if len({row.shape for row in rows}) > 1:
            raise EmbeddingFailed("the embedding model returned vectors of different sizes")
        return np.vstack(rows) if rows else np.zeros((0, 0), np.float32)

    def forget_unused(self) -> None:
        self._vectors = {k: v for k, v in self._vectors.items() if k in self._used}
        self._used = set()

    def take_spend(self) -> dict[str, Any]:
        """What was embedded since the last call (for one model's result), and reset."""
        spend = {"embedded": self.embedded, "tokens": self.tokens, "cost_usd": self.cost_usd}
        self.embedded, self.tokens, self.cost_usd = 0, 0, 0.0
        return spend


def skip_reason(result: MonitorResult) -> str | None:
    """Why a `prompt_drift` result has no value (None when it has one)."""
    reason = orjson.loads(result.details or "{}").get("skipped")
    return reason if isinstance(reason, str) else None


def _skipped(reason: str, common: dict[str, Any], details: dict[str, Any]) -> MonitorResult:
    return MonitorResult.make(
        monitor="llm_quality",
        metric=METRIC,
        feature=FEATURE,
        details={"skipped": reason, **details},
        **common,
    )


async def model_prompt_drift(
    store: Store,
    cfg: MonitorsConfig,
    model: str,
    now: datetime,
    embed: Embed,
    cache: PromptEmbeddings,
) -> MonitorResult:
    """`model`'s prompt drift over the last window (sliding, as the other LLM signals) against the
    `windows` windows before it; a skipped result when it cannot be computed."""
    settings = cfg.prompt_drift
    end = now.astimezone(UTC).replace(tzinfo=None)
    start = end - cfg.window
    base_start = start - cfg.window * cfg.windows
    common: dict[str, Any] = {"window_start": start, "window_end": end}
    embedding_model = settings.embedding_model or ""
    details: dict[str, Any] = {"embedding_model": embedding_model}
    current, captured = await asyncio.to_thread(
        sample_prompts, store, model, start, end, settings.sample
    )
    baseline, base_captured = await asyncio.to_thread(
        sample_prompts, store, model, base_start, start, settings.sample * cfg.windows
    )
    details.update(captured_calls=captured, baseline_captured_calls=base_captured)
    common.update(current_size=len(current), reference_size=len(baseline))
    for name, prompts in (("window", current), ("baseline", baseline)):
        if len(prompts) < cfg.min_rows:
            reason = (
                f"{len(prompts)} captured prompts in the {name}, fewer than monitors.min_rows "
                f"({cfg.min_rows}); is capture on for this model?"
            )
            return _skipped(reason, common, details)
    try:
        cur = await cache.vectors(embedding_model, current, embed)
        ref = await cache.vectors(embedding_model, baseline, embed)
    except EmbeddingFailed as exc:
        return _skipped(str(exc), common, {**details, **cache.take_spend()})
    details.update(cache.take_spend())
    try:
        r = await asyncio.to_thread(drift.column_drift, ref, cur, "embedding", column=FEATURE)
    except ValueError as exc:
        return _skipped(f"drift test failed: {exc}", common, details)
    return MonitorResult.make(
        monitor="llm_quality",
        metric=METRIC,
        feature=FEATURE,
        method=r.method,
        value=r.score,
        threshold=r.threshold,
        flagged=r.drifted,
        details={**details, "auc": r.statistic, "dimensions": int(cur.shape[1])},
        **{**common, "current_size": r.current_size, "reference_size": r.reference_size},
    )


def _watched(store: Store, cfg: MonitorsConfig, now: datetime) -> list[str]:
    """The configured models, else every model with captured requests in the last window."""
    settings = cfg.prompt_drift
    if settings.models:
        return list(settings.models)
    end = now.astimezone(UTC).replace(tzinfo=None)
    rows = store.fetch(
        "SELECT DISTINCT model FROM llm_calls WHERE ts >= ? AND ts < ? "
        "AND request_body IS NOT NULL ORDER BY model",
        [end - cfg.window, end],
    )
    return [row[0] for row in rows if row[0] != settings.embedding_model]


async def add_prompt_drift(
    store: Store,
    gateway: Gateway | None,
    cfg: MonitorsConfig,
    outcomes: list[Outcome],
    now: datetime,
    cache: PromptEmbeddings,
    embed: Embed | None = None,
) -> None:
    """Append each watched model's `prompt_drift` result to its LLM outcome (`evaluate_llm`'s; a
    model without calls in the window has none and gets no result). Never raises."""
    settings = cfg.prompt_drift
    if not settings.enabled or settings.embedding_model is None:
        return
    runs = {o.run.model: o for o in outcomes if o.run.kind == "llm"}
    try:
        watched = [m for m in await asyncio.to_thread(_watched, store, cfg, now) if m in runs]
    except Exception:
        log.exception("prompt drift: listing the models failed")
        return
    if embed is None and gateway is not None:
        embed = gateway_embedder(gateway, settings.embedding_model)
    for model in watched:
        outcome = runs[model]
        if embed is None:
            result = _skipped("the gateway is not running", {}, {})
        else:
            try:
                result = await model_prompt_drift(store, cfg, model, now, embed, cache)
            except Exception as exc:  # a bug here must not cost the model its other signals
                log.exception("prompt drift failed", extra={"model": model})
                result = _skipped(f"internal error: {exc!r}", {}, {})
        outcome.results.append(result)
        if result.value is not None:
            outcome.summary[METRIC] = result.value
        else:
            outcome.summary[f"{METRIC}_skipped"] = skip_reason(result)
    cache.forget_unused()
