"""Upstream adapters: everything speaks OpenAI's chat format to the router; adapters translate."""

from vigil.gateway.providers.base import (
    ChatStream,
    Completion,
    Provider,
    TokenUsage,
    UpstreamError,
)

__all__ = ["ChatStream", "Completion", "Provider", "TokenUsage", "UpstreamError"]
