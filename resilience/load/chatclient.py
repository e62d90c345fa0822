"""One simulated chat user's WebSocket session (runs under gevent in a locust process).

``ChatSession`` keeps one connection to ``/ws?room=R`` open in its own greenlet: it reconnects with
jittered exponential backoff when the connection drops, catches up with ``after=<last seen id>``, and
resends unacknowledged messages with the same client id (the service deduplicates on it). Sends come
from the user's task greenlet. Every outcome goes to a ``Reporter`` (events file + Locust stats) and to
the integrity ledger.
"""

from __future__ import annotations

import json
import logging
import random
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import gevent
import gevent.event
import websocket

from resilience.load.events import Kind
from resilience.load.message_ledger import LedgerWriter
from resilience.load.params import LoadParams

__all__ = ["ChatSession", "Reporter", "make_body", "ws_url"]

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0
RECEIVED_BATCH = 256


class Reporter(Protocol):
    """Where measurements go (the locustfile implements it over the events file and Locust stats)."""

    def request(
        self,
        kind: Kind,
        name: str,
        ms: float,
        *,
        ok: bool,
        status: int = 0,
        length: int = 0,
        error: str = "",
        stats: bool = True,
    ) -> None: ...

    def event(self, kind: Kind, *, ok: bool = True, status: int = 0, value: float = 0.0) -> None: ...


@dataclass
class _Pending:
    t_first: float
    frame: str
    sent_at: float
    attempts: int = 1
    timed_out: bool = False


def ws_url(base_url: str, room: str, after: int | None) -> str:
    """The WebSocket URL for ``room`` on the chat service at ``base_url`` (http -> ws)."""
    base = base_url.rstrip("/")
    base = "ws" + base[4:] if base.startswith("http") else base
    url = f"{base}/ws?room={quote(room)}"
    return url if after is None else f"{url}&after={after}"


def make_body(size: int, t: float | None = None) -> str:
    """A message body of ``size`` bytes that starts with its send timestamp (for delivery latency)."""
    head = f"{time.time() if t is None else t:.6f} "
    return head + "x" * max(0, size - len(head))


def _sent_at(body: Any) -> float | None:
    if not isinstance(body, str):
        return None
    try:
        return float(body.split(" ", 1)[0])
    except ValueError:
        return None


def backoff(attempt: int) -> float:
    """Jittered exponential backoff before reconnect ``attempt`` (1-based), in seconds."""
    base: float = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
    return base * random.uniform(0.5, 1.5)


class ChatSession:
    """A user's live connection to one room; ``send`` from the user's greenlet, ``close`` on stop."""

    def __init__(
        self,
        *,
        base_url: str,
        user: str,
        room: str,
        params: LoadParams,
        token: Callable[[], str | None],
        reporter: Reporter,
        ledger: LedgerWriter,
    ) -> None:
        self.base_url, self.user, self.room, self.params = base_url, user, room, params
        self._token_fn, self._reporter, self._ledger = token, reporter, ledger
        self.token: str | None = None
        self.last_id: int | None = None
        self.joined = False
        self.connected = False
        self.pending: dict[str, _Pending] = {}
        self._received: list[int] = []
        self._ws: websocket.WebSocket | None = None
        self._running = True
        self._restarting = False
        """The server closed with 1012 (service restart, a replica draining): reconnect without backoff."""
        self._outbox = False
        """Reconnecting after a 1012: sends wait in ``pending`` for the new connection instead of failing
        (a client's outbox; they count as failed only if not acknowledged within ``ack_timeout_s``)."""
        self._ready_event = gevent.event.Event()
        self._greenlet = gevent.spawn(self._run)

    def wait_connected(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) for the first ``ready``; whether the session is connected."""
        self._ready_event.wait(timeout)
        return self.connected

    # -- connection loop (own greenlet) ------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        while self._running:
            if self._connect():
                attempt = 0
                self._receive_loop()
                if not self._running:
                    return
            attempt += 1
            delay = 0.0 if self._restarting and attempt == 1 else backoff(attempt)
            self._restarting = False
            self._reporter.event(Kind.RECONNECT, value=delay * 1000)
            gevent.sleep(delay)

    def _connect(self) -> bool:
        if self.token is None:
            self.token = self._token_fn()
            if self.token is None:
                return False
        t0 = time.perf_counter()
        try:
            ws = websocket.create_connection(
                ws_url(self.base_url, self.room, self.last_id),
                timeout=self.params.connect_timeout_s,
                header=[f"Authorization: Bearer {self.token}"],
                enable_multithread=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            if exc.status_code in (401, 403):
                self.token = None
            self._connect_failed(t0, exc.status_code, f"handshake {exc.status_code}")
            return False
        except (websocket.WebSocketException, OSError) as exc:
            self._connect_failed(t0, 0, f"connect: {type(exc).__name__}")
            return False
        self._ws = ws
        return self._await_ready(ws, t0)

    def _connect_failed(self, t0: float, status: int, error: str) -> None:
        self._outbox = False  # the reconnect failed: sends fail again until connected
        self._reporter.request(
            Kind.WS_CONNECT, "connect", (time.perf_counter() - t0) * 1000, ok=False, status=status, error=error
        )

    def _await_ready(self, ws: websocket.WebSocket, t0: float) -> bool:
        """Read the catch-up replay until ``ready``; the connection counts as open from then on."""
        try:
            while True:
                msg = self._recv(ws)
                if msg is None:
                    raise websocket.WebSocketConnectionClosedException("closed before ready")
                if msg.get("type") == "ready":
                    break
                self._handle(msg)
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            status = 1008 if "1008" in str(exc) else 0
            if status == 1008:
                self.token = None
            self._close_ws()
            self._connect_failed(t0, status, f"before ready: {type(exc).__name__}")
            return False
        self._ready(int(msg.get("last_id") or 0))
        self._reporter.request(Kind.WS_CONNECT, "connect", (time.perf_counter() - t0) * 1000, ok=True)
        return True

    def _ready(self, last_id: int) -> None:
        if not self.joined:
            self.joined = True
            self._ledger.joined(self.user, self.room, last_id)
        self.last_id = max(self.last_id or 0, last_id)
        self.connected = True
        self._outbox = False
        self._ready_event.set()
        self._resend_pending()

    def _receive_loop(self) -> None:
        ws, code = self._ws, 0
        awaiting_pong = False
        try:
            while self._running and ws is not None:
                try:
                    msg = self._recv(ws)
                except websocket.WebSocketTimeoutException:
                    if awaiting_pong:
                        raise
                    awaiting_pong = True
                    ws.ping()
                    continue
                awaiting_pong = False
                if msg is None:
                    code = _SERVICE_RESTART if self._restarting else 1000
                    break
                self._handle(msg)
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            code = _close_code(exc)
        if self.connected:
            self.connected = False
            self._reporter.event(Kind.WS_CLOSE, ok=not self._running, status=code)
        self._close_ws()

    def _recv(self, ws: websocket.WebSocket) -> dict[str, Any] | None:
        """The next JSON message; ``{}`` for a pong; None when the server closed."""
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else 1005
            if code == 1008:
                raise websocket.WebSocketException(f"closed with 1008 {frame.data[2:]!r}")
            self._restarting = self._outbox = code == _SERVICE_RESTART
            return None
        if opcode in (websocket.ABNF.OPCODE_PONG, websocket.ABNF.OPCODE_PING):
            return {}
        data = frame.data.decode() if isinstance(frame.data, bytes) else frame.data
        parsed = json.loads(data)
        return parsed if isinstance(parsed, dict) else {}

    # -- incoming messages -------------------------------------------------------------------------
    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "message":
            self._on_message(msg)
        elif kind == "ack":
            self._on_ack(msg)
        elif kind == "error":
            self._on_error(msg)

    def _on_message(self, msg: dict[str, Any]) -> None:
        msg_id = int(msg["id"])
        self.last_id = max(self.last_id or 0, msg_id)
        self._received.append(msg_id)
        if len(self._received) >= RECEIVED_BATCH:
            self.flush_received()
        sent = _sent_at(msg.get("body"))
        if sent is not None:
            ms = max(0.0, (time.time() - sent) * 1000)
            self._reporter.request(Kind.DELIVERY, "delivery", ms, ok=True, stats=self.params.report_deliveries)

    def _on_ack(self, msg: dict[str, Any]) -> None:
        cid = str(msg.get("client_id"))
        pending = self.pending.pop(cid, None)
        if pending is None:
            return
        now = time.time()
        self._ledger.acked(self.room, cid, int(msg["id"]), now)
        if not pending.timed_out:
            self._reporter.request(
                Kind.ACK, "send→ack", (now - pending.t_first) * 1000, ok=True, length=len(pending.frame)
            )

    def _on_error(self, msg: dict[str, Any]) -> None:
        cid = str(msg.get("client_id"))
        pending = self.pending.pop(cid, None)
        status = int(msg.get("status") or 0)
        if pending is None:
            log.debug("%s: error without pending send: %s", self.user, msg)
            return
        self._ledger.failed(self.room, cid, status)
        if not pending.timed_out:
            self._reporter.request(
                Kind.ACK,
                "send→ack",
                (time.time() - pending.t_first) * 1000,
                ok=False,
                status=status,
                error=f"{status} {msg.get('error', '')}".strip(),
            )

    # -- sending (user greenlet) -------------------------------------------------------------------
    def send(self) -> bool:
        """Send one message over the WebSocket; False (and an error event) when not connected."""
        connected = self.connected and self._ws is not None
        if not connected and not (self._outbox and self._running):
            self._reporter.request(Kind.ACK, "send→ack", 0.0, ok=False, error="not connected")
            return False
        cid = uuid.uuid4().hex
        now = time.time()
        frame = json.dumps({"type": "send", "client_id": cid, "body": make_body(self.params.message_bytes, now)})
        self.pending[cid] = _Pending(now, frame, now, attempts=1 if connected else 0)
        self._ledger.sent(self.room, cid, self.user, "ws", now)
        if connected:
            self._send_frame(frame)
        return True  # not connected: in the outbox, sent by _resend_pending once the new connection is ready

    def _send_frame(self, frame: str) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            ws.send(frame)
        except (websocket.WebSocketException, OSError):
            self.drop()

    def _resend_pending(self) -> None:
        now = time.time()
        for cid, pending in sorted(self.pending.items(), key=lambda kv: kv[1].t_first):
            if pending.attempts >= self.params.max_send_attempts:
                del self.pending[cid]  # gives up: stays indeterminate in the ledger
                continue
            pending.attempts += 1
            pending.sent_at = now
            self._send_frame(pending.frame)

    def check_timeouts(self) -> None:
        """Report sends without ack after ``ack_timeout_s`` once, and reconnect (which resends them)."""
        now = time.time()
        expired = [p for p in self.pending.values() if now - p.sent_at > self.params.ack_timeout_s]
        for pending in expired:
            if not pending.timed_out:
                pending.timed_out = True
                self._reporter.request(
                    Kind.ACK, "send→ack", (now - pending.t_first) * 1000, ok=False, error="ack timeout"
                )
        if expired and self.connected:
            for pending in expired:
                pending.sent_at = now
            self.drop()

    # -- teardown ----------------------------------------------------------------------------------
    def drop(self) -> None:
        """Close the socket; the connection greenlet notices and reconnects."""
        self._close_ws()

    def _close_ws(self, *, polite: bool = False) -> None:
        """Close the connection: a close handshake (only when no other greenlet reads it) or a hard close."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        if polite:
            try:
                ws.close(timeout=0.5)
            except (websocket.WebSocketException, OSError):
                ws.shutdown()  # type: ignore[no-untyped-call]
        else:
            ws.shutdown()  # type: ignore[no-untyped-call]

    def flush_received(self) -> None:
        """Write the ids received since the last flush to the ledger."""
        self._ledger.received(self.user, self.room, self._received)
        self._received = []

    def close(self, drain_s: float = 1.0) -> None:
        """Stop for good: wait up to ``drain_s`` for in-flight acks, close, write the user's last records."""
        deadline = time.monotonic() + drain_s
        while self.pending and self.connected and time.monotonic() < deadline:
            gevent.sleep(0.02)
        self._running = False
        self._greenlet.kill(block=True, timeout=2)
        self._close_ws(polite=True)
        if self.connected:
            self.connected = False
            self._reporter.event(Kind.WS_CLOSE, ok=True, status=1000)
        self.flush_received()
        if self.joined:
            self._ledger.left(self.user, self.room, self.last_id or 0)


_SERVICE_RESTART = 1012
"""WebSocket close code of a replica that shuts down gracefully (chat.shutdown)."""


def _close_code(exc: BaseException) -> int:
    text = str(exc)
    for code in (1008, 1011, 1012, 1001, 1006):
        if str(code) in text:
            return code
    return 0
