"""Load profiles as pure functions of time: ``tick(t) -> (users, spawn_rate) | None``.

These are what the Locust shapes (``resilience.load.shapes``) call once per second; keeping them free of
locust makes them unit-testable and usable by the harness (e.g. to draw the planned load). ``None``
means the profile is over. Options (``LoadParams.profile_options``), all optional:

* ``steady``: none - ``users`` from the start.
* ``ramp``: ``start_users`` (default 1), ``ramp_s`` (default: the whole duration) - linear growth.
* ``step``: ``steps`` (default 5), ``step_s`` (default duration / steps) - ``users/steps`` per step.
* ``spike``: ``base_users`` (default users / 5), ``spike_at_s`` (default duration / 3), ``spike_s``
  (default duration / 3), ``spike_spawn_rate`` (default: ``users`` per second) - a sudden surge.
* ``soak``: ``ramp_s`` (default 60) - ramp up, then hold ``users`` for a long ``duration_s``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["OPTIONS", "Profile", "ProfileSpec", "build_profile"]

Tick = tuple[int, float] | None

OPTIONS: dict[str, frozenset[str]] = {
    "steady": frozenset(),
    "ramp": frozenset({"start_users", "ramp_s"}),
    "step": frozenset({"steps", "step_s"}),
    "spike": frozenset({"base_users", "spike_at_s", "spike_s", "spike_spawn_rate"}),
    "soak": frozenset({"ramp_s"}),
}
"""Profile name -> the options it accepts."""


@dataclass(frozen=True)
class Profile:
    """A load profile bound to its parameters."""

    name: str
    duration_s: float | None
    users_at: Callable[[float], int]
    rate_at: Callable[[float], float]

    def tick(self, t: float) -> Tick:
        """Users and spawn rate wanted at ``t`` seconds into the run, or None when the run is over."""
        if self.duration_s is not None and t >= self.duration_s:
            return None
        return max(1, self.users_at(t)), self.rate_at(t)


def _opt(options: Mapping[str, float], name: str, default: float, *, minimum: float = 0.0) -> float:
    value = float(options.get(name, default))
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"profile_options.{name} must be a number >= {minimum:g} (got {value!r})")
    return value


def _span(duration_s: float | None, fallback: float) -> float:
    return duration_s if duration_s is not None else fallback


class ProfileSpec(Protocol):
    """What a profile is built from (``resilience.load.LoadParams`` is one)."""

    @property
    def profile(self) -> str: ...
    @property
    def profile_options(self) -> Mapping[str, float]: ...
    @property
    def users(self) -> int: ...
    @property
    def spawn_rate(self) -> float: ...
    @property
    def duration_s(self) -> float | None: ...


def build_profile(params: ProfileSpec) -> Profile:
    """The Profile for ``params.profile``; ValueError names a bad or unknown option."""
    opts = params.profile_options
    unknown = sorted(set(opts) - OPTIONS[params.profile])
    if unknown:
        allowed = ", ".join(sorted(OPTIONS[params.profile])) or "none"
        raise ValueError(f"profile_options.{unknown[0]} is not an option of {params.profile!r} (allowed: {allowed})")
    users, rate, duration = params.users, params.spawn_rate, params.duration_s

    def const_rate(_t: float) -> float:
        return rate

    if params.profile == "steady":
        return Profile("steady", duration, lambda _t: users, const_rate)
    if params.profile in ("ramp", "soak"):
        default_ramp = _span(duration, 60.0) if params.profile == "ramp" else 60.0
        start = _opt(opts, "start_users", 1, minimum=0) if params.profile == "ramp" else 1.0
        ramp_s = _opt(opts, "ramp_s", default_ramp, minimum=0.001)

        def ramp(t: float) -> int:
            return round(start + (users - start) * min(t / ramp_s, 1.0))

        return Profile(params.profile, duration, ramp, const_rate)
    if params.profile == "step":
        steps = int(_opt(opts, "steps", 5, minimum=1))
        step_s = _opt(opts, "step_s", _span(duration, 300.0) / steps, minimum=0.001)
        return Profile(
            "step", duration, lambda t: math.ceil(users * min(int(t // step_s) + 1, steps) / steps), const_rate
        )
    span = _span(duration, 180.0)
    base = _opt(opts, "base_users", max(1, users // 5), minimum=1)
    at = _opt(opts, "spike_at_s", span / 3)
    length = _opt(opts, "spike_s", span / 3, minimum=0.001)
    surge = _opt(opts, "spike_spawn_rate", float(users), minimum=0.001)

    def in_spike(t: float) -> bool:
        return at <= t < at + length

    return Profile(
        "spike",
        duration,
        lambda t: users if in_spike(t) else round(base),
        lambda t: surge if in_spike(t) or t >= at + length else rate,
    )
