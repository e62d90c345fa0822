"""Locustfile: WebSocket chat users for the AGENT chat service (run by ``start_load``, never imported
by the harness process).

Configuration comes from the JSON file named by ``$RESILIENCE_LOAD_SPEC`` (a LoadSpec); the issuer
secret that mints user tokens comes from ``$RESILIENCE_ISSUER_SECRET``. Each process writes its own
events file and ledger file; every measurement also goes to Locust's statistics so the web UI is useful
during a game day.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import signal
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, events, task

from resilience.load import shapes as _shapes
from resilience.load.chatclient import ChatSession, make_body
from resilience.load.events import EventWriter, Kind
from resilience.load.health import start_sampler
from resilience.load.message_ledger import LedgerWriter
from resilience.load.params import LoadSpec


def _read_spec(path: Path) -> LoadSpec:
    """The spec; without a ``prefix`` every process would draw its own, so derive it from the file (the
    master and all workers - e.g. pods reading one ConfigMap - then share rooms)."""
    text = path.read_text()
    raw = json.loads(text)
    if isinstance(raw.get("params"), dict) and "prefix" not in raw["params"]:
        raw["params"]["prefix"] = "lt" + hashlib.sha256(text.encode()).hexdigest()[:6]
    return LoadSpec.model_validate(raw)


# ``LoadProcess.stop`` ends a load with SIGINT. A shell without job control (CI steps, ``cmd &`` in a script,
# nohup'd jobs) starts background commands with SIGINT ignored, the ignore survives exec, and Python then
# installs no KeyboardInterrupt handler: Locust would sit out the stop timeout and be killed, its files
# unflushed. Take SIGINT back, so a stop is graceful whatever started the harness.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

SPEC = _read_spec(Path(os.environ["RESILIENCE_LOAD_SPEC"]))
PARAMS = SPEC.params
ISSUER_SECRET = os.environ.get("RESILIENCE_ISSUER_SECRET", "")
FLUSH_S = 0.5
CLOSE = {"Connection": "close"}
"""REST calls are rare next to the WebSocket: keeping an idle HTTP connection per user would double the
sockets a load balancer holds (the local HAProxy's 4096 filled at ~2,000 users)."""

Shape = type("Shape", (_shapes.SHAPES[PARAMS.profile],), {"params": PARAMS})
"""The one shape class Locust sees: the run's profile."""


class LoadFailure(Exception):
    """How a failed chat operation appears in Locust's failure table."""


class _Sinks:
    """This process's events file and ledger, opened on first use (the master never opens them)."""

    events: EventWriter | None = None
    ledger: LedgerWriter | None = None
    sessions: ClassVar[set[ChatSession]] = set()
    """Live sessions: their received ids are flushed with the files, so a mid-run integrity check sees them."""

    @classmethod
    def open(cls) -> tuple[EventWriter, LedgerWriter]:
        if cls.events is None or cls.ledger is None:
            cls.events = EventWriter(Path(SPEC.events_dir))
            cls.ledger = LedgerWriter(Path(SPEC.ledger_dir))
            gevent.spawn(cls._flusher)
        return cls.events, cls.ledger

    @classmethod
    def _flusher(cls) -> None:
        """Flush both files every half second, so readers see events even when traffic pauses."""
        while True:
            gevent.sleep(FLUSH_S)
            for session in list(cls.sessions):
                session.flush_received()
            for sink in (cls.events, cls.ledger):
                if sink is not None:
                    sink.flush()

    @classmethod
    def close(cls) -> None:
        for sink in (cls.events, cls.ledger):
            if sink is not None:
                sink.close()


def _on_quit(**_kw: Any) -> None:
    _Sinks.close()


events.quit.add_listener(_on_quit)  # type: ignore[no-untyped-call]


def _on_init(environment: Any, **_kw: Any) -> None:
    """Every process (master, workers, a standalone one) samples its own CPU, descriptors and loop lag."""
    if SPEC.generator_dir is None:
        return
    kind = type(environment.runner).__name__
    if kind.startswith("Master"):
        role = "master"
    elif kind.startswith("Worker"):
        role = "worker"  # its index comes from the master later; the pid tells workers apart
    else:
        role = "local"
    start_sampler(Path(SPEC.generator_dir), role)


events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]


class _Reporter:
    """Records to the events file and, unless ``stats=False``, to Locust's request statistics."""

    def __init__(self, user: FastHttpUser, sink: EventWriter) -> None:
        self._fire = user.environment.events.request.fire
        self._sink = sink

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
    ) -> None:
        self._sink.record(kind, ok=ok, status=status, value=ms)
        if stats:
            self._fire(
                request_type="WS",
                name=name,
                response_time=ms,
                response_length=length,
                exception=None if ok else LoadFailure(error or f"status {status}"),
                context={},
            )

    def event(self, kind: Kind, *, ok: bool = True, status: int = 0, value: float = 0.0) -> None:
        self._sink.record(kind, ok=ok, status=status, value=value)


_user_numbers = itertools.count()


class ChatUser(FastHttpUser):
    """A chat user: one WebSocket in its room, messages at a think time, a REST share of sends and reads."""

    host = SPEC.chat_url
    connection_timeout = PARAMS.connect_timeout_s
    network_timeout = PARAMS.connect_timeout_s * 2
    max_retries = 0

    def wait_time(self) -> float:
        return random.uniform(0.5, 1.5) * PARAMS.think_time_s

    def __init__(self, environment: Any) -> None:
        worker = int(getattr(environment.runner, "worker_index", 0) or 0)
        index = next(_user_numbers) * max(1, SPEC.workers) + worker
        self.host = SPEC.urls[index % len(SPEC.urls)]
        super().__init__(environment)
        self.user_name = f"{PARAMS.prefix}-u{index}"
        self.room = PARAMS.room_name((index // PARAMS.room_size) % PARAMS.room_count)

    def on_start(self) -> None:
        sink, self.ledger = _Sinks.open()
        self.reporter = _Reporter(self, sink)
        self.session = ChatSession(
            base_url=self.host,
            user=self.user_name,
            room=self.room,
            params=PARAMS,
            token=self._token,
            reporter=self.reporter,
            ledger=self.ledger,
        )
        _Sinks.sessions.add(self.session)
        self.session.wait_connected(PARAMS.connect_timeout_s)  # a client does not send before it is online

    def on_stop(self) -> None:
        _Sinks.sessions.discard(self.session)
        self.session.close()

    def _token(self) -> str | None:
        t0 = time.perf_counter()
        with self.client.post(
            "/auth/token",
            json={"user": self.user_name, "ttl_s": 24 * 3600},
            headers={"X-Issuer-Secret": ISSUER_SECRET, **CLOSE},
            catch_response=True,
        ) as resp:
            token = _json(resp).get("token") if resp.status_code == 200 else None
            ok = isinstance(token, str)
            if not ok:
                resp.failure(f"token: status {resp.status_code}")
        self.reporter.event(Kind.AUTH, ok=ok, status=resp.status_code or 0, value=(time.perf_counter() - t0) * 1000)
        return token if isinstance(token, str) else None

    def _auth(self) -> dict[str, str] | None:
        """Bearer header for REST calls (fetching a token if the session has none); None if none to be had."""
        if self.session.token is None:
            self.session.token = self._token()
        return None if self.session.token is None else {"Authorization": f"Bearer {self.session.token}", **CLOSE}

    @task
    def act(self) -> None:
        """One action: mostly a WebSocket send; ``rest_share`` of them REST sends and history reads."""
        self.session.check_timeouts()
        roll = random.random()
        if roll < PARAMS.rest_share / 2:
            self.rest_send()
        elif roll < PARAMS.rest_share:
            self.rest_history()
        else:
            self.session.send()

    def rest_send(self) -> None:
        """POST a message; the ledger gets it as sent, then acked / failed (or indeterminate on no answer)."""
        if (headers := self._auth()) is None:
            return
        cid, now = uuid.uuid4().hex, time.time()
        self.ledger.sent(self.room, cid, self.user_name, "rest", now)
        t0 = time.perf_counter()
        with self.client.post(
            f"/rooms/{self.room}/messages",
            name="/rooms/[room]/messages",
            json={"client_id": cid, "body": make_body(PARAMS.message_bytes, now)},
            headers=headers,
            catch_response=True,
        ) as resp:
            ms, status = (time.perf_counter() - t0) * 1000, resp.status_code or 0
            msg_id = _json(resp).get("id") if status in (200, 201) else None
            if isinstance(msg_id, int):
                self.ledger.acked(self.room, cid, msg_id)
            else:
                if status:
                    self.ledger.failed(self.room, cid, status)
                resp.failure(f"status {status}")
                self._maybe_refresh(status)
        self.reporter.request(Kind.REST_SEND, "", ms, ok=isinstance(msg_id, int), status=status, stats=False)

    def rest_history(self) -> None:
        """GET the last messages of the room."""
        if (headers := self._auth()) is None:
            return
        after = max(0, (self.session.last_id or 0) - 50)
        t0 = time.perf_counter()
        with self.client.get(
            f"/rooms/{self.room}/messages?after={after}&limit=50",
            name="/rooms/[room]/messages?after",
            headers=headers,
            catch_response=True,
        ) as resp:
            ms, status = (time.perf_counter() - t0) * 1000, resp.status_code or 0
            if status != 200:
                resp.failure(f"status {status}")
                self._maybe_refresh(status)
        self.reporter.request(Kind.REST_HISTORY, "", ms, ok=status == 200, status=status, stats=False)

    def _maybe_refresh(self, status: int) -> None:
        if status in (401, 403):
            self.session.token = None


def _json(resp: Any) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
