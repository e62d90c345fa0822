"""Load parameters: one frozen, validated model shared by scenario files, the CLI and the locustfile.

The harness writes them as JSON (``LoadParams.model_dump_json``) into the run folder; the locust
processes read that file (path in ``$RESILIENCE_LOAD_SPEC``). Secrets never go into this file.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from resilience.errors import ConfigError
from resilience.load.profiles import build_profile

__all__ = [
    "PROFILES",
    "RAMP_SHARE",
    "LoadParams",
    "LoadSpec",
    "default_spawn_rate",
    "load_params",
    "read_params_file",
]

PROFILES = ("steady", "ramp", "step", "spike", "soak")
"""Load profile names (Locust shapes in ``resilience.load.shapes``)."""

Profile = Literal["steady", "ramp", "step", "spike", "soak"]


def _prefix() -> str:
    return "lt" + secrets.token_hex(3)


class LoadParams(BaseModel):
    """What load to drive. Every field has a default; scenario files override any of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: Profile = "steady"
    """Load shape over time: ``steady``, ``ramp``, ``step``, ``spike`` or ``soak``."""
    users: int = Field(default=10, ge=1, le=100_000)
    """Peak number of concurrent chat users (each one WebSocket connection)."""
    spawn_rate: float = Field(default=10.0, gt=0)
    """Users started (or stopped) per second; when not given, ``default_spawn_rate``: the users are all
    started within ``RAMP_SHARE`` of the duration."""
    rooms: int | None = Field(default=None, ge=1)
    """Number of rooms; default ``ceil(users / room_size)``."""
    room_size: int = Field(default=10, ge=1)
    """Users per room (consecutive users share a room)."""
    think_time_s: float = Field(default=5.0, gt=0)
    """Mean pause between a user's actions (uniform in [0.5, 1.5] x this)."""
    message_bytes: int = Field(default=100, ge=24, le=1_000_000)
    """Message body size in bytes (the body starts with the send timestamp)."""
    duration_s: float | None = Field(default=60.0, gt=0)
    """How long the profile runs; ``None`` runs until stopped."""
    rest_share: float = Field(default=0.1, ge=0, le=1)
    """Fraction of actions done over REST (half sends, half history reads); the rest are WS sends."""
    ack_timeout_s: float = Field(default=10.0, gt=0)
    """A send without ack after this long counts as a timeout; the client reconnects and resends."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """Timeout of one WebSocket handshake or REST request."""
    max_send_attempts: int = Field(default=3, ge=1)
    """Attempts per message (resends after reconnect use the same client id); then indeterminate."""
    profile_options: dict[str, float] = Field(default_factory=dict)
    """Shape-specific knobs, e.g. ``ramp: start_users, ramp_s``; see ``resilience.load.profiles``."""
    prefix: str = Field(default_factory=_prefix, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    """Prefix of room and user names, unique per run so runs never share rooms."""
    report_deliveries: bool = True
    """Also report each delivery to Locust's statistics (costs client CPU at very high fan-out)."""

    @model_validator(mode="before")
    @classmethod
    def _default_spawn_rate(cls, data: Any) -> Any:
        """No ``spawn_rate`` given: start every user within ``RAMP_SHARE`` of the duration."""
        if isinstance(data, Mapping) and data.get("spawn_rate") is None:
            users, duration = data.get("users", 10), data.get("duration_s", 60.0)
            if isinstance(users, int) and (duration is None or isinstance(duration, int | float)):
                return {**data, "spawn_rate": default_spawn_rate(users, duration)}
        return data

    def __init__(self, **data: Any) -> None:
        """Validate keyword arguments; a bad value is one ConfigError line naming the field."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _config_error(exc, "load") from None

    @model_validator(mode="after")
    def _check_profile_options(self) -> LoadParams:
        build_profile(self)  # raises ValueError naming the option
        return self

    @property
    def room_count(self) -> int:
        """Rooms actually used."""
        return self.rooms if self.rooms is not None else max(1, math.ceil(self.users / self.room_size))

    def room_name(self, index: int) -> str:
        """Name of room ``index`` (0-based)."""
        return f"{self.prefix}-r{index}"


RAMP_SHARE = 0.75
"""Without an explicit spawn rate, every user is started within this share of the load's duration. Not
sooner: an arriving user costs the local stack ~16 ms of CPU (token, handshake, join, first send: chat 8,
PostgreSQL 4.5, HAProxy 2.1 ms, measured), so 10,000 users in 90 s (111/s) would need 1.7 of this box's 2
cores; in 135 s (74/s) they need ~1.2 and leave room for the generator."""

MIN_SPAWN_RATE = 10.0


def default_spawn_rate(users: int, duration_s: float | None) -> float:
    """Users per second that start ``users`` within ``RAMP_SHARE`` of ``duration_s`` (a run without end:
    of a minute); at least ``MIN_SPAWN_RATE``."""
    horizon = RAMP_SHARE * (duration_s if duration_s and duration_s > 0 else 240.0)
    return round(max(MIN_SPAWN_RATE, users / horizon), 1)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "load"


class _ParamsError(ConfigError):
    """A bad load parameter; ``detail`` names the field, the source is prefixed by whoever knows it."""

    def __init__(self, detail: str, source: str = "load") -> None:
        super().__init__(f"{source}: {detail}")
        self.detail = detail


def _config_error(exc: ValidationError, source: str) -> _ParamsError:
    err = exc.errors()[0]
    if not err["loc"]:  # a model-level check: the message names the field itself
        return _ParamsError(err["msg"].removeprefix("Value error, "), source)
    value = err.get("input")
    shown = "" if isinstance(value, Mapping) else f" (got {value!r})"
    return _ParamsError(f"{_where(err['loc'])}: {err['msg']}{shown}", source)


def load_params(data: Mapping[str, Any], *, source: str = "load") -> LoadParams:
    """Validate ``data`` into LoadParams; errors become one ConfigError line naming source and field."""
    try:
        return LoadParams.model_validate(dict(data))
    except _ParamsError as exc:
        raise _ParamsError(exc.detail, source) from None
    except ValidationError as exc:
        raise _config_error(exc, source) from None


def read_params_file(path: Path) -> LoadParams:
    """LoadParams from a JSON file (what the locust processes do)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read load parameters: {exc}") from None
    return load_params(data, source=str(path))


class LoadSpec(BaseModel):
    """Everything a locust process needs besides the issuer secret (which comes in the environment)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    params: LoadParams
    chat_url: str
    spread_urls: list[str] = Field(default_factory=list)
    """More base URLs of the same service (e.g. each replica); users go round-robin over chat_url + these."""
    events_dir: str
    ledger_dir: str
    workers: int = 1
    """Processes that run users (1 when not distributed): spreads user indexes over rooms."""
    generator_dir: str | None = None
    """Where each locust process writes its health samples (``resilience.load.health``); None: not sampled."""

    @property
    def urls(self) -> list[str]:
        """Every base URL users connect to."""
        return [self.chat_url, *self.spread_urls]
