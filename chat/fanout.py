"""Redis pub/sub fan-out between replicas, kept alive in the background.

Every replica publishes the messages it stored on one channel (the ones queued together in one payload:
``{"origin", "messages": [...]}``) and delivers what other replicas publish to its local subscribers.
Redis is optional for correctness: when it is down, sends still commit and ack, local subscribers still
get messages sent through this replica, and the rest catch up from the database with ``after=`` when they
reconnect. The subscriber reconnects with backoff when Redis returns.

Payloads are signed: ``<hex HMAC-SHA256 of the JSON under the replicas' shared key>.<JSON>``. Anyone who
can reach Redis could otherwise push a message with any ``sender`` to every WebSocket, past the JWT; an
unsigned, mis-signed or malformed payload is dropped and counted (``chat_fanout_rejected_total``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chat.db import Message

__all__ = ["Fanout", "sign", "verified"]

log = logging.getLogger(__name__)
_ERRORS = (RedisError, OSError, TimeoutError)


def sign(key: bytes, body: str | bytes) -> bytes:
    """``body`` with its signature in front: ``<hex hmac>.<body>``."""
    raw = body.encode() if isinstance(body, str) else body
    return hmac.new(key, raw, hashlib.sha256).hexdigest().encode() + b"." + raw


def verified(key: bytes, payload: bytes | str) -> bytes | None:
    """The JSON text (UTF-8) of a correctly signed payload, else None."""
    raw = payload.encode() if isinstance(payload, str) else payload
    sig, dot, body = raw.partition(b".")
    if not dot or len(sig) != 64:
        return None
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(sig, expected):
        return None
    return body


class Fanout:
    """Publish queue + subscriber loop; ``run()`` is the background task, ``publish()`` never blocks."""

    def __init__(
        self,
        url: str,
        channel: str,
        deliver: Callable[[Message], None],
        *,
        key: bytes,
        on_state: Callable[[bool], None] | None = None,
        on_drop: Callable[[], None] | None = None,
        on_reject: Callable[[], None] | None = None,
        queue_size: int = 10_000,
    ) -> None:
        """``key``: the HMAC key every replica of the deployment shares (signs and checks payloads)."""
        self.url = url
        self.channel = channel
        self.origin = uuid.uuid4().hex
        # how this replica's own payloads start after the signature (orjson keeps the key order): they
        # come back from the channel and are dropped before the HMAC and the JSON parse
        self._own = b'.{"origin":"' + self.origin.encode() + b'"'
        self._deliver = deliver
        self._on_state = on_state or (lambda up: None)
        self._on_drop = on_drop or (lambda: None)
        self._on_reject = on_reject or (lambda: None)
        self._key = key
        self._queue: asyncio.Queue[Message] = asyncio.Queue(queue_size)
        self._client = self._redis()
        self._publish_down_until = 0.0
        self.subscribed = False

    def _redis(self) -> Redis:
        return Redis.from_url(
            self.url,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )

    def publish(self, message: Message) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._on_drop()

    async def ping(self, timeout: float = 1.0) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.ping(), timeout))
        except _ERRORS:
            return False

    async def run(self) -> None:
        await asyncio.gather(self._publisher(), self._subscriber())

    async def close(self) -> None:
        await self._client.aclose()

    async def _publisher(self) -> None:
        """Publish what is queued, up to 500 messages in one payload (one PUBLISH, one round trip)."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < 500 and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if loop.time() < self._publish_down_until:
                self._dropped(len(batch))  # Redis failed a moment ago: do not stall on every message
                continue
            body = orjson.dumps({"origin": self.origin, "messages": [m.to_json() for m in batch]})
            try:
                await asyncio.wait_for(self._client.publish(self.channel, sign(self._key, body)), 2.0)
            except _ERRORS as exc:
                self._publish_down_until = loop.time() + 1.0
                self._dropped(len(batch))
                log.warning("publish to redis failed: %s", exc)

    def _dropped(self, n: int) -> None:
        for _ in range(n):
            self._on_drop()

    async def _subscriber(self) -> None:
        delay = 0.1
        while True:
            client = self._redis()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._set_subscribed(True)
                delay = 0.1
                await self._listen(pubsub)
            except _ERRORS as exc:
                log.warning("redis subscriber lost: %s", exc)
            finally:
                self._set_subscribed(False)
                await _quietly_close(pubsub, client)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _listen(self, pubsub: PubSub) -> None:
        """Deliver messages until the connection fails or stays silent for 10 s despite pings."""
        loop = asyncio.get_running_loop()
        last_seen = last_ping = loop.time()
        while True:
            item = await pubsub.get_message(timeout=1.0)
            now = loop.time()
            if item is not None:
                last_seen = now
                self._handle(item)
            if now - last_ping >= 3.0:
                await pubsub.ping()
                last_ping = now
            if now - last_seen > 10.0:
                raise TimeoutError("no answer from redis for 10 s")

    def _handle(self, item: dict[str, Any]) -> None:
        if item.get("type") != "message":
            return  # pong and the like
        data = item.get("data")
        if isinstance(data, bytes) and data.startswith(self._own, 64):
            return  # our own publish (a forged one would only be dropped)
        text = verified(self._key, item.get("data") or b"")
        if text is None:
            self._on_reject()
            log.warning("dropping a fan-out payload with a missing or wrong signature")
            return
        try:
            data = orjson.loads(text)
            if data.get("origin") == self.origin:
                return
            # "messages": a publisher's batch; "message": one, as replicas published before batching
            raw = data["messages"] if "messages" in data else [data["message"]]
            messages = [Message.from_json(m) for m in raw]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._on_reject()
            log.warning("ignoring malformed fan-out payload: %s", exc)
            return
        for message in messages:
            self._deliver(message)

    def _set_subscribed(self, up: bool) -> None:
        if up:
            self._publish_down_until = 0.0  # Redis answers again: stop dropping publishes
        if up != self.subscribed:
            log.info("redis subscriber %s", "connected" if up else "disconnected")
        self.subscribed = up
        self._on_state(up)


async def _quietly_close(pubsub: PubSub, client: Redis) -> None:
    for closer in (pubsub.aclose, client.aclose):
        try:
            await asyncio.wait_for(closer(), 1.0)
        except (*_ERRORS, RuntimeError):
            log.debug("closing a redis connection failed")
