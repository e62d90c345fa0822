"""The shared rate limiter against a real Redis: concurrent checks go in batches, and spend exactly."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from chat.ratelimit import SharedRateLimiter
from tests.support.servers import RedisServer

pytestmark = pytest.mark.integration


def _script_calls(info: dict[str, dict[str, int]]) -> int:
    return sum(int(info.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))


def test_concurrent_checks_share_round_trips_and_spend_the_burst_exactly(redis_server: RedisServer) -> None:
    """Twenty sends of one user at once with a burst of 5: exactly 5 allowed (each later one told how long to
    wait), in at most 3 calls to Redis (the first alone, the rest batched behind it), not 20."""

    async def run() -> tuple[list[tuple[bool, float]], int]:
        client = Redis.from_url(redis_server.url())
        limiter = SharedRateLimiter(client, rate=0.5, burst=5, prefix=f"t-{uuid.uuid4().hex[:8]}:")
        try:
            before = _script_calls(await client.info("commandstats"))
            answers = await asyncio.gather(*(limiter.check("u") for _ in range(20)))
            after = _script_calls(await client.info("commandstats"))
        finally:
            await limiter.close()
        return answers, after - before

    answers, calls = asyncio.run(run())
    assert [ok for ok, _ in answers].count(True) == 5
    assert all(wait > 0 for ok, wait in answers if not ok)
    assert 1 <= calls <= 3
