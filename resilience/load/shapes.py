"""Locust load shapes for the profiles in ``resilience.load.profiles`` (locust processes only).

Each profile is a ``LoadTestShape`` class parametrised by the run's LoadParams (read from
``$RESILIENCE_LOAD_SPEC``). The locustfile binds exactly one of them, ``SHAPES[params.profile]``, so
Locust sees a single shape class.
"""

from __future__ import annotations

from typing import ClassVar

from locust import LoadTestShape

from resilience.load.params import LoadParams
from resilience.load.profiles import Profile, build_profile

__all__ = ["SHAPES", "ProfileShape", "RampShape", "SoakShape", "SpikeShape", "SteadyShape", "StepShape"]


class ProfileShape(LoadTestShape):
    """A shape that follows a pure Profile; subclasses name the profile."""

    abstract: ClassVar[bool] = True
    profile_name: ClassVar[str] = "steady"
    params: ClassVar[LoadParams | None] = None
    """Set by the locustfile before Locust instantiates the shape."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        params = self.params if self.params is not None else LoadParams()
        self._profile: Profile = build_profile(params.model_copy(update={"profile": self.profile_name}))

    def tick(self) -> tuple[int, float] | None:
        return self._profile.tick(self.get_run_time())  # type: ignore[no-untyped-call]


class SteadyShape(ProfileShape):
    """``users`` from the start for ``duration_s``."""

    profile_name = "steady"


class RampShape(ProfileShape):
    """Linear growth from ``start_users`` to ``users`` over ``ramp_s``."""

    profile_name = "ramp"


class StepShape(ProfileShape):
    """``users/steps`` more users every ``step_s``."""

    profile_name = "step"


class SpikeShape(ProfileShape):
    """``base_users``, a surge to ``users`` at ``spike_at_s`` for ``spike_s``, back to base."""

    profile_name = "spike"


class SoakShape(ProfileShape):
    """Ramp up over ``ramp_s``, then hold ``users`` for a long ``duration_s``."""

    profile_name = "soak"


SHAPES: dict[str, type[ProfileShape]] = {
    cls.profile_name: cls for cls in (SteadyShape, RampShape, StepShape, SpikeShape, SoakShape)
}
"""Profile name -> its shape class."""
