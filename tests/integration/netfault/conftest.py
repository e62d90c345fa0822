"""Fixtures for the fault proxy: the real server as a child process, a TCP echo server, API helpers."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import toxiproxy

REPO = Path(__file__).resolve().parents[3]


@dataclass
class NetfaultProcess:
    """A running ``python -m resilience.netfault`` and its API URL."""

    proc: subprocess.Popen[str]
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def start_netfault(*args: str, max_fds: int | None = None) -> NetfaultProcess:
    """Start the server on a free API port; wait for its ``listening`` line (stop it with ``.stop()``).

    ``max_fds`` caps its open-files limit (soft and hard) to test running out of descriptors."""
    fd, name = tempfile.mkstemp(prefix="netfault-", suffix=".log")

    def limit() -> None:
        if max_fds is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))

    with os.fdopen(fd, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "resilience.netfault", "--host", "127.0.0.1", "--port", "0", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=limit if max_fds else None,  # noqa: PLW1509
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.wait(10)
        proc.stdout.close()
        raise RuntimeError(f"netfault did not start (exit {proc.returncode}): {line!r} {Path(name).read_text()}")
    port = int(line.rsplit(":", 1)[1])
    return NetfaultProcess(proc, "127.0.0.1", port, Path(name))


@pytest.fixture(scope="session")
def netfault_server() -> Iterator[NetfaultProcess]:
    """One fault proxy server for the session."""
    server = start_netfault()
    try:
        yield server
    finally:
        server.stop()
        server.log.unlink(missing_ok=True)


@pytest.fixture
def api(netfault_server: NetfaultProcess) -> Iterator[str]:
    """The API base URL of a server with no proxies; every proxy is deleted again afterwards."""
    _clear(netfault_server.url)
    try:
        yield netfault_server.url
    finally:
        _clear(netfault_server.url)


def _clear(url: str) -> None:
    for name in requests.get(f"{url}/proxies", timeout=10).json():
        requests.delete(f"{url}/proxies/{name}", timeout=10)


@pytest.fixture
def txp(api: str) -> toxiproxy.Toxiproxy:
    """toxiproxy-python's client pointed at the session server (its host/port are class-level)."""
    client = toxiproxy.Toxiproxy()
    host, port = api.removeprefix("http://").rsplit(":", 1)
    client.update_api_consumer(host, int(port))
    return client


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


class _Threaded(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


GREETING = b"hello from upstream\n" * 50
"""What the greeter server sends before closing (1,000 bytes)."""


class _GreetHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.request.sendall(GREETING)


@contextlib.contextmanager
def _serve(handler: type[socketserver.BaseRequestHandler]) -> Iterator[str]:
    server = _Threaded(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="session")
def echo_server() -> Iterator[str]:
    """A TCP echo server on a free loopback port (``host:port``)."""
    with _serve(_EchoHandler) as addr:
        yield addr


@pytest.fixture(scope="session")
def greeter_server() -> Iterator[str]:
    """A TCP server that sends ``GREETING`` and closes at once (``host:port``)."""
    with _serve(_GreetHandler) as addr:
        yield addr


def connect(listen: str, timeout: float = 10.0) -> socket.socket:
    """A client socket connected to ``listen`` (``host:port``) with a read timeout."""
    host, port = listen.rsplit(":", 1)
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes or fail (EOF raises)."""
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += part
    return bytes(buf)


def recv_until_eof(sock: socket.socket) -> bytes:
    """Everything until the peer closes (a reset raises ConnectionResetError)."""
    buf = bytearray()
    while part := sock.recv(65536):
        buf += part
    return bytes(buf)


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Send ``payload`` to an echo and return the seconds until it came back."""
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - start


def echo_stream(listen: str, payload: bytes, timeout: float = 30.0) -> float:
    """Stream ``payload`` through an echo behind ``listen`` (sending from a thread); seconds until all came back."""
    with connect(listen, timeout=timeout) as sock:
        start = time.monotonic()
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        try:
            assert recv_exactly(sock, len(payload)) == payload
            return time.monotonic() - start
        finally:
            sender.join(timeout)


def wait_for(condition: object, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition()`` until true or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
