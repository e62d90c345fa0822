"""PostgreSQL access: schema, idempotent sends in per-room commit order, history, health.

Failover rules (see the project notes): connections ask for ``target_session_attrs=read-write``; the pool
checks a connection before lending it and replaces broken ones; nothing on the commit path has a statement
timeout or a cancel — a send that takes too long is answered 503 while its transaction runs to its end in
the background, and the client's retry with the same ``client_id`` finds the stored row.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from chat.batches import Batcher
from chat.dbprobe import DatabaseProbe
from chat.wsserver import text_frame

__all__ = ["Database", "DatabaseUnavailable", "Message", "RateLimited", "SendResult", "failover_conninfo"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_GRACE_S = 0.5

# The DDL locks the tables in the order a send does (chat_rooms, then messages): ALTER TABLE takes an ACCESS
# EXCLUSIVE lock even when the column exists, and in the other order a replica starting under load deadlocked
# with the sends (schema: SHARE on messages, waits for chat_rooms; a send: holds chat_rooms, waits for
# messages) until PostgreSQL's deadlock_timeout (1 s) aborted one: every send stalled ~1 s in a good deploy.
SCHEMA = """
CREATE UNLOGGED TABLE IF NOT EXISTS chat_rate (
    sender text PRIMARY KEY,
    tokens float8 NOT NULL,
    at float8 NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_rooms (
    room text PRIMARY KEY,
    sends bigint NOT NULL DEFAULT 0
);
ALTER TABLE chat_rooms ADD COLUMN IF NOT EXISTS seq bigint NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS messages (
    id bigserial PRIMARY KEY,
    room text NOT NULL,
    client_id text NOT NULL,
    sender text NOT NULL,
    body text NOT NULL,
    ts timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT messages_room_client_id_key UNIQUE (room, client_id)
);
CREATE INDEX IF NOT EXISTS messages_room_id_idx ON messages (room, id);
ALTER TABLE messages ADD COLUMN IF NOT EXISTS seq bigint;
"""
_COLUMNS = "id, room, client_id, sender, body, extract(epoch from ts)::float8, seq"
# Sends, one statement, one round trip:
#   SELECT * FROM chat_send_v2(rooms[], client_ids[], senders[], bodies[], rate, burst)
# on an autocommit connection (one transaction for the batch, committed before the answer's ReadyForQuery).
# A batch holds the sends that arrived while the previous one was on its way (``chat.batches``); alone on a
# quiet replica, a send is a batch of one. Inside the function (PL/pgSQL, VOLATILE: every statement takes a
# fresh READ COMMITTED snapshot):
#   0. the rate limit: each sender's token bucket (``chat_rate``, UNLOGGED: no WAL, emptied by a crash or a
#      failover, which refills every bucket), senders in one order, refilled at ``rate`` per second on the
#      database's clock up to ``burst``; a sender may make as many of its sends in the batch as it has whole
#      tokens, and the rest are answered refused (o_id NULL) with o_wait, the seconds until a token is back;
#   then for each allowed send in room order (every transaction locks its senders' buckets, then its rooms,
#   each in one order: two batches cannot deadlock), in arrival order within a room:
#   1. the upsert of the room's row takes its row lock, held to commit, so every insert into one room runs
#      serialised and ids (from the sequence, taken under the lock) are in commit order within the room;
#      it returns the room's latest seq;
#   2. the insert, in a snapshot taken after the lock was granted, stores the row unless (room, client_id)
#      is stored already, with seq = the room's seq + 1 (contiguous: 1, 2, 3, ... per room);
#   3. only when a row was inserted the room's seq is bumped; a resend reads the stored row instead.
# Each row answered carries its send's position in the arrays (o_ord, from 1).
# Versioned name: CREATE OR REPLACE cannot change a function's signature or result columns.
SEND_FUNCTION = """
CREATE OR REPLACE FUNCTION chat_send_v2(p_rooms text[], p_client_ids text[], p_senders text[], p_bodies text[],
    p_rate float8, p_burst float8,
    OUT o_ord int, OUT o_id bigint, OUT o_room text, OUT o_client_id text, OUT o_sender text, OUT o_body text,
    OUT o_ts float8, OUT o_seq bigint, OUT o_created boolean, OUT o_wait float8)
RETURNS SETOF record LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    next_seq bigint;
    now_s float8 := extract(epoch from clock_timestamp());
    senders text[] := '{}';
    allowed int[] := '{}';
    waits float8[] := '{}';
    have float8;
    spent int;
    k int;
    u record;
BEGIN
    FOR u IN SELECT s.sender, count(*)::int AS n FROM unnest(p_senders) AS s(sender) GROUP BY s.sender
            ORDER BY s.sender LOOP
        INSERT INTO chat_rate AS b (sender, tokens, at) VALUES (u.sender, p_burst, now_s)
            ON CONFLICT (sender) DO UPDATE
                SET tokens = least(p_burst, b.tokens + greatest(0, now_s - b.at) * p_rate), at = now_s
            RETURNING b.tokens INTO have;
        spent := least(u.n, floor(have)::int);
        UPDATE chat_rate SET tokens = have - spent WHERE chat_rate.sender = u.sender;
        senders := senders || u.sender;
        allowed := allowed || spent;
        waits := waits || ((1 - (have - spent)) / p_rate);
    END LOOP;
    FOR o_ord IN SELECT s.i FROM generate_subscripts(p_rooms, 1) AS s(i) ORDER BY p_rooms[s.i], s.i LOOP
        k := array_position(senders, p_senders[o_ord]);
        IF allowed[k] <= 0 THEN
            o_id := NULL; o_room := p_rooms[o_ord]; o_client_id := p_client_ids[o_ord];
            o_sender := p_senders[o_ord]; o_body := NULL; o_ts := NULL; o_seq := NULL; o_created := false;
            o_wait := waits[k];
            RETURN NEXT;
            CONTINUE;
        END IF;
        allowed[k] := allowed[k] - 1;
        o_wait := NULL;
        INSERT INTO chat_rooms AS r (room, sends) VALUES (p_rooms[o_ord], 1)
            ON CONFLICT (room) DO UPDATE SET sends = r.sends + 1
            RETURNING r.seq + 1 INTO next_seq;
        INSERT INTO messages AS m (room, client_id, sender, body, seq)
            VALUES (p_rooms[o_ord], p_client_ids[o_ord], p_senders[o_ord], p_bodies[o_ord], next_seq)
            ON CONFLICT (room, client_id) DO NOTHING
            RETURNING m.id, m.room, m.client_id, m.sender, m.body, extract(epoch from m.ts)::float8, m.seq
            INTO o_id, o_room, o_client_id, o_sender, o_body, o_ts, o_seq;
        o_created := FOUND;
        IF o_created THEN
            UPDATE chat_rooms SET seq = next_seq WHERE chat_rooms.room = p_rooms[o_ord];
        ELSE
            SELECT m.id, m.room, m.client_id, m.sender, m.body, extract(epoch from m.ts)::float8, m.seq
                INTO o_id, o_room, o_client_id, o_sender, o_body, o_ts, o_seq
                FROM messages m WHERE m.room = p_rooms[o_ord] AND m.client_id = p_client_ids[o_ord];
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;
"""
_SEND = "SELECT * FROM chat_send_v2(%s, %s, %s, %s, %s, %s)"
SCHEMA_VERSION = hashlib.sha256((SCHEMA + SEND_FUNCTION).encode()).hexdigest()[:16]
"""The DDL's fingerprint, stored in ``chat_schema`` by the replica that ran it: a replica that finds it there
runs no DDL at all (a start under load takes no table lock)."""
_SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS chat_schema (version text PRIMARY KEY)"
_SCHEMA_MARK = "INSERT INTO chat_schema (version) VALUES (%s) ON CONFLICT DO NOTHING"
_SCHEMA_CURRENT = "SELECT 1 FROM chat_schema WHERE version = %s"
_AFTER = f"SELECT {_COLUMNS} FROM messages WHERE room = %s AND id > %s ORDER BY id LIMIT %s"  # noqa: S608
_AFTER_SEQ = f"SELECT {_COLUMNS} FROM messages WHERE room = %s AND seq > %s ORDER BY seq LIMIT %s"  # noqa: S608
_MARK = "SELECT coalesce(max(id), 0), coalesce(max(seq), 0) FROM messages WHERE room = %s"

# Errors after which the same statement may succeed on a fresh connection (to the new primary).
_RETRYABLE: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,  # connection lost/refused, admin shutdown, pool timeout
    pgerrors.ReadOnlySqlTransaction,  # connected to a primary that has just been demoted
    pgerrors.SerializationFailure,
    pgerrors.DeadlockDetected,
)


class DatabaseUnavailable(Exception):
    """The database did not answer within the send deadline (the client should retry: 503)."""


class RateLimited(Exception):
    """The sender had no token left: the send was not stored; a token is back in ``wait_s`` seconds."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"rate limited: a token is back in {wait_s:.3f} s")
        self.wait_s = wait_s


@dataclass(frozen=True)
class Message:
    """One stored chat message."""

    id: int
    room: str
    client_id: str
    sender: str
    body: str
    ts: float
    seq: int | None = None
    """Position in the room's contiguous sequence (None: stored before rooms had one)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "sender": self.sender,
            "body": self.body,
            "ts": self.ts,
            "client_id": self.client_id,
            "seq": self.seq,
        }

    @cached_property
    def _push_json(self) -> bytes:
        """The WebSocket push message's JSON, encoded once (orjson) however many subscribers receive it."""
        return orjson.dumps({"type": "message", **self.to_json()})

    @property
    def frame(self) -> str:
        """The push message's JSON as text (for a send through ASGI)."""
        return self._push_json.decode()

    @cached_property
    def ws_frame(self) -> bytes:
        """The push message as the bytes of a whole WebSocket text frame, the same for every socket
        (``chat.wsserver``)."""
        return text_frame(self._push_json)

    @classmethod
    def from_json(cls, m: dict[str, Any]) -> Message:
        """The message ``to_json`` gave (ValueError, KeyError, TypeError when it is not one)."""
        seq = m.get("seq")
        return cls(
            int(m["id"]),
            str(m["room"]),
            str(m["client_id"]),
            str(m["sender"]),
            str(m["body"]),
            float(m["ts"]),
            None if seq is None else int(seq),
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Message:
        return cls(int(row[0]), row[1], row[2], row[3], row[4], float(row[5]), None if row[6] is None else int(row[6]))


@dataclass(frozen=True)
class _Send:
    """One send waiting for its batch; ``wait``: how long its attempt may wait for a pooled connection."""

    room: str
    client_id: str
    sender: str
    body: str
    wait: float


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool
    """False when (room, client_id) was already stored: the stored message is returned."""


def failover_conninfo(url: str) -> str:
    """``url`` plus the libpq settings failover needs, unless the URL sets them itself."""
    given = conninfo_to_dict(url)
    extra = {
        "target_session_attrs": "read-write",
        "connect_timeout": "3",
        "keepalives": "1",
        "keepalives_idle": "5",
        "keepalives_interval": "2",
        "keepalives_count": "3",
        "application_name": "chat",
    }
    return make_conninfo(url, **{k: v for k, v in extra.items() if k not in given})


BATCH_STALE_S = 0.5
"""A batch of sends on its way this long no longer holds the next one back (it may hang on a lost primary)."""
CHECK_IDLE_S = 1.0
"""A pooled connection idle this long is checked (an empty query) before it is lent; busier ones are not."""
RECONNECT_MAX_S = 0.5
"""Longest pause between two attempts of the pool to replace a lost connection."""


class _Reconnect(AttemptWithBackoff):
    """psycopg_pool's reconnect backoff (1, 2, 4, 8 s ... without a ceiling), capped at ``RECONNECT_MAX_S``.

    Uncapped, an 8 s partition left the pool asleep until its 16 s attempt: every send issued after the
    link came back waited ~8 s more (network-partition recovered 17 s after the fault instead of ~8 s).
    """

    INITIAL_DELAY = 0.1

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_MAX_S)


class _Pool(AsyncConnectionPool[psycopg.AsyncConnection[Any]]):
    """The pool with ``_Reconnect`` as its backoff (psycopg_pool 3.3 has no setting for the ceiling)."""

    async def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        await super()._add_connection(attempt or _Reconnect(timeout=self.reconnect_timeout), growing)


async def _schema_current(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether this DDL version has run (reads ``chat_schema`` only: no lock on the chat tables)."""
    cur = await conn.execute("SELECT to_regclass('chat_schema') IS NOT NULL")
    exists = await cur.fetchone()
    if not exists or not exists[0]:
        return False
    cur = await conn.execute(_SCHEMA_CURRENT, (SCHEMA_VERSION,))
    return await cur.fetchone() is not None


class Database:
    """A psycopg async pool plus a separate health connection; ``open()`` never waits for the server."""

    def __init__(
        self,
        url: str,
        *,
        pool_max: int = 10,
        deadline_s: float = 10.0,
        linger_s: float = 0.0,
        rate: float = 50.0,
        burst: float = 100.0,
        on_error: Callable[[str], None] | None = None,
        on_reachable: Callable[[bool], None] | None = None,
    ) -> None:
        self.conninfo = failover_conninfo(url)
        self.deadline_s = deadline_s
        self.rate, self.burst = rate, burst
        """Each sender's token bucket: ``rate`` sends per second, up to ``burst`` at once (shared by replicas)."""
        self._on_error = on_error or (lambda kind: None)
        self.probe = DatabaseProbe(self.conninfo, on_result=on_reachable)
        """Is a writable primary reachable? (its own connection; ``watch()`` runs it in the background)"""
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = _Pool(
            self.conninfo,
            min_size=2,
            max_size=pool_max,
            open=False,
            timeout=5.0,
            kwargs={"autocommit": True},
            check=self._check,
            reconnect_timeout=24 * 3600.0,
            name="chat",
        )
        self._sends: Batcher[_Send, SendResult] = Batcher(self._send_batch, linger_s=linger_s, stale_s=BATCH_STALE_S)
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()
        self._orphans: set[asyncio.Task[Any]] = set()
        self._last_ok: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=2.0)
        await self.probe.close()

    async def ensure_schema(self, wait: float = 5.0) -> None:
        """Create the tables once (idempotent; an advisory lock keeps concurrent replicas apart)."""
        if self._schema_ready:
            return
        async with self._schema_lock:
            if self._schema_ready:
                return
            async with self.pool.connection(timeout=max(0.01, wait)) as conn:
                if await _schema_current(conn):
                    self._schema_ready = True
                    log.info("database schema ready (version %s)", SCHEMA_VERSION)
                    return
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('chat-schema'))")
                    if not await _schema_current(conn):  # another replica may have run it meanwhile
                        await conn.execute(SCHEMA)
                        await conn.execute(SEND_FUNCTION)
                        await conn.execute(_SCHEMA_TABLE)
                        await conn.execute(_SCHEMA_MARK, (SCHEMA_VERSION,))
            self._schema_ready = True
            log.info("database schema created (version %s)", SCHEMA_VERSION)

    async def keep_schema(self) -> None:
        """Background task: retry ``ensure_schema`` until it succeeds (the database may start later)."""
        delay = 0.2
        while not self._schema_ready:
            try:
                await self.ensure_schema()
            except _RETRYABLE as exc:
                log.warning("schema not created yet: %s", _one_line(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def send(self, room: str, client_id: str, sender: str, body: str) -> SendResult:
        """Store a message once per (room, client_id); retried on connection loss within the deadline.
        RateLimited (not stored) when ``sender`` has no token left.

        Each attempt joins the next batch (``chat.batches``): the sends that arrived while the previous
        statement was on its way, one statement and one commit for them all."""
        return await self._with_retry(
            lambda wait: self._sends.submit(_Send(room, client_id, sender, body, wait)), "send"
        )

    async def history(self, room: str, after: int, limit: int) -> list[Message]:
        """Messages of ``room`` with id > ``after``, ascending, at most ``limit``."""
        return await self._with_retry(lambda wait: self._history_once(room, after, limit, wait), "history")

    async def history_after_seq(self, room: str, after_seq: int, limit: int) -> list[Message]:
        """Messages of ``room`` with seq > ``after_seq``, in sequence, at most ``limit`` (gap fill)."""

        async def once(wait: float) -> list[Message]:
            await self.ensure_schema(wait)
            async with self._connection(wait) as conn:
                cur = await conn.execute(_AFTER_SEQ, (room, after_seq, limit))
                return [Message.from_row(r) for r in await cur.fetchall()]

        return await self._with_retry(once, "history_after_seq")

    async def mark(self, room: str) -> tuple[int, int]:
        """(highest id, highest seq) of ``room`` in one snapshot ((0, 0) for an empty room)."""

        async def once(wait: float) -> tuple[int, int]:
            await self.ensure_schema(wait)
            async with self._connection(wait) as conn:
                cur = await conn.execute(_MARK, (room,))
                row = await cur.fetchone()
                return (int(row[0]), int(row[1])) if row else (0, 0)

        return await self._with_retry(once, "mark")

    async def last_id(self, room: str) -> int:
        return (await self.mark(room))[0]

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The pool's check before lending ``conn``: an empty query, unless ``conn`` answered less than
        ``CHECK_IDLE_S`` ago (a busy replica then pays no extra round trip per send; a connection that died
        meanwhile fails its statement with OperationalError, which is retried on another connection)."""
        if time.monotonic() - self._last_ok.get(conn, -CHECK_IDLE_S) < CHECK_IDLE_S:
            return
        await AsyncConnectionPool.check_connection(conn)

    @asynccontextmanager
    async def _connection(self, wait: float) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection, waiting at most ``wait`` s for one (nothing is sent before: safe to give up).
        One that turns out read-only (a demoted primary) is closed, so the pool replaces it with a new
        connection that ``target_session_attrs=read-write`` sends to the primary."""
        async with self.pool.connection(timeout=max(0.01, wait)) as conn:
            try:
                yield conn
            except pgerrors.ReadOnlySqlTransaction:
                await conn.close()
                raise
            self._last_ok[conn] = time.monotonic()

    async def _send_batch(self, sends: list[_Send]) -> list[SendResult | RateLimited | BaseException]:
        """One round trip for ``sends``: ``chat_send_v2`` (per send: lock the room, insert unless stored,
        bump seq) and its commit. A batch that fails for another reason than the connection (which every send
        then retries) is sent again one by one, so that one send's fault is its own."""
        try:
            return list(await self._send_rows(sends))
        except _RETRYABLE:
            raise
        except Exception as exc:  # noqa: BLE001 - a single send's fault is its own answer
            if len(sends) == 1:
                return [exc]
        answers: list[SendResult | RateLimited | BaseException] = []
        for one in sends:
            answers.extend(await self._send_batch([one]))
        return answers

    async def _send_rows(self, sends: list[_Send]) -> list[SendResult | RateLimited]:
        wait = max(s.wait for s in sends)
        await self.ensure_schema(wait)
        async with self._connection(wait) as conn:
            columns = ([s.room for s in sends], [s.client_id for s in sends], [s.sender for s in sends])
            params = (*columns, [s.body for s in sends], self.rate, self.burst)
            cur = await conn.execute(_SEND, params, prepare=True)
            rows = await cur.fetchall()  # autocommit: the statement has committed when execute returns
        answers: list[SendResult | RateLimited | None] = [None] * len(sends)
        for row in rows:
            limited = row[1] is None
            answers[row[0] - 1] = (
                RateLimited(row[9]) if limited else SendResult(Message.from_row(row[1:]), bool(row[8]))
            )
        if any(a is None for a in answers):
            raise RuntimeError(f"chat_send_v2 answered {len(rows)} rows for {len(sends)} sends")
        return [a for a in answers if a is not None]

    async def _history_once(self, room: str, after: int, limit: int, wait: float) -> list[Message]:
        await self.ensure_schema(wait)
        async with self._connection(wait) as conn:
            cur = await conn.execute(_AFTER, (room, after, limit))
            return [Message.from_row(r) for r in await cur.fetchall()]

    async def _with_retry(self, attempt: Callable[[float], Awaitable[T]], what: str) -> T:
        """Run ``attempt(wait)`` until it succeeds, retrying retryable errors, within ``deadline_s`` in total.

        ``wait`` bounds the attempt's wait for a pooled connection, so an attempt that never got one gives
        up by the deadline by itself. An attempt is never cancelled (it may be committing): one still
        running at the deadline (plus a short grace) goes on in the background and the caller gets
        DatabaseUnavailable; a retry with the same client_id then finds what it stored, if anything.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_s
        delay = 0.05
        last: BaseException | None = None
        while (remaining := deadline - loop.time()) > 0:
            task: asyncio.Task[T] = asyncio.ensure_future(attempt(remaining))
            # asyncio.wait never cancels the attempt (cheaper than wait_for(shield(task)), same contract)
            done, _ = await asyncio.wait((task,), timeout=remaining + _GRACE_S)
            if not done:
                self._orphan(task)
                break
            try:
                return task.result()
            except _RETRYABLE as exc:
                last = exc
                self._on_error(type(exc).__name__)
                log.warning("%s failed, retrying: %s", what, _one_line(exc))
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, 1.0)
        self._on_error("deadline")
        reason = _one_line(last) if last else f"no answer within {self.deadline_s:g} s"
        raise DatabaseUnavailable(f"database unavailable: {reason}")

    def _orphan(self, task: asyncio.Task[Any]) -> None:
        """Keep a timed-out attempt alive until it ends; log how it ended."""
        self._orphans.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._orphans.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("timed-out attempt ended with: %s", _one_line(t.exception()))

        task.add_done_callback(done)

    async def ping(self) -> bool:
        """True when a read-write primary answers (``self.probe``) and the schema is in place."""
        return await self.probe.check() and self._schema_ready


def _one_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
