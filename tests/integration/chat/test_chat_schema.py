"""A replica that starts while sends run takes no lock on the chat tables (real PostgreSQL).

Every replica runs the schema step at start. It used to run its DDL every time (``ALTER TABLE ... ADD COLUMN IF
NOT EXISTS`` takes an ACCESS EXCLUSIVE lock even when the column exists), in an order opposite to a send's
locks: under load the two deadlocked until PostgreSQL's ``deadlock_timeout`` (1 s) broke it, and every send
of every replica stalled for that second during a good rolling or blue-green deploy.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from chat.db import SCHEMA_VERSION, Database

pytestmark = pytest.mark.integration

SCHEMA_STEP_S = 10.0
"""Bound on one schema step against a local server; it takes milliseconds, the rest is a loaded box's noise.
Without the fix the step below waits for the held lock until the test ends: any bound fails it."""


async def _schema_step(dsn: str) -> None:
    db = Database(dsn)
    await db.open()
    try:
        await asyncio.wait_for(db.ensure_schema(wait=SCHEMA_STEP_S), SCHEMA_STEP_S)
    finally:
        await db.close()


def test_the_first_replica_creates_the_schema_and_records_its_version(pg_dsn: str) -> None:
    """On an empty database the schema step creates the tables and stores the DDL's version."""
    asyncio.run(_schema_step(pg_dsn))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM chat_schema").fetchall()]
        assert versions == [SCHEMA_VERSION]
        assert conn.execute(
            "SELECT o_seq FROM chat_send_v2(ARRAY['r'], ARRAY['c1'], ARRAY['u'], ARRAY['hi'], 1, 1)"
        ).fetchone() == (1,)


def test_a_replica_starting_beside_an_in_flight_send_takes_no_table_lock(pg_dsn: str) -> None:
    """With a send's locks held open (ROW EXCLUSIVE on chat_rooms and messages, in a transaction that has
    inserted), the next replica's schema step completes: it reads the version and runs no DDL."""
    asyncio.run(_schema_step(pg_dsn))
    with psycopg.connect(pg_dsn) as sending:  # not autocommit: the transaction stays open
        sending.execute("SELECT * FROM chat_send_v2(ARRAY['r'], ARRAY['c1'], ARRAY['u'], ARRAY['in flight'], 1, 1)")
        asyncio.run(_schema_step(pg_dsn))
        sending.rollback()
