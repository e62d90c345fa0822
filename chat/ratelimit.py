"""Per-user token buckets: shared by the replicas through Redis (``SharedRateLimiter``), per replica in
memory (``RateLimiter``) while Redis is down.

Hand-written on purpose: the ``limits`` library offers fixed and moving windows, not a refill rate with
a separate burst size, which is what CHAT_RATE_LIMIT / CHAT_RATE_BURST describe. Pure: time is passed in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chat.batches import Batcher

__all__ = ["RateLimiter", "SharedRateLimiter", "shared_client"]

log = logging.getLogger(__name__)


@dataclass
class RateLimiter:
    """``allow(key, now)`` spends one token of ``key``'s bucket (``rate`` per second, up to ``burst``)."""

    rate: float
    burst: float
    max_keys: int = 100_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._forget_full(now)
        self._buckets[key] = (tokens, now)
        return allowed

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a whole token again."""
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        return max(0.0, (1.0 - tokens) / self.rate)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely (they hold no state worth keeping)."""
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]


# One token bucket per key in a Redis hash (tokens, last refill), refilled on Redis's own clock so every
# replica spends from the same bucket; the key expires once the bucket would be full again. One call checks
# a batch of keys, in order (a key twice in a batch spends twice): {ok1, tokens1, ok2, tokens2, ...}.
_BUCKETS = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1e6
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl = math.ceil(burst / rate * 1000) + 1000
local out = {}
for _, key in ipairs(KEYS) do
  local b = redis.call('HMGET', key, 't', 'l')
  local tokens = tonumber(b[1]) or burst
  local last = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
  local ok = 0
  if tokens >= 1 then
    tokens = tokens - 1
    ok = 1
  end
  redis.call('HSET', key, 't', tostring(tokens), 'l', tostring(now))
  redis.call('PEXPIRE', key, ttl)
  out[#out + 1] = ok
  out[#out + 1] = tostring(tokens)
end
return out
"""

SHARED_TIMEOUT_S = 0.1
"""Longest a send waits for the shared bucket before this replica's own bucket decides."""
SHARED_RETRY_S = 1.0
"""After the shared bucket failed, this replica decides alone for this long before asking Redis again."""


def shared_client(url: str) -> Redis:
    """A Redis client for the shared buckets: short timeouts, no retries (the replica decides alone then)."""
    return Redis.from_url(
        url, socket_connect_timeout=SHARED_TIMEOUT_S, socket_timeout=SHARED_TIMEOUT_S, retry=Retry(NoBackoff(), 0)
    )


class SharedRateLimiter:
    """Per-user buckets shared by every replica through Redis; this replica's own ``RateLimiter`` decides
    while Redis is unreachable (the limit is then per replica, as before).

    Checks that arrive while a call to Redis is under way go together in the next call (``chat.batches``):
    one round trip per batch, however many sends are in it.

    ``client``: a redis-py asyncio client (or None: always per replica).
    """

    def __init__(
        self, client: Any, rate: float, burst: float, *, prefix: str = "chat:rate:", clock: Any = None
    ) -> None:
        self.local = RateLimiter(rate, burst)
        self.rate, self.burst, self.prefix = rate, burst, prefix
        self._client = client
        self._script = client.register_script(_BUCKETS) if client is not None else None
        self._clock = clock or time.monotonic
        self._local_until = 0.0
        self._batches: Batcher[str, tuple[bool, float]] = Batcher(self._spend)
        self.shared = client is not None

    async def close(self) -> None:
        """Close the shared buckets' Redis connections (the replica is shutting down)."""
        if self._client is not None:
            await self._client.aclose()

    async def check(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until a token is back) for one send of ``key``."""
        if self._script is not None and self._clock() >= self._local_until:
            try:
                ok, tokens = await self._batches.submit(self.prefix + key)
            except (TimeoutError, OSError, RedisError, _Skipped):
                pass  # decided here, below
            else:
                return ok, max(0.0, (1.0 - tokens) / self.rate)
        now = self._clock()
        allowed = self.local.allow(key, now)
        return allowed, 0.0 if allowed else self.local.retry_after(key, now)

    async def _spend(self, keys: list[str]) -> list[tuple[bool, float]]:
        """One token of each key's shared bucket, in order: (allowed, tokens left) per key."""
        if self._script is None or self._clock() < self._local_until:
            raise _Skipped  # Redis failed a moment ago: these checks were waiting behind that call
        try:
            async with asyncio.timeout(SHARED_TIMEOUT_S):
                flat = await self._script(keys=keys, args=[self.rate, self.burst])
        except (TimeoutError, OSError, RedisError) as exc:
            log.info("shared rate limit unavailable, deciding per replica for %g s: %s", SHARED_RETRY_S, exc)
            self._local_until = self._clock() + SHARED_RETRY_S
            self.shared = False
            raise
        self.shared = True
        return [(bool(int(flat[i])), float(flat[i + 1])) for i in range(0, len(flat), 2)]


class _Skipped(Exception):
    """The shared buckets are skipped for a while (Redis failed): this replica decides alone."""
