"""Start and stop chat replicas as real processes (``python -m chat``): for tests and benchmarks.

Each replica is one child process on a loopback port, logging JSON lines to a file; ``stop()`` ends it by
its pid (SIGTERM, then SIGKILL after a grace period) and waits for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["ChatReplica", "issue_test_token"]


@dataclass
class ChatReplica:
    """One ``python -m chat`` process with ``env`` (CHAT_* variables) on ``port``."""

    env: dict[str, str]
    port: int
    log_path: Path
    host: str = "127.0.0.1"
    cwd: Path | None = None
    """Working directory: ``python -m chat`` imports the ``chat`` package found there first (a benchmark runs
    another commit's service from a git worktree this way); None: this process's directory."""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def start(self, *, wait_ready: bool = True, timeout: float = 30.0) -> ChatReplica:
        """Launch the process; wait for /healthz (and /readyz when ``wait_ready``)."""
        env = {**os.environ, **self.env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chat", "--host", self.host, "--port", str(self.port)],
                env=env,
                cwd=self.cwd,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.wait_for("/readyz" if wait_ready else "/healthz", timeout)
        return self

    def wait_for(self, path: str, timeout: float = 30.0) -> None:
        """Poll ``path`` until it answers 200; TimeoutError (with the log's tail) otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"chat replica exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.url + path, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url}{path} not 200 after {timeout} s: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by pid, SIGKILL after ``timeout``; always waits for the process."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def issue_test_token(base_url: str, issuer_secret: str, user: str, ttl_s: int = 3600) -> str:
    """A bearer token from the replica's development issuer."""
    r = httpx.post(
        f"{base_url}/auth/token",
        json={"user": user, "ttl_s": ttl_s},
        headers={"X-Issuer-Secret": issuer_secret},
        timeout=10.0,
    )
    r.raise_for_status()
    token: str = r.json()["token"]
    return token
