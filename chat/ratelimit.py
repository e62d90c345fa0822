"""Per-user token buckets (per replica, in memory).

Hand-written on purpose: the ``limits`` library offers fixed and moving windows, not a refill rate with
a separate burst size, which is what CHAT_RATE_LIMIT / CHAT_RATE_BURST describe. Pure: time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RateLimiter"]


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
