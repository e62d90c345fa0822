"""A real local stack for tests: a temp state dir the ``postgres`` user can traverse, always torn down.

    with running_local_stack(replicas=2) as target:   # in a module-scoped fixture
        ...

pytest's own tmp dirs live under a 0700 directory, which PostgreSQL (running as ``postgres``) cannot reach,
so the state dir is made under /tmp with mode 0711.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg

from resilience.targets.local import LocalTarget
from resilience.targets.local.layout import Secrets, StackState

__all__ = [
    "SHARED_STACK_GROUP",
    "SHARED_STACK_MODULES",
    "busy_backend",
    "local_state_root",
    "running_local_stack",
    "save_logs",
]

SHARED_STACK_GROUP = "local-stack"
SHARED_STACK_MODULES = frozenset(
    {
        "tests/e2e/test_interrupt_matrix.py",
        "tests/integration/test_cleanup_local.py",
        "tests/integration/test_load_local.py",
        "tests/integration/test_deploys_local.py",
    }
)
"""The modules that use the session's ``local_stack`` fixture (tests/conftest.py): under xdist they form one
work unit, so one worker runs them all after one bring-up. A module added here must leave the stack healthy."""

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextmanager
def local_state_root(prefix: str = "resilience-local-") -> Iterator[Path]:
    """A fresh directory under /tmp (mode 0711) for a state dir; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(root, 0o711)  # noqa: S103 - the postgres user must traverse it
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def running_local_stack(replicas: int = 3, prefix: str = "resilience-local-") -> Iterator[LocalTarget]:
    """``LocalTarget.up()`` in a temp state dir; ``down(purge=True)`` on the way out, even after a failure."""
    with local_state_root(prefix) as root:
        target = LocalTarget(state_dir=root / "state", replicas=replicas)
        try:
            target.up()
            yield target
        finally:
            target.down(purge=True)


def keep_artifacts(name: str, folders: dict[str, Path]) -> Path:
    """Copy each existing folder to ``test-artifacts/<name>-<time>/<key>/`` (git-ignored; key "" copies into
    the top) before a purge deletes it; return that directory."""
    dest = ARTIFACTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}"
    for key, src in folders.items():
        if src.is_dir():
            shutil.copytree(src, dest / key, dirs_exist_ok=True)
    return dest


def save_logs(target: LocalTarget, name: str) -> Path:
    """Keep the stack's logs in ``test-artifacts/<name>-<time>/`` before a purge deletes them."""
    return keep_artifacts(name, {"": target.layout.logs})


@contextmanager
def busy_backend(target: LocalTarget, node: str, timeout: float = 10.0) -> Iterator[int]:
    """A backend of ``node`` busy in an endless PL/pgSQL loop (yields its pid): a child that never waits
    on its latch, so it does not notice a dead postmaster and outlives it holding the shared memory."""
    port = StackState.load(target.layout.state_file).ports[node]
    password = Secrets.load_or_create(target.layout.secrets_file).superuser
    conn = psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", password=password, dbname="postgres", autocommit=True
    )
    pid = conn.info.backend_pid

    def loop() -> None:
        with contextlib.suppress(psycopg.Error):
            conn.execute("DO $$ BEGIN LOOP END LOOP; END $$")

    thread = threading.Thread(target=loop, name=f"busy-{node}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while "DO" not in " ".join(psutil.Process(pid).cmdline()):  # its process title shows the statement
        if time.monotonic() > deadline:
            raise TimeoutError(f"backend {pid} of {node} did not start its loop in {timeout} s")
        time.sleep(0.05)
    try:
        yield pid
    finally:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()  # still running if the test failed before the crash
        conn.close()
        thread.join(10)
