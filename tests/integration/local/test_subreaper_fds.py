"""supervisord, launched through the subreaper, inherits no descriptor of whoever started it: a stack brought
up under ``flock LOCK resilience up`` must not keep LOCK held until ``resilience down``."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CONF = """[unix_http_server]
file={d}/supervisor.sock

[supervisord]
nodaemon=true
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""


def test_supervisord_does_not_inherit_the_callers_lock(tmp_path: Path) -> None:
    """A lock file held (flock) by the caller and open in supervisord's parent is not among supervisord's
    descriptors, so the lock is free once the caller exits."""
    (tmp_path / "supervisord.conf").write_text(CONF.format(d=tmp_path))
    lock = tmp_path / "heavy.lock"
    fd = os.open(lock, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    proc = subprocess.Popen(
        [sys.executable, "-m", "resilience.targets.local.subreaper", str(tmp_path / "supervisord.conf")],
        pass_fds=(fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "supervisor.sock").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "supervisord did not start"
            time.sleep(0.05)
        held = [os.readlink(f"/proc/{proc.pid}/fd/{n}") for n in os.listdir(f"/proc/{proc.pid}/fd")]
        assert str(lock) not in held
        os.close(fd)  # the caller is done: nobody else may hold the lock now
        other = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    finally:
        proc.terminate()
        proc.wait(10)
