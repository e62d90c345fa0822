"""Preflight checks of the local target: paths the postgres user must reach."""
# ruff: noqa: S103 - the tests set permissive modes on purpose

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilience.errors import TargetError
from resilience.targets.local import preflight
from resilience.targets.local.preflight import blocked_ancestor

pytestmark = pytest.mark.unit

NOBODY = 65534


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp dir under /tmp whose ancestors others may search (pytest's tmp_path sits in a 0700 dir)."""
    d = Path(tempfile.mkdtemp(prefix="resilience-preflight-", dir="/tmp"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_a_directory_without_search_permission_for_others_blocks(open_tmp: Path) -> None:
    """A 0700 directory on the way is reported; opening it to others (0711) clears it."""
    locked = open_tmp / "home"
    target = locked / "repo" / ".venv"
    target.mkdir(parents=True)
    os.chmod(locked, 0o700)
    assert blocked_ancestor(target, NOBODY, frozenset({NOBODY})) == locked
    os.chmod(locked, 0o711)
    assert blocked_ancestor(target, NOBODY, frozenset({NOBODY})) is None


def test_group_permission_counts_for_group_members(open_tmp: Path) -> None:
    """A 0710 directory is reachable for a member of its group, not for others."""
    d = open_tmp / "shared"
    d.mkdir()
    os.chmod(d, 0o710)
    gid = d.stat().st_gid
    assert blocked_ancestor(d, NOBODY, frozenset({gid})) is None
    assert blocked_ancestor(d, NOBODY, frozenset({NOBODY})) == d


def test_missing_paths_are_not_blocked(open_tmp: Path) -> None:
    """A path that does not exist yet (the state dir before up) is not reported."""
    assert blocked_ancestor(open_tmp / "not" / "yet", NOBODY, frozenset()) is None


def test_a_missing_server_binary_names_its_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without etcd on any path, preflight says which Debian package to install, in one line."""
    monkeypatch.setattr(preflight.shutil, "which", lambda name, path=None: None if name == "etcd" else "/bin/true")
    with pytest.raises(TargetError, match="Debian package etcd-server is missing") as info:
        preflight.find_binaries()
    assert "\n" not in str(info.value)
