"""Load parameters and profiles: validation with one-line errors, and each profile's users over time."""

from __future__ import annotations

import pytest

from resilience.errors import ConfigError
from resilience.load.params import LoadParams, LoadSpec, load_params
from resilience.load.profiles import build_profile

pytestmark = pytest.mark.unit


def test_defaults_and_room_layout() -> None:
    """Rooms default to ceil(users / room_size) and carry the run's unique prefix."""
    p = LoadParams(users=25, room_size=10, prefix="run1")
    assert p.room_count == 3
    assert p.room_name(2) == "run1-r2"
    assert LoadParams().prefix != LoadParams().prefix


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"users": 0}, "scenario.yaml:load: users: Input should be greater than or equal to 1 (got 0)"),
        ({"profile": "zigzag"}, "profile"),
        ({"think_time_s": "slow"}, "think_time_s"),
        ({"colour": "red"}, "colour"),
        ({"profile": "ramp", "profile_options": {"steps": 3}}, "profile_options.steps is not an option of 'ramp'"),
        ({"profile": "step", "profile_options": {"steps": -1}}, "profile_options.steps must be a number >= 1"),
    ],
)
def test_bad_params_give_one_line_config_error(data: dict[str, object], needle: str) -> None:
    """Every invalid field becomes a ConfigError whose single line names the source and the field."""
    with pytest.raises(ConfigError) as info:
        load_params(data, source="scenario.yaml:load")
    message = str(info.value)
    assert needle in message
    assert "\n" not in message
    assert message.startswith("scenario.yaml:load: ")


def test_spec_round_trips_through_json() -> None:
    """The spec file the locust processes read reproduces the parameters exactly."""
    spec = LoadSpec(
        params=LoadParams(profile="spike", users=40, prefix="p"),
        chat_url="http://127.0.0.1:1",
        events_dir="/e",
        ledger_dir="/l",
        workers=2,
    )
    assert LoadSpec.model_validate_json(spec.model_dump_json()) == spec


def _users(params: LoadParams, times: list[float]) -> list[int | None]:
    profile = build_profile(params)
    return [None if (tick := profile.tick(t)) is None else tick[0] for t in times]


def test_steady_holds_users_then_ends() -> None:
    """Steady: all users from the start; None once the duration is over."""
    assert _users(LoadParams(users=50, duration_s=10), [0, 5, 9.9, 10]) == [50, 50, 50, None]


def test_ramp_grows_linearly() -> None:
    """Ramp: from start_users to users over ramp_s, then flat."""
    p = LoadParams(profile="ramp", users=100, duration_s=100, profile_options={"start_users": 0, "ramp_s": 50})
    assert _users(p, [0, 25, 50, 75]) == [1, 50, 100, 100]


def test_step_adds_equal_steps() -> None:
    """Step: users/steps more every step_s."""
    p = LoadParams(profile="step", users=100, duration_s=40, profile_options={"steps": 4})
    assert _users(p, [0, 9.9, 10, 25, 39]) == [25, 25, 50, 75, 100]


def test_spike_surges_and_returns() -> None:
    """Spike: base users, all users during the spike window, base again after it, at the surge rate."""
    p = LoadParams(
        profile="spike",
        users=100,
        duration_s=30,
        spawn_rate=5,
        profile_options={"base_users": 10, "spike_at_s": 10, "spike_s": 5, "spike_spawn_rate": 50},
    )
    profile = build_profile(p)
    assert [profile.tick(t) for t in (0, 10, 14, 16)] == [(10, 5.0), (100, 50.0), (100, 50.0), (10, 50.0)]


def test_soak_without_duration_runs_until_stopped() -> None:
    """Soak with no duration ramps over ramp_s and then never ends by itself."""
    p = LoadParams(profile="soak", users=60, duration_s=None, profile_options={"ramp_s": 60})
    assert _users(p, [0, 30, 60, 86_400]) == [1, 30, 60, 60]
