"""JWT bearer tokens (HS256, PyJWT): the development issuer and verification for REST and WebSocket."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

import jwt

__all__ = ["AuthError", "bearer_token", "issue_token", "issuer_secret_ok", "verify_token"]

ALGORITHM = "HS256"
MAX_TTL_S = 7 * 24 * 3600


class AuthError(Exception):
    """The request carries no valid token; the message says why (never the token itself)."""


ISSUER = "resilience-chat"
AUDIENCE = "chat"


def issue_token(
    secret: str,
    user: str,
    ttl_s: float,
    *,
    now: float | None = None,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
) -> tuple[str, int]:
    """A token for ``user`` valid ``ttl_s`` seconds, with ``iss`` and ``aud``; returns (token, expires_at)."""
    issued = int(now if now is not None else time.time())
    expires = issued + int(ttl_s)
    claims = {"sub": user, "iat": issued, "exp": expires, "iss": issuer, "aud": audience}
    token = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return token, expires


def verify_token(secret: str, token: str, *, issuer: str = ISSUER, audience: str = AUDIENCE) -> str:
    """The user named by a valid ``token``; AuthError when it is forged, expired, malformed, or issued by
    another issuer or for another audience."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    user = claims.get("sub")
    if not isinstance(user, str) or not user:
        raise AuthError("invalid token: no user")
    return user


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> str:
    """The token from ``Authorization: Bearer`` or, for WebSockets, the ``token`` query parameter."""
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if query is not None and query.get("token"):
        return query["token"]
    raise AuthError("missing bearer token")


def issuer_secret_ok(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
