"""Sends that share a statement (``chat.batches`` in ``chat.db``), against a real PostgreSQL: one commit for
the sends that arrived together, each room still in sequence, no deadlock between replicas' batches, one
send's fault its own, and the per-user rate limit the statement checks, shared by replicas."""

from __future__ import annotations

import asyncio
from collections import Counter

import psycopg
import pytest

from chat.db import Database, RateLimited, SendResult

pytestmark = pytest.mark.integration

ROOMS = [f"r{i}" for i in range(5)]


async def _open(dsn: str, errors: Counter[str], *, rate: float = 1000.0, burst: float = 1000.0) -> Database:
    db = Database(dsn, on_error=lambda kind: errors.update([kind]), rate=rate, burst=burst)
    await db.open()
    await db.ensure_schema(wait=10)
    return db


def test_concurrent_sends_share_commits_and_keep_each_rooms_sequence(pg_dsn: str) -> None:
    """60 sends at once over 5 rooms from one replica: all stored, in fewer transactions than sends (rows of
    one batch share their inserting transaction), each room's seq 1..12 in the order the sends were made."""
    errors: Counter[str] = Counter()

    async def run() -> list[SendResult]:
        db = await _open(pg_dsn, errors)
        try:
            return await asyncio.gather(*(db.send(ROOMS[i % 5], f"c{i}", "u", f"b{i}") for i in range(60)))
        finally:
            await db.close()

    results = asyncio.run(run())
    assert all(r.created for r in results) and not errors
    for room in ROOMS:
        mine = [r.message for r in results if r.message.room == room]
        assert [m.seq for m in mine] == list(range(1, 13))  # results in send order: seq follows it
        assert [m.id for m in mine] == sorted(m.id for m in mine)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT xmin::text) FROM messages").fetchone()
    assert row is not None
    stored, transactions = row
    assert stored == 60
    assert transactions < 60


def test_two_replicas_batches_over_the_same_rooms_do_not_deadlock(pg_dsn: str) -> None:
    """Two replicas sending at once to the same rooms in opposite orders (each batch locks its rooms in
    one order): no DeadlockDetected, every send stored once, every room's seq contiguous."""
    errors: Counter[str] = Counter()

    async def run() -> None:
        a, b = await _open(pg_dsn, errors), await _open(pg_dsn, errors)
        try:
            for round_ in range(5):
                await asyncio.gather(
                    *(a.send(ROOMS[i % 5], f"a{round_}-{i}", "u", "x") for i in range(40)),
                    *(b.send(ROOMS[4 - i % 5], f"b{round_}-{i}", "u", "x") for i in range(40)),
                )
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())
    assert errors["DeadlockDetected"] == 0, errors
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT room, count(*), min(seq), max(seq) FROM messages GROUP BY room").fetchall()
    assert sorted(rows) == [(room, 80, 1, 80) for room in ROOMS]


def test_a_faulty_send_fails_alone_and_the_rest_of_its_batch_is_stored(pg_dsn: str) -> None:
    """A body PostgreSQL refuses (a NUL character: the REST and WebSocket validation refuse it first) sent
    together with others: that send fails, the others are stored."""
    errors: Counter[str] = Counter()

    async def run() -> list[SendResult | BaseException]:
        db = await _open(pg_dsn, errors)
        try:
            bodies = ["one", "two", "bad\x00", "four", "five"]
            return await asyncio.gather(
                *(db.send("r", f"c{i}", "u", body) for i, body in enumerate(bodies)), return_exceptions=True
            )
        finally:
            await db.close()

    results = asyncio.run(run())
    assert isinstance(results[2], psycopg.DataError), results[2]
    stored = [r for r in results if isinstance(r, SendResult)]
    assert [r.message.body for r in stored] == ["one", "two", "four", "five"]
    assert [r.message.seq for r in stored] == [1, 2, 3, 4]


def test_the_rate_limit_spends_a_shared_bucket_per_user_in_and_across_batches(pg_dsn: str) -> None:
    """Burst 5, 0.5 sends/s: twenty sends of one user at once over two replicas store exactly 5 (each refusal
    says when a token is back: within 2 s), while another user's sends in the same batches are all stored."""
    errors: Counter[str] = Counter()

    async def run() -> list[SendResult | BaseException]:
        a = await _open(pg_dsn, errors, rate=0.5, burst=5)
        b = await _open(pg_dsn, errors, rate=0.5, burst=5)
        try:
            return await asyncio.gather(
                *((a, b)[i % 2].send(f"r{i % 3}", f"c{i}", "busy" if i % 4 else "calm", "x") for i in range(20)),
                return_exceptions=True,
            )
        finally:
            await a.close()
            await b.close()

    results = asyncio.run(run())
    busy = [r for i, r in enumerate(results) if i % 4]
    calm = [r for i, r in enumerate(results) if not i % 4]
    assert sum(isinstance(r, SendResult) for r in busy) == 5
    refused = [r for r in busy if isinstance(r, RateLimited)]
    assert len(refused) == 10 and all(0 < r.wait_s <= 2.0 for r in refused), refused
    assert all(isinstance(r, SendResult) for r in calm)
    assert not errors
