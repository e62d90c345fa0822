"""Real PostgreSQL and Redis servers for integration tests.

Each server runs from the Debian binaries on a free loopback port with a temporary data directory,
as a child process whose pid we keep; ``stop()`` stops it by that pid and waits. PostgreSQL runs as the
``postgres`` user (initdb refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from resilience.targets.local.configs import redis_args

__all__ = ["PostgresServer", "RedisServer", "free_port", "wait_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.02)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL binary {name} not found: run `make setup` (Debian package postgresql)")
    return found[-1]


def _as_postgres() -> dict[str, object]:
    if os.getuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def _stop_pid(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster: ``start()``, ``dsn()``, ``create_database()``, ``stop()``."""

    port: int = field(default_factory=free_port)
    datadir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    password: str = "test-password"

    def start(self) -> PostgresServer:
        if self.datadir is None:
            self.datadir = Path(tempfile.mkdtemp(prefix="resilience-pg-"))
            if os.getuid() == 0:
                pw = pwd.getpwnam("postgres")
                os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
            pwfile = self.datadir.parent / f"{self.datadir.name}.pw"
            pwfile.write_text(self.password)
            if os.getuid() == 0:
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            subprocess.run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.datadir / "data"),
                    "-U",
                    "postgres",
                    "-A",
                    "md5",
                    f"--pwfile={pwfile}",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ],
                check=True,
                capture_output=True,
                **_as_postgres(),  # type: ignore[arg-type]
            )
            pwfile.unlink()
        self._launch()
        return self

    def _launch(self) -> None:
        assert self.datadir is not None
        log = (self.datadir / "postgres.log").open("ab")
        self.proc = subprocess.Popen(
            [
                _pg_bin("postgres"),
                "-D",
                str(self.datadir / "data"),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.datadir}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=300",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
            **_as_postgres(),  # type: ignore[arg-type]
        )
        log.close()
        wait_port(self.port, 30)
        # accepting TCP is not accepting queries: wait for recovery to finish
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run([_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres on {self.port} not ready: see {self.datadir}/postgres.log")
            time.sleep(0.05)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its DSN."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        """Fast shutdown by pid (SIGINT), then remove the data directory."""
        if self.proc is not None:
            _stop_pid(self.proc, signal.SIGINT)
            self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and data (for outage tests)."""
        self.stop()
        self._launch()

    def cleanup(self) -> None:
        self.stop()
        if self.datadir is not None:
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir = None


@dataclass
class RedisServer:
    """A throw-away Redis without persistence."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server not found: run `make setup` (Debian package redis-server)")
        self.proc = subprocess.Popen(
            [binary, *redis_args(self.port, protected=False)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_port(self.port, 10)
        return self

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc is not None:
            _stop_pid(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
