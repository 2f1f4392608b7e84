"""Vigil's Python SDK: report LLM calls, predictions, labels and feedback from your application.

    import openai, vigil.sdk as vs
    vs.init("http://127.0.0.1:4000", token="...")      # or VIGIL_URL / VIGIL_TOKEN
    client = vs.instrument(openai.OpenAI())
    pid = vs.log_prediction("churn", {"age": 42}, prediction=1, score=0.83)
    vs.log_label(pid, 1)

Everything is sent in the background (`vigil.sdk.client`); no function here blocks on the network
or raises because Vigil is unreachable. Standard library only, plus whatever `openai` you have.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from vigil.sdk.client import VigilClient
from vigil.sdk.openai import instrument_client

__all__ = [
    "VigilClient",
    "flush",
    "get_client",
    "init",
    "instrument",
    "log_feedback",
    "log_label",
    "log_prediction",
]

DEFAULT_URL = "http://127.0.0.1:4000"

_client: VigilClient | None = None
_lock = threading.RLock()


def init(url: str | None = None, token: str | None = None, **options: Any) -> VigilClient:
    """Configure the default client; `options` go to `VigilClient` (max_queue, batch_size...).

    Without arguments, `VIGIL_URL` and `VIGIL_TOKEN` from the environment are used.
    """
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = VigilClient(
            url or os.environ.get("VIGIL_URL", DEFAULT_URL),
            token if token is not None else os.environ.get("VIGIL_TOKEN"),
            **options,
        )
        return _client


def get_client() -> VigilClient:
    """The default client, created from the environment on first use."""
    if _client is None:
        with _lock:
            if _client is None:
                return init()
    assert _client is not None
    return _client


def flush(timeout: float = 10.0) -> bool:
    """Wait until every event logged so far is sent; False if `timeout` passed first."""
    return get_client().flush(timeout)


def _now(ts: datetime | None) -> str:
    return (ts or datetime.now(UTC)).isoformat()


def _send(event: dict[str, Any], client: VigilClient | None) -> None:
    with contextlib.suppress(Exception):  # monitoring never breaks the app
        (client or get_client()).send({k: v for k, v in event.items() if v is not None})


def instrument(
    openai_client: Any,
    *,
    client: VigilClient | None = None,
    team: str | None = None,
    user: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Report every `chat.completions.create` and `embeddings.create` of an `openai` client
    (sync or async, streaming or not) as an `llm_call` event; returns the same client."""
    return instrument_client(
        openai_client,
        lambda event: _send(event, client),
        team=team,
        user=user,
        metadata=metadata,
    )


def log_prediction(
    model: str,
    features: dict[str, Any],
    prediction: Any = None,
    *,
    score: float | None = None,
    probabilities: Any = None,
    model_version: str | None = None,
    id: str | None = None,
    ts: datetime | None = None,
    client: VigilClient | None = None,
) -> str:
    """Log one prediction of a classic ML model; returns its id, to attach the label later."""
    pid = id or uuid.uuid4().hex
    _send(
        {
            "kind": "prediction",
            "id": pid,
            "ts": _now(ts),
            "model": model,
            "model_version": model_version,
            "features": features,
            "prediction": prediction,
            "score": score,
            "probabilities": probabilities,
        },
        client,
    )
    return pid


def log_label(
    prediction_id: str,
    label: Any,
    *,
    model: str | None = None,
    ts: datetime | None = None,
    client: VigilClient | None = None,
) -> None:
    """Log the ground truth of a prediction, however much later it is known."""
    _send(
        {
            "kind": "label",
            "id": uuid.uuid4().hex,
            "ts": _now(ts),
            "prediction_id": prediction_id,
            "model": model,
            "label": label,
        },
        client,
    )


def log_feedback(
    *,
    call_id: str | None = None,
    trace_id: str | None = None,
    score: float | None = None,
    comment: str | None = None,
    user: str | None = None,
    client: VigilClient | None = None,
) -> None:
    """Log a user's score or comment on an LLM call or a trace."""
    _send(
        {
            "kind": "feedback",
            "id": uuid.uuid4().hex,
            "ts": _now(None),
            "call_id": call_id,
            "trace_id": trace_id,
            "score": score,
            "comment": comment,
            "user": user,
        },
        client,
    )
