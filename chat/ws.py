"""WebSocket ``/ws?room=R[&after=ID][&token=T]``: replay what was missed, then live pushes and sends.

Server -> client: ``message`` (replayed or live), one ``ready`` after the replay, ``ack`` after a commit,
``error`` for a refused send. Client -> server: ``{"type": "send", "client_id", "body"}``.
Close codes: 1008 authentication failed, 4422 bad query parameters, 1011 database unavailable during the
replay, 1012 service restart (the replica is draining, or holds more than its fair share of the sockets:
``chat.rebalance``; reconnect at once with ``after=``), 1013 the client reads too slowly (its inbox
overflowed; reconnect with ``after=``), 4429 the replay reached ``CHAT_REPLAY_MAX`` messages (reconnect
with ``after=`` the last id received). Close reasons are cut to 123 UTF-8 bytes. Access model: any valid
token may read and write any room (no per-room ACL). ``ready`` names the replica (``replica``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
from starlette import websockets as _starlette_ws
from starlette.websockets import WebSocket, WebSocketDisconnect

from chat.auth import AuthError, bearer_token
from chat.db import DatabaseUnavailable, Message
from chat.hub import Subscriber
from chat.service import ChatService, SendRefused
from chat.validation import Invalid, SendRequest, check_room, parse
from chat.wsserver import EXTENSION, text_frame

__all__ = ["websocket_endpoint"]

log = logging.getLogger(__name__)
REPLAY_PAGE = 500
CLOSE_POLICY = 1008
CLOSE_INVALID = 4422
CLOSE_UNAVAILABLE = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_TOO_SLOW = 1013
CLOSE_REPLAY_LIMIT = 4429
MAX_REASON_BYTES = 123
# The peer has gone: Starlette >= 1.0 raises WebSocketDisconnected (a RuntimeError) on a send after the
# close, older ones a plain RuntimeError; uvicorn raises ClientDisconnected (an OSError).
_GONE: tuple[type[BaseException], ...] = (
    WebSocketDisconnect,
    getattr(_starlette_ws, "WebSocketDisconnected", RuntimeError),
    OSError,
)


class _Conn:
    """One accepted socket: serialised writes, its inbox, the user and the room.

    Under ``chat.wsserver``'s protocol a frame that can go without waiting is written to the transport at once
    (``_write_now``): a push straight from the hub when nothing is queued before it (``push_now``), an ack or an
    error. Otherwise the write goes through ASGI under the lock (waits for a full buffer to drain)."""

    def __init__(self, ws: WebSocket, service: ChatService, user: str, room: str) -> None:
        self.ws = ws
        self.service = service
        self.user = user
        self.room = room
        self.sub = Subscriber(room)
        self.sending = 0  # frames of this socket being handled (a send: until its ack is written)
        self._lock = asyncio.Lock()
        self._write_frame: Callable[[bytes], bool] | None = ws.scope.get("extensions", {}).get(EXTENSION)

    @property
    def busy(self) -> bool:
        return self.sending > 0

    async def shed(self, reason: str = "rebalancing: reconnect with after=<last id>") -> None:
        """Close with 1012 to rebalance or to shut down (after any frame being written): the client reconnects
        through the load balancer and replays from its last id, so what was still in the inbox is not lost."""
        async with self._lock:
            await _close(self.ws, CLOSE_SERVICE_RESTART, reason)

    def _write_now(self, frame: bytes) -> bool:
        """Write a whole frame now unless a write through ASGI is under way or the frame would have to wait."""
        return self._write_frame is not None and not self._lock.locked() and self._write_frame(frame)

    async def emit(self, payload: dict[str, Any]) -> None:
        data = orjson.dumps(payload)
        if self._write_frame is not None and self._write_now(text_frame(data)):
            return
        async with self._lock:
            await self.ws.send_text(data.decode())

    async def push(self, message: Message) -> None:
        if not self.sub.seen(message.id):
            if not self._write_now(message.ws_frame):
                async with self._lock:
                    await self.ws.send_text(message.frame)
            self.service.metrics.pushed.inc()

    def push_now(self, message: Message) -> bool:
        """The hub's direct delivery (``Subscriber.direct``): True when ``message`` is written (or was before),
        False when it must wait (then it is queued for the pusher). Never raises into the hub's loop."""
        if self.sub.delivered(message.id):
            return True
        try:
            written = self._write_now(message.ws_frame)
        except Exception:  # a fault of this socket must not stop the room's other deliveries
            log.debug("direct push failed; the pusher retries through ASGI", exc_info=True)
            return False
        if written:
            self.sub.seen(message.id)
            self.service.metrics.pushed.inc()
        return written


async def websocket_endpoint(ws: WebSocket) -> None:
    service: ChatService = ws.app.state.service
    try:
        user = service.user_of(bearer_token(ws.headers, ws.query_params))
    except AuthError as exc:
        await _refuse(ws, CLOSE_POLICY, str(exc))
        return
    room = ws.query_params.get("room", "")
    try:
        check_room(room)
        after = _after(ws.query_params.get("after"))
    except Invalid as exc:
        await _refuse(ws, CLOSE_INVALID, str(exc))
        return
    await ws.accept()
    conn = _Conn(ws, service, user, room)
    service.hub.join(conn.sub)  # before the replay query, so nothing committed in between is missed
    try:
        await _replay(conn, after)
        service.sockets.add(conn)
        await _serve(conn)
    except DatabaseUnavailable as exc:
        await _close(ws, CLOSE_UNAVAILABLE, str(exc))
    except ReplayLimit:
        log.debug("websocket closed at the replay limit")
    except _GONE:
        log.debug("websocket closed by the client")
    finally:
        service.sockets.discard(conn)
        service.hub.leave(conn.sub)


async def _refuse(ws: WebSocket, code: int, reason: str) -> None:
    """Accept then close, so the client sees the close code (a refused handshake is only an HTTP 403)."""
    await ws.accept()
    await _close(ws, code, reason)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(*_GONE):
        await ws.close(code=code, reason=close_reason(reason))


def close_reason(reason: str) -> str:
    """``reason`` cut to the 123 UTF-8 bytes a close frame can carry (RFC 6455 5.5.1), whole characters."""
    data = reason.encode()
    return reason if len(data) <= MAX_REASON_BYTES else data[:MAX_REASON_BYTES].decode(errors="ignore")


_AFTER = re.compile(r"[0-9]{1,19}")


def _after(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not _AFTER.fullmatch(raw) or int(raw) >= 2**63:
        raise Invalid(422, f"after: expected a non-negative 64-bit integer, got {raw[:40]!r}")
    return int(raw)


async def _replay(conn: _Conn, after: int | None) -> None:
    """Send everything after ``after`` (if given), then ``ready`` with the last id the client has."""
    db = conn.service.db
    if after is None:
        last, seq = await db.mark(conn.room)
    else:
        last, budget, seq = after, conn.service.settings.replay_max, 0
        while True:
            want = min(REPLAY_PAGE, budget)
            page = await db.history(conn.room, last, want)
            for message in page:
                await conn.push(message)
            if page:
                last = page[-1].id
            budget -= len(page)
            if len(page) < want:
                # the room's position in the same snapshot as its highest id: replayed up to there?
                top, seq = await db.mark(conn.room)
                if top <= last:
                    break
                continue
            if budget <= 0:
                top, seq = await db.mark(conn.room)
                if top <= last:
                    break  # exactly at the end of the room
                await _close(conn.ws, CLOSE_REPLAY_LIMIT, f"replay limit reached: reconnect with after={last}")
                raise ReplayLimit
    last = await _catch_up_with_hub(conn, last, seq, push=after is not None)
    conn.service.gaps.joined(conn.room, last, seq)
    await conn.emit({"type": "ready", "last_id": last, "replica": conn.service.settings.replica})


async def _catch_up_with_hub(conn: _Conn, last: int, seq: int, *, push: bool) -> int:
    """Push what the room's live stream on this replica has passed since this replay's snapshot (``seq``).

    The hub releases a room from the position the *first* socket's replay reached; messages up to it that
    arrived meanwhile were held and dropped as replayed. Two sockets joining a room new to this replica at
    once (a herd reconnecting after a 1012) can see their snapshots' answers in either order: when the
    later snapshot fixed the position, the other socket's replay ended below it and the messages in between
    reached neither its replay nor its inbox (a delivery gap). Read them from the database: they are
    committed (the hub released up to there), and what the hub releases after the position was read reaches
    this socket's inbox (it joined the hub before its replay).

    A socket that joins without ``after=`` (``push`` False) has had nothing pushed: its join point moves up to
    the position instead (those messages came before it joined). Pushing them would put them before what its
    inbox already holds from below the position, an id order the client must never see (a reconnect with
    ``after=<highest id>`` in between would skip the lower ones)."""
    position = conn.service.hub.position(conn.room)
    if position is None or position <= seq:
        return last
    for message in await conn.service.db.history_after_seq(conn.room, seq, position - seq):
        if push:
            await conn.push(message)
        last = max(last, message.id)
    return last


class ReplayLimit(Exception):
    """The connection replayed ``CHAT_REPLAY_MAX`` messages and was closed (4429)."""


async def _serve(conn: _Conn) -> None:
    """Run the pusher and the receiver until either ends (disconnect or overflow)."""
    tasks = [asyncio.create_task(_pusher(conn)), asyncio.create_task(_receiver(conn))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        exc = task.exception()
        if exc is not None and not isinstance(exc, _GONE):
            raise exc


async def _pusher(conn: _Conn) -> None:
    """Write what the hub queued, in order; once the queue is empty the hub writes directly again."""
    sub = conn.sub
    sub.direct = conn.push_now
    try:
        while True:
            message = await sub.queue.get()
            sub.pushing = True  # set before any await: the hub must not write past this message
            try:
                if sub.overflowed:
                    await _close(conn.ws, CLOSE_TOO_SLOW, "client too slow: reconnect with after=<last id>")
                    return
                await conn.push(message)
            finally:
                sub.pushing = False
    finally:
        sub.direct = None


async def _receiver(conn: _Conn) -> None:
    while True:
        message = await conn.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        if text is None:  # a binary frame (receive_text() raised KeyError, ending the connection with a 500)
            await conn.emit({"type": "error", "client_id": None, "status": 422, "error": "frame must be JSON text"})
            continue
        conn.sending += 1  # until its ack or error is written: a rebalancing close skips the socket meanwhile
        try:
            await _handle_frame(conn, text)
        finally:
            conn.sending -= 1


async def _handle_frame(conn: _Conn, text: str) -> None:
    client_id: str | None = None
    try:
        data = orjson.loads(text)
        if isinstance(data, dict) and isinstance(data.get("client_id"), str):
            client_id = data["client_id"]
        if not isinstance(data, dict) or data.get("type") != "send":
            raise Invalid(422, "type: expected 'send'")
        req = parse(SendRequest, data)
        result = await conn.service.send(
            room=conn.room, user=conn.user, client_id=req.client_id, body=req.body, transport="ws"
        )
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder's stack
        await conn.emit({"type": "error", "client_id": None, "status": 422, "error": "frame must be JSON"})
        return
    except (Invalid, SendRefused) as exc:
        status = exc.status
        if isinstance(exc, Invalid):
            conn.service.metrics.send_rejected.labels(transport="ws", status=str(status)).inc()
        await conn.emit({"type": "error", "client_id": client_id, "status": status, "error": str(exc)})
        return
    except Exception:  # a bug must not cost the client its connection: answer 500, log the traceback
        log.exception("send over websocket failed")
        await conn.emit({"type": "error", "client_id": client_id, "status": 500, "error": "internal error"})
        return
    m = result.message
    await conn.emit({"type": "ack", "client_id": m.client_id, "id": m.id, "ts": m.ts, "seq": m.seq})
