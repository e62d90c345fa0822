"""The local stack's state directory: ports, secrets and recorded state."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from resilience.errors import ConfigError
from resilience.targets.local.layout import Secrets, StackState, scope_for, write_secret_file

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


def test_secrets_never_show_in_repr_and_old_files_gain_new_fields(tmp_path: Path) -> None:
    """repr(Secrets) holds no value; a secrets file without the redis password gets one and keeps the rest."""
    path = tmp_path / "secrets.json"
    old = {f: f"value-of-{f}" for f in ("superuser", "replication", "chat_db", "patroni_api", "jwt", "issuer")}
    path.write_text(json.dumps(old))
    loaded = Secrets.load_or_create(path)
    assert loaded.jwt == "value-of-jwt" and len(loaded.redis) >= 24
    assert "value-of" not in repr(loaded) and loaded.redis not in repr(loaded)
    assert Secrets.load_or_create(path) == loaded


def test_secret_files_are_never_written_through_a_symlink(tmp_path: Path) -> None:
    """A symlink planted where a secret file goes is replaced, and its target is left untouched."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "secrets.json"
    link.symlink_to(victim)
    write_secret_file(link, "s3cret")
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and link.read_text() == "s3cret"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
