"""Limits shared by several Vigil processes through one Redis: the same sliding windows, in Lua.

Each scope keeps a sorted set of admissions (scored by Redis's own clock, so replicas need not
agree on time), a hash of their token charges and a running token sum. One script checks and
charges every scope atomically, so two processes can never both take the last request of a minute.
"""

from __future__ import annotations

import secrets
from typing import Any

import redis.asyncio as aioredis

from vigil.gateway.limits.base import WINDOW_S, Admission, Denial, LimitSpec, Usage

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local id = ARGV[3]
local n = #KEYS / 3
local first = nil
for i = 0, n - 1 do
  local req, tok, sum = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  local rpm = tonumber(ARGV[4 + i * 2])
  local tpm = tonumber(ARGV[5 + i * 2])
  local expired = redis.call('ZRANGEBYSCORE', req, '-inf', now - window)
  if #expired > 0 then
    local freed = 0
    for _, m in ipairs(expired) do
      freed = freed + tonumber(redis.call('HGET', tok, m) or '0')
      redis.call('HDEL', tok, m)
    end
    redis.call('ZREMRANGEBYSCORE', req, '-inf', now - window)
    redis.call('DECRBY', sum, freed)
  end
  local count = redis.call('ZCARD', req)
  local used = tonumber(redis.call('GET', sum) or '0')
  local oldest = redis.call('ZRANGE', req, 0, 0, 'WITHSCORES')
  local reset_req = 0
  if #oldest > 0 then reset_req = tonumber(oldest[2]) + window - now end
  if rpm > 0 and count >= rpm then
    return {0, i, 'requests', count, used, reset_req, 0}
  end
  if tpm > 0 and used + tokens > tpm then
    local excess = used + tokens - tpm
    local reset_tok = window
    if tokens <= tpm then
      local freed = 0
      local members = redis.call('ZRANGE', req, 0, -1, 'WITHSCORES')
      for j = 1, #members, 2 do
        freed = freed + tonumber(redis.call('HGET', tok, members[j]) or '0')
        if freed >= excess then
          reset_tok = tonumber(members[j + 1]) + window - now
          break
        end
      end
    end
    return {0, i, 'tokens', count, used, reset_req, reset_tok}
  end
  if first == nil then first = {count, used, reset_req} end
end
for i = 0, n - 1 do
  local req, tok, sum = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  redis.call('ZADD', req, now, id)
  redis.call('HSET', tok, id, tokens)
  redis.call('INCRBY', sum, tokens)
  for _, k in ipairs({req, tok, sum}) do redis.call('PEXPIRE', k, window + 5000) end
end
if first == nil then return {1, 0, '', 0, 0, 0, 0} end
return {1, 0, '', first[1], first[2], first[3], 0}
"""

_SETTLE = """
local id = ARGV[1]
local delta = tonumber(ARGV[2])
for i = 0, #KEYS / 2 - 1 do
  local tok, sum = KEYS[i * 2 + 1], KEYS[i * 2 + 2]
  if redis.call('HEXISTS', tok, id) == 1 then
    redis.call('HINCRBY', tok, id, delta)
    redis.call('INCRBY', sum, delta)
  end
end
return 1
"""


def _keys(spec: LimitSpec) -> list[str]:
    base = f"vigil:rl:{{{spec.id}}}"
    return [base + ":req", base + ":tok", base + ":sum"]


class RedisLimiter:
    """Exact sliding-window RPM/TPM shared across processes (design.md §5)."""

    def __init__(self, url: str) -> None:
        self._redis: Any = aioredis.from_url(url)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._settle = self._redis.register_script(_SETTLE)

    async def acquire(self, specs: list[LimitSpec], tokens: int) -> Admission | Denial:
        active = [s for s in specs if s.rpm is not None or s.tpm is not None]
        if not active:
            return Admission(tokens)
        keys = [k for spec in active for k in _keys(spec)]
        args: list[Any] = [int(WINDOW_S * 1000), tokens, secrets.token_hex(8)]
        for spec in active:
            args += [spec.rpm or 0, spec.tpm or 0]
        ok, index, reason, count, used, reset_req, reset_tok = await self._acquire(
            keys=keys, args=args
        )
        spec = active[int(index)]
        if not ok:
            usage = _usage(spec, int(count), int(used), int(reset_req), int(reset_tok))
            wait = usage.reset_requests_s if reason == b"requests" else usage.reset_tokens_s
            return Denial(spec, usage, wait, reason.decode())
        usage = _usage(spec, int(count) + 1, int(used) + tokens, int(reset_req), 0)
        if int(count) == 0:
            usage.reset_requests_s = WINDOW_S
        return Admission(tokens, handles=[args[2], active], usage=usage)

    async def settle(self, admission: Admission, tokens: int) -> None:
        delta = tokens - admission.tokens
        if not delta or not admission.handles:
            return
        member, specs = admission.handles
        keys = [k for spec in specs for k in _keys(spec)[1:]]
        await self._settle(keys=keys, args=[member, delta])

    async def close(self) -> None:
        await self._redis.aclose()


def _usage(spec: LimitSpec, count: int, used: int, reset_req_ms: int, reset_tok_ms: int) -> Usage:
    return Usage(
        limit_requests=spec.rpm,
        remaining_requests=None if spec.rpm is None else spec.rpm - count,
        reset_requests_s=max(0, reset_req_ms) / 1000,
        limit_tokens=spec.tpm,
        remaining_tokens=None if spec.tpm is None else spec.tpm - used,
        reset_tokens_s=max(0, reset_tok_ms) / 1000,
    )
