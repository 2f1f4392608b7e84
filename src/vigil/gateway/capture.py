"""Request and response bodies kept with a call when `capture` is on, cut to `capture.max_bytes`.

Bodies hold user data, so capture is off unless the config turns it on (globally or per model), and
all of its cost sits behind that switch: with capture off the hot path does nothing here. A relayed
stream is kept as the answer it spells out, one `chat.completion` object like a non-streamed
answer's, not as a pile of SSE chunks, so both read the same in the UI and the API.
"""

from __future__ import annotations

from typing import Any

import orjson

from vigil.config import VigilConfig


def capture_switches(config: VigilConfig) -> dict[str, bool]:
    """Public model name -> whether its bodies are kept (the model's `capture`, else the global)."""
    default = config.capture.enabled
    return {
        name: default if model.capture is None else model.capture
        for name, model in config.models.items()
    }


def clip(data: bytes, limit: int) -> tuple[str, bool]:
    """`data` as text of at most `limit` UTF-8 bytes (never splitting a character), and whether
    it was cut."""
    if len(data) <= limit:
        return data.decode("utf-8", "replace"), False
    return data[:limit].decode("utf-8", "ignore"), True


class StreamTranscript:
    """Rebuilds a streamed chat completion from its chunks, up to a byte budget.

    Only the first choice's text, refusal and tool calls are assembled (what a client shows); the
    id, model, finish reason and usage come from whichever chunk carries them.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.truncated = False
        self.head: dict[str, Any] = {}
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None

    def add(self, batch: list[bytes]) -> None:
        for raw in batch:
            if self.size > self.limit:
                self.truncated = True
                return
            self.size += len(raw)
            try:
                chunk = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(chunk, dict):
                self._chunk(chunk)

    def _chunk(self, chunk: dict[str, Any]) -> None:
        if not self.head:
            self.head = {k: chunk[k] for k in ("id", "created", "model") if k in chunk}
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                self.content.append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                self.refusal.append(delta["refusal"])
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    self._tool(call)

    def _tool(self, part: dict[str, Any]) -> None:
        slot = self.tools.setdefault(
            int(part.get("index", 0)), {"id": None, "type": "function", "name": "", "args": []}
        )
        if part.get("id"):
            slot["id"] = part["id"]
        function = part.get("function")
        if isinstance(function, dict):
            slot["name"] += function.get("name") or ""
            slot["args"].append(function.get("arguments") or "")

    def message(self) -> dict[str, Any]:
        """The first choice's assistant message, as a non-streamed answer would hold it."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.tools:
            message["tool_calls"] = [
                {
                    "id": t["id"],
                    "type": t["type"],
                    "function": {"name": t["name"], "arguments": "".join(t["args"])},
                }
                for _, t in sorted(self.tools.items())
            ]
        return message

    def render(self) -> bytes:
        """The stream as one `chat.completion` JSON object."""
        out: dict[str, Any] = {
            **self.head,
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": self.message(), "finish_reason": self.finish_reason}
            ],
        }
        if self.usage is not None:
            out["usage"] = self.usage
        return orjson.dumps(out)
