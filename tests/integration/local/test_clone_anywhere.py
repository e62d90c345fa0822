"""A checkout under a mode-0700 directory (root's home is 0700: ``git clone`` into ``~``) runs the stack.

The checkout is the working tree's tracked files (what a clone holds, with the changes under test) in a
fresh ``mkdtemp`` directory (0700), and its venv is this venv hard-linked there (``cp -al``: same files,
seconds instead of a ``make setup``) -- so the interpreter's prefix, the code and the default state dir
are all where the ``postgres`` user cannot go. ``up`` must put what Patroni and PostgreSQL need where
they can read it: Patroni's runtime under /var/lib/resilience/runtime, the state dir under
/var/lib/resilience/state.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def checkout() -> Iterator[Path]:
    """The files of this working tree that git does not ignore, plus a hard-linked venv, in a 0700 temp dir."""
    home = Path(tempfile.mkdtemp(prefix="resilience-home-", dir="/tmp"))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    dest = home / "resilience"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(name))
    subprocess.run(["cp", "-al", sys.prefix, str(dest / ".venv")], check=True, timeout=120)
    try:
        yield dest
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(checkout: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RESILIENCE_STATE_DIR", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(checkout)  # the checkout's code, ahead of this venv's editable install
    python = str(checkout / ".venv" / "bin" / "python")
    return subprocess.run([python, *argv], cwd=checkout, env=env, capture_output=True, text=True, timeout=240)


def test_up_and_down_from_a_checkout_under_a_0700_home(checkout: Path) -> None:
    """`resilience up` from the checkout (default state dir) gets healthy with the state dir and Patroni's
    runtime outside the checkout; `down --purge` stops everything and removes the state dir."""
    where = _run(checkout, "-c", "from resilience.targets.local.layout import default_state_dir as d; print(d())")
    assert where.returncode == 0, where.stderr
    state_dir = Path(where.stdout.strip())
    assert state_dir.parent == Path("/var/lib/resilience/state")
    try:
        up = _run(checkout, "-m", "resilience", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        status = _run(checkout, "-m", "resilience", "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["healthy"] is True, status.stdout
        patroni = (state_dir / "supervisord.conf").read_text().split("[program:pg-1]")[1].split("[program:")[0]
        assert 'PYTHONPATH="/var/lib/resilience/runtime/' in patroni and str(checkout) not in patroni
    finally:
        down = _run(checkout, "-m", "resilience", "down", "--purge")
    assert down.returncode == 0, down.stderr
    assert not state_dir.exists()
