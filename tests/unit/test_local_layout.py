"""The local stack's state directory: ports, secrets and recorded state."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from resilience.errors import ConfigError
from resilience.targets.local.layout import Secrets, StackState, scope_for

pytestmark = pytest.mark.unit


def test_secrets_file_is_private_and_stable(tmp_path: Path) -> None:
    """Secrets are created once with mode 0600 and read back unchanged."""
    path = tmp_path / "secrets.json"
    first = Secrets.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Secrets.load_or_create(path) == first
    assert len({first.superuser, first.issuer, first.jwt}) == 3


def test_state_round_trips_and_malformed_state_names_the_file(tmp_path: Path) -> None:
    """state.json round-trips; a malformed one is a ConfigError naming the file and the fix."""
    path = tmp_path / "state.json"
    state = StackState(replicas=2, ports={"etcd": 1}, scope="rs-x", supervisord_pid=42)
    state.save(path)
    assert StackState.load(path) == state
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"state\.json.*resilience down"):
        StackState.load(path)


def test_scope_is_derived_from_the_state_dir(tmp_path: Path) -> None:
    """Two state dirs give two scopes; the same dir always gives the same scope."""
    assert scope_for(tmp_path / "a") == scope_for(tmp_path / "a")
    assert scope_for(tmp_path / "a") != scope_for(tmp_path / "b")
