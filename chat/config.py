"""Settings from ``CHAT_*`` environment variables: parsed and validated once, frozen afterwards."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RELEASES", "Settings", "SettingsError"]

RELEASES = ("good", "bad-errors", "bad-latency", "bad-readiness")


class SettingsError(ValueError):
    """A ``CHAT_*`` variable has a value the service cannot use; the message names it."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a replica needs; ``from_env`` documents the variable behind each field."""

    database_url: str
    """CHAT_DATABASE_URL: libpq URL of the read-write PostgreSQL endpoint."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """CHAT_REDIS_URL: Redis used for pub/sub fan-out between replicas."""
    redis_channel: str = "chat:messages"
    """CHAT_REDIS_CHANNEL: pub/sub channel shared by the replicas of one deployment."""
    jwt_secret: str
    """CHAT_JWT_SECRET: HS256 key for bearer tokens."""
    issuer_secret: str
    """CHAT_ISSUER_SECRET: guards POST /auth/token (header X-Issuer-Secret)."""
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
    db_pool_max: int = 10
    """CHAT_DB_POOL_MAX: largest number of PostgreSQL connections of one replica."""
    readyz_requires_redis: bool = False
    """CHAT_READYZ_REQUIRES_REDIS: 1 makes /readyz fail (503) when Redis is unreachable too."""
    bad_error_share: float = 0.3
    """CHAT_BAD_ERROR_SHARE: share of sends failed with 500 by the bad-errors release."""
    bad_latency_ms: float = 300.0
    """CHAT_BAD_LATENCY_MS: latency added to each send by the bad-latency release."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``CHAT_*`` from ``env`` (default ``os.environ``); raise SettingsError naming a bad one."""
        e = os.environ if env is None else env
        rate = _float(e, "CHAT_RATE_LIMIT", 50.0, minimum=0.001)
        settings = cls(
            database_url=_required(e, "CHAT_DATABASE_URL"),
            redis_url=e.get("CHAT_REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_channel=e.get("CHAT_REDIS_CHANNEL") or "chat:messages",
            jwt_secret=_required(e, "CHAT_JWT_SECRET"),
            issuer_secret=_required(e, "CHAT_ISSUER_SECRET"),
            release=e.get("CHAT_RELEASE", "good") or "good",
            replica=e.get("CHAT_REPLICA") or socket.gethostname(),
            rate_limit=rate,
            rate_burst=_float(e, "CHAT_RATE_BURST", 2 * rate, minimum=1.0),
            max_body_bytes=int(_float(e, "CHAT_MAX_BODY_BYTES", 4096, minimum=1)),
            log_level=(e.get("CHAT_LOG_LEVEL") or "INFO").upper(),
            send_timeout_s=_float(e, "CHAT_SEND_TIMEOUT_S", 10.0, minimum=0.1),
            db_pool_max=int(_float(e, "CHAT_DB_POOL_MAX", 10, minimum=2)),
            readyz_requires_redis=e.get("CHAT_READYZ_REQUIRES_REDIS", "0") in ("1", "true", "yes"),
            bad_error_share=_float(e, "CHAT_BAD_ERROR_SHARE", 0.3, minimum=0.0),
            bad_latency_ms=_float(e, "CHAT_BAD_LATENCY_MS", 300.0, minimum=0.0),
        )
        if settings.release not in RELEASES:
            raise SettingsError(f"CHAT_RELEASE={settings.release!r}: expected one of {', '.join(RELEASES)}")
        if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"CHAT_LOG_LEVEL={settings.log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
        if settings.bad_error_share > 1:
            raise SettingsError(f"CHAT_BAD_ERROR_SHARE={settings.bad_error_share}: expected a share in [0, 1]")
        return settings


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
