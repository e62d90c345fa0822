"""Settings from ``CHAT_*`` environment variables: parsed and validated once, frozen afterwards."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["MIN_SECRET_BYTES", "RELEASES", "Settings", "SettingsError"]

RELEASES = ("good", "bad-errors", "bad-latency", "bad-readiness")
MIN_SECRET_BYTES = 32
"""Shortest CHAT_JWT_SECRET / CHAT_FANOUT_KEY accepted (RFC 7518: an HS256 key has at least 256 bits)."""


class SettingsError(ValueError):
    """A ``CHAT_*`` variable has a value the service cannot use; the message names it."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a replica needs; ``from_env`` documents the variable behind each field."""

    database_url: str = field(repr=False)
    """CHAT_DATABASE_URL: libpq URL of the read-write PostgreSQL endpoint (may hold a password)."""
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    """CHAT_REDIS_URL: Redis used for pub/sub fan-out between replicas (``redis://:PASSWORD@host:port/0``)."""
    redis_channel: str = "chat:messages"
    """CHAT_REDIS_CHANNEL: pub/sub channel shared by the replicas of one deployment."""
    jwt_secret: str = field(repr=False)
    """CHAT_JWT_SECRET: HS256 key for bearer tokens, at least 32 bytes."""
    issuer_secret: str = field(repr=False)
    """CHAT_ISSUER_SECRET: guards POST /auth/token (header X-Issuer-Secret)."""
    token_issuer: bool = True
    """CHAT_TOKEN_ISSUER: 0 switches the development token issuer (POST /auth/token) off: 404."""
    jwt_issuer: str = "resilience-chat"
    """CHAT_JWT_ISSUER: the ``iss`` claim tokens are issued with and must carry."""
    jwt_audience: str = "chat"
    """CHAT_JWT_AUDIENCE: the ``aud`` claim tokens are issued with and must carry."""
    fanout_key: bytes = field(default=b"", repr=False)
    """CHAT_FANOUT_KEY: HMAC key signing fan-out payloads, shared by the replicas (>= 32 bytes; default:
    derived from CHAT_JWT_SECRET, which they share already)."""
    replay_max: int = 10_000
    """CHAT_REPLAY_MAX: most messages one WebSocket connection replays for ``after=``; past it the socket is
    closed with 4429 and the client reconnects with ``after=<last id>``."""
    release: str = "good"
    """CHAT_RELEASE: good | bad-errors | bad-latency | bad-readiness."""
    replica: str = socket.gethostname()
    """CHAT_REPLICA: replica name in logs, metrics and /healthz."""
    rate_limit: float = 50.0
    """CHAT_RATE_LIMIT: sends per second per user (token bucket refill rate)."""
    rate_burst: float = 100.0
    """CHAT_RATE_BURST: token bucket size (default: twice CHAT_RATE_LIMIT)."""
    max_body_bytes: int = 4096
    """CHAT_MAX_BODY_BYTES: largest message body in UTF-8 bytes (413 above)."""
    log_level: str = "INFO"
    """CHAT_LOG_LEVEL: DEBUG | INFO | WARNING | ERROR."""
    send_timeout_s: float = 10.0
    """CHAT_SEND_TIMEOUT_S: bound on one send, retries included; past it the client gets 503."""
    send_linger_ms: float = 25.0
    """CHAT_SEND_LINGER_MS: once sends batch by themselves (a statement carried several), the next statement
    starts this long after the previous one started and carries every send of that window: fewer, larger
    batches under load, each send waiting at most this much longer. 0: as soon as the previous one ended."""
    db_pool_max: int = 10
    """CHAT_DB_POOL_MAX: largest number of PostgreSQL connections of one replica."""
    readyz_requires_redis: bool = False
    """CHAT_READYZ_REQUIRES_REDIS: 1 makes /readyz fail (503) when Redis is unreachable too."""
    bad_error_share: float = 0.3
    """CHAT_BAD_ERROR_SHARE: share of sends failed with 500 by the bad-errors release."""
    bad_latency_ms: float = 300.0
    """CHAT_BAD_LATENCY_MS: latency added to each send by the bad-latency release."""
    shutdown_delay_s: float = 1.5
    """CHAT_SHUTDOWN_DELAY_S: after SIGTERM, /readyz answers 503 for this long while the replica still serves,
    so that the load balancer's health checks take it out before it stops accepting connections."""
    drain_timeout_s: float = 10.0
    """CHAT_DRAIN_TIMEOUT_S: bound on the drain after that: in-flight requests finish, WebSockets are closed
    with 1012 (service restart); what is still running then is cancelled and the process exits."""
    rebalance: bool = True
    """CHAT_REBALANCE: 0 switches WebSocket rebalancing off (chat.rebalance: a replica above its fair share of
    the open sockets closes the excess with 1012 so that the load balancer places them again)."""
    rebalance_interval_s: float = 1.0
    """CHAT_REBALANCE_INTERVAL_S: how often a replica reports its sockets to Redis and decides; a replica not
    heard from for 3 intervals no longer counts."""
    rebalance_ratio: float = 1.2
    """CHAT_REBALANCE_RATIO: a replica sheds only above this multiple of the fair share (total / live)..."""
    rebalance_slack: int = 3
    """CHAT_REBALANCE_SLACK: ...and only when that is at least this many sockets above the fair share."""
    rebalance_batch: int = 5
    """CHAT_REBALANCE_BATCH: most sockets one replica closes per interval (down to the fair share)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``CHAT_*`` from ``env`` (default ``os.environ``); raise SettingsError naming a bad one."""
        e = os.environ if env is None else env
        rate = _float(e, "CHAT_RATE_LIMIT", 50.0, minimum=0.001)
        settings = cls(
            database_url=_required(e, "CHAT_DATABASE_URL"),
            redis_url=e.get("CHAT_REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_channel=e.get("CHAT_REDIS_CHANNEL") or "chat:messages",
            jwt_secret=_secret(e, "CHAT_JWT_SECRET"),
            issuer_secret=_required(e, "CHAT_ISSUER_SECRET"),
            token_issuer=_flag(e, "CHAT_TOKEN_ISSUER", default=True),
            jwt_issuer=e.get("CHAT_JWT_ISSUER") or "resilience-chat",
            jwt_audience=e.get("CHAT_JWT_AUDIENCE") or "chat",
            fanout_key=_fanout_key(e),
            replay_max=int(_float(e, "CHAT_REPLAY_MAX", 10_000, minimum=1)),
            release=e.get("CHAT_RELEASE", "good") or "good",
            replica=e.get("CHAT_REPLICA") or socket.gethostname(),
            rate_limit=rate,
            rate_burst=_float(e, "CHAT_RATE_BURST", 2 * rate, minimum=1.0),
            max_body_bytes=int(_float(e, "CHAT_MAX_BODY_BYTES", 4096, minimum=1)),
            log_level=(e.get("CHAT_LOG_LEVEL") or "INFO").upper(),
            send_timeout_s=_float(e, "CHAT_SEND_TIMEOUT_S", 10.0, minimum=0.1),
            send_linger_ms=_float(e, "CHAT_SEND_LINGER_MS", 25.0, minimum=0.0),
            db_pool_max=int(_float(e, "CHAT_DB_POOL_MAX", 10, minimum=2)),
            readyz_requires_redis=_flag(e, "CHAT_READYZ_REQUIRES_REDIS", default=False),
            bad_error_share=_float(e, "CHAT_BAD_ERROR_SHARE", 0.3, minimum=0.0),
            bad_latency_ms=_float(e, "CHAT_BAD_LATENCY_MS", 300.0, minimum=0.0),
            shutdown_delay_s=_float(e, "CHAT_SHUTDOWN_DELAY_S", 1.5, minimum=0.0),
            drain_timeout_s=_float(e, "CHAT_DRAIN_TIMEOUT_S", 10.0, minimum=0.1),
            rebalance=_flag(e, "CHAT_REBALANCE", default=True),
            rebalance_interval_s=_float(e, "CHAT_REBALANCE_INTERVAL_S", 1.0, minimum=0.1),
            rebalance_ratio=_float(e, "CHAT_REBALANCE_RATIO", 1.2, minimum=1.0),
            rebalance_slack=int(_float(e, "CHAT_REBALANCE_SLACK", 3, minimum=0)),
            rebalance_batch=int(_float(e, "CHAT_REBALANCE_BATCH", 5, minimum=1)),
        )
        if settings.release not in RELEASES:
            raise SettingsError(f"CHAT_RELEASE={settings.release!r}: expected one of {', '.join(RELEASES)}")
        if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"CHAT_LOG_LEVEL={settings.log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
        if settings.bad_error_share > 1:
            raise SettingsError(f"CHAT_BAD_ERROR_SHARE={settings.bad_error_share}: expected a share in [0, 1]")
        return settings


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise SettingsError(f"{name}={raw!r}: expected 1 or 0")
    return raw in ("1", "true", "yes", "on")


def _fanout_key(env: Mapping[str, str]) -> bytes:
    """CHAT_FANOUT_KEY, or a key derived from CHAT_JWT_SECRET (never the JWT key itself)."""
    explicit = env.get("CHAT_FANOUT_KEY", "")
    if explicit:
        if len(explicit.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"CHAT_FANOUT_KEY is shorter than {MIN_SECRET_BYTES} bytes")
        return explicit.encode()
    return hmac.new(_required(env, "CHAT_JWT_SECRET").encode(), b"chat fan-out v1", hashlib.sha256).digest()


def _secret(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name)
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(f"{name} is shorter than {MIN_SECRET_BYTES} bytes (use e.g. 'openssl rand -hex 32')")
    return value


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise SettingsError(f"{name} is not set")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r}: must be at least {minimum:g}")
    return value
