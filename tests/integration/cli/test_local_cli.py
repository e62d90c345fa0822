"""`resilience up/status/down` on the local target without a running stack, as a child process: one-line errors,
exit codes; and the free-port allocation (it binds sockets on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilience.targets.local.layout import StackState, allocate_ports, port_names
from tests.support.cli import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def state_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="resilience-cli-", dir="/tmp"))
    os.chmod(d, 0o711)  # noqa: S103 - the postgres user must traverse it
    try:
        yield d / "state"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_status_json_of_a_stopped_stack_says_not_running(state_dir: Path) -> None:
    """`status --json` with nothing running prints running=false and exits 2."""
    r = run_cli("status", "--json", "--state-dir", str(state_dir))
    assert r.returncode == 2
    assert json.loads(r.stdout) == {
        "target": "local",
        "healthy": False,
        "running": False,
        "components": [],
        "endpoints": None,
    }


def test_status_of_a_crashed_run_names_the_stale_state(state_dir: Path) -> None:
    """A state file whose supervisord is gone is reported as stale state in one line, exit 2."""
    state_dir.mkdir(parents=True)
    StackState(replicas=1, ports={}, scope="rs-x", supervisord_pid=2**22 - 7).save(state_dir / "state.json")
    r = run_cli("status", "--state-dir", str(state_dir))
    assert r.returncode == 2
    assert r.stderr.startswith("error: stale state in ") and "resilience down" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_down_cleans_a_crashed_run_and_a_malformed_state_file(state_dir: Path) -> None:
    """`down` on a malformed state file cleans up and says nothing was running."""
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_text("{broken")
    r = run_cli("down", "--state-dir", str(state_dir))
    assert r.returncode == 0, r.stderr
    assert "nothing was running" in r.stdout
    assert not (state_dir / "state.json").exists()


def test_up_refuses_a_state_dir_the_postgres_user_cannot_reach(state_dir: Path) -> None:
    """A state dir below a 0700 directory fails before anything starts, naming the blocking directory."""
    os.chmod(state_dir.parent, 0o700)
    r = run_cli("up", "--state-dir", str(state_dir))
    assert r.returncode == 2
    assert f"{state_dir.parent} is not searchable" in r.stderr
    assert "Traceback" not in r.stderr
    assert not state_dir.exists()


def test_up_on_a_taken_port_fails_in_one_line_before_starting_anything(state_dir: Path) -> None:
    """`up --port redis=P` with P in use: exit 2, 'port P (redis) is taken', no process started."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli("up", "--state-dir", str(state_dir), "--port", f"redis={port}")
    assert r.returncode == 2
    assert r.stderr == f"error: port {port} (redis) is taken by another process: Address already in use\n"
    assert not (state_dir / "state.json").exists()


@pytest.mark.parametrize(("spec", "needle"), [("nope=5000", "unknown port name 'nope'"), ("redis", "NAME=PORT")])
def test_up_rejects_bad_port_pins_as_invalid_input(state_dir: Path, spec: str, needle: str) -> None:
    """A malformed or unknown --port is invalid input: exit 3, one line."""
    r = run_cli("up", "--state-dir", str(state_dir), "--port", spec)
    assert r.returncode == 3
    assert needle in r.stderr and r.stderr.count("\n") == 1


def test_allocated_ports_are_distinct_and_cover_every_name() -> None:
    """One distinct port per component port name, replicas included."""
    names = port_names(4)
    ports = allocate_ports(names)
    assert set(ports) == set(names)
    assert len(set(ports.values())) == len(names)
    assert {"chat-4", "pg-3-api", "proxy-postgres", "haproxy-rw"} <= set(names)


@pytest.mark.parametrize("argv", [("down", "--purge"), ("down",), ("up",)])
def test_up_and_down_refuse_a_folder_they_did_not_create(state_dir: Path, argv: tuple[str, ...]) -> None:
    """`down --purge`, `down` and `up` pointed at a user's folder refuse in one line (exit 3) and change nothing."""
    state_dir.mkdir()
    os.chmod(state_dir, 0o700)
    (state_dir / "thesis.tex").write_text("years of work")
    r = run_cli(*argv, "--state-dir", str(state_dir))
    assert r.returncode == 3, r.stderr
    assert "did not create" in r.stderr and "'thesis.tex'" in r.stderr and r.stderr.count("\n") == 1
    assert sorted(p.name for p in state_dir.iterdir()) == ["thesis.tex"]
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_down_purge_refuses_home_even_when_marked(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`down --purge` never accepts $HOME as a state dir, marker or not. (HOME is a temp folder here: this test
    must stay harmless on a build without the guard; `/` and the checkout are covered by the unit tests.)"""
    home = state_dir.parent / "home"
    home.mkdir()
    (home / ".resilience-state").write_text("")
    (home / ".bashrc").write_text("# mine")
    monkeypatch.setenv("HOME", str(home))
    r = run_cli("down", "--purge", "--state-dir", str(home))
    assert r.returncode == 3, r.stderr
    assert "refusing to use" in r.stderr and r.stderr.count("\n") == 1
    assert (home / ".bashrc").read_text() == "# mine"


def test_down_purge_deletes_a_state_dir_up_marked(state_dir: Path) -> None:
    """A state dir holding the marker (and a legacy one holding only layout names) is purged."""
    state_dir.mkdir()
    (state_dir / ".resilience-state").write_text("")
    (state_dir / "notes.txt").write_text("made inside a state dir")
    r = run_cli("down", "--purge", "--state-dir", str(state_dir))
    assert r.returncode == 0, r.stderr
    assert not state_dir.exists()
