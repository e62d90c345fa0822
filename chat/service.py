"""The send path shared by REST and WebSocket: release faults, rate limit and commit, local push, fan-out."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from chat.auth import verify_token
from chat.config import Settings
from chat.db import Database, DatabaseUnavailable, Message, RateLimited, SendResult
from chat.fanout import Fanout
from chat.gapfill import GapFiller
from chat.hub import Hub
from chat.metrics import Metrics
from chat.rebalance import Policy, Rebalancer, Sockets, redis_client
from chat.validation import check_body_size, check_room

__all__ = ["ChatService", "SendRefused"]

# The service's own generator: the process-wide one belongs to its host (a test's hypothesis run, an app server).
_RNG = random.Random()  # jitter and injected faults, not secrets

log = logging.getLogger(__name__)


class SendRefused(Exception):
    """A send that was not stored; ``status`` is the HTTP-like code for the client."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class ChatService:
    """Composition root of one replica (built by ``create``; the app and the WebSocket use it)."""

    settings: Settings
    db: Database
    hub: Hub
    fanout: Fanout
    metrics: Metrics
    gaps: GapFiller
    sockets: Sockets
    rebalancer: Rebalancer | None
    """None with CHAT_REBALANCE=0."""

    @classmethod
    def create(cls, settings: Settings) -> ChatService:
        metrics = Metrics(settings.release, settings.replica)
        hub = Hub()
        db = Database(
            settings.database_url,
            pool_max=settings.db_pool_max,
            deadline_s=settings.send_timeout_s,
            linger_s=settings.send_linger_ms / 1000,
            rate=settings.rate_limit,
            burst=settings.rate_burst,
            on_error=lambda kind: metrics.db_errors.labels(kind=kind).inc(),
            on_reachable=metrics.db_reachable.set,
        )
        gaps = GapFiller(hub, db, metrics)
        fanout = Fanout(
            settings.redis_url,
            settings.redis_channel,
            hub.deliver,
            key=settings.fanout_key,
            on_state=gaps.state_changed,
            on_drop=metrics.fanout_dropped.inc,
            on_reject=metrics.fanout_rejected.inc,
        )
        sockets = Sockets()
        rebalancer = None
        if settings.rebalance:
            rebalancer = Rebalancer(
                redis_client(settings.redis_url),
                name=settings.replica,
                prefix=f"{settings.redis_channel}:ws:",
                policy=Policy(settings.rebalance_ratio, settings.rebalance_slack, settings.rebalance_batch),
                interval_s=settings.rebalance_interval_s,
                sockets=sockets,
                metrics=metrics,
            )
        return cls(settings, db, hub, fanout, metrics, gaps, sockets, rebalancer)

    def user_of(self, token: str) -> str:
        """The user a bearer token names (AuthError when invalid, expired, or not ours by iss/aud)."""
        s = self.settings
        return verify_token(s.jwt_secret, token, issuer=s.jwt_issuer, audience=s.jwt_audience)

    async def send(self, *, room: str, user: str, client_id: str, body: str, transport: str) -> SendResult:
        """Store and fan out one message; SendRefused (413/422/429/500/503) when it was not stored (429: the
        user's token bucket, kept in the database and shared by the replicas, is empty)."""
        m = self.metrics.send_path(transport)
        m.sent.inc()
        try:
            check_room(room)
            check_body_size(body, self.settings.max_body_bytes)
            await self._release_faults()
            started = time.perf_counter()
            result = await self.db.send(room, client_id, user, body)  # the rate limit is checked there too
        except RateLimited as exc:
            self.metrics.send_rejected.labels(transport=transport, status="429").inc()
            limit = self.settings.rate_limit
            raise SendRefused(
                429, f"rate limit of {limit:g} sends/s exceeded for {user}", retry_after=exc.wait_s
            ) from None
        except SendRefused as exc:
            self.metrics.send_rejected.labels(transport=transport, status=str(exc.status)).inc()
            raise
        except DatabaseUnavailable as exc:
            self.metrics.send_rejected.labels(transport=transport, status="503").inc()
            raise SendRefused(503, str(exc), retry_after=1.0) from None
        m.latency.observe(time.perf_counter() - started)
        (m.created if result.created else m.found).inc()
        self._distribute(result.message)
        return result

    async def _release_faults(self) -> None:
        release = self.settings.release
        if release == "bad-latency":
            await asyncio.sleep(self.settings.bad_latency_ms / 1000)
        elif release == "bad-errors" and _RNG.random() < self.settings.bad_error_share:
            raise SendRefused(500, "internal error (injected by release bad-errors)")

    def _distribute(self, message: Message) -> None:
        """Push to this replica's sockets now, and to the other replicas through Redis.

        Also for an already stored message: the first attempt may have committed without being
        published (ack lost); subscribers drop ids they have already delivered.
        """
        self.hub.deliver(message)
        self.fanout.publish(message)

    async def readiness(self) -> tuple[bool, list[str]]:
        """(ready, unreachable dependencies). Redis counts only with CHAT_READYZ_REQUIRES_REDIS=1."""
        db_ok, redis_ok = await asyncio.gather(self.db.ping(), self.fanout.ping())
        unreachable = [name for name, ok in (("database", db_ok), ("redis", redis_ok)) if not ok]
        ready = db_ok and (redis_ok or not self.settings.readyz_requires_redis)
        return ready, unreachable
