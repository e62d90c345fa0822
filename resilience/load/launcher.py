"""Start and stop Locust as its own processes (the harness never imports locust).

``start_load`` checks the target first (health, token, one WebSocket handshake) so a dead target, a
wrong issuer secret or a broken route fails in seconds with one line, then launches
``python -m locust -f resilience/load/locustfile.py`` headless - or a master and N workers with
``workers=N`` (Locust's own distributed engine, the same way it runs in a cluster).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from resilience.errors import ConfigError, LoadError
from resilience.load.params import LoadParams, LoadSpec

__all__ = [
    "LOCUSTFILE",
    "USERS_PER_WORKER",
    "LoadProcess",
    "default_workers",
    "ephemeral_ports",
    "port_warning",
    "preflight",
    "start_load",
]

log = logging.getLogger(__name__)

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
"""The locustfile every load process runs."""

USERS_PER_WORKER = 2000
"""Users one Locust process runs when the worker count is chosen for you. Each user holds one WebSocket
and, while it fetches a token, one HTTP connection: 2,000 users stay far below the 20,000 open files every
process may have, and the spawn burst (a token request and a handshake per user) of 2,000 users keeps one
gevent loop responsive."""


PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_ports(path: Path = PORT_RANGE_FILE) -> int | None:
    """How many ephemeral ports the kernel hands out per destination (32768-60999: 28,232); None unknown."""
    try:
        low, high = (int(v) for v in path.read_text().split())
    except (OSError, ValueError):
        return None
    return high - low + 1


def port_warning(users: int, ports: int | None) -> str:
    """A warning when ``users`` WebSockets plus their token requests (closed ones wait in TIME_WAIT) may
    exhaust the ephemeral ports towards one chat address; empty when they fit."""
    if ports is None or 2 * users <= ports:
        return ""
    return (
        f"{users} users need up to {2 * users} connections to one chat address (a WebSocket and a token request "
        f"each) but the kernel has {ports} ephemeral ports (ip_local_port_range): connects may fail with "
        "EADDRNOTAVAIL; spread the users over several chat addresses or widen the range"
    )


def default_workers(users: int) -> int:
    """Worker processes for ``users``: 0 (one standalone process) up to ``USERS_PER_WORKER``, else enough
    workers of at most ``USERS_PER_WORKER`` users each."""
    return 0 if users <= USERS_PER_WORKER else math.ceil(users / USERS_PER_WORKER)


@dataclass
class LoadProcess:
    """A running load: the Locust master (or the single process) and its workers."""

    out_dir: Path
    events_dir: Path
    ledger_dir: Path
    generator_dir: Path | None = None
    """Each Locust process's health samples (``resilience.analysis.generator.read_generator``)."""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    """Master (or single process) first, then workers."""
    started: float = field(default_factory=time.time)
    returncode: int | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def alive(self) -> bool:
        """Whether the master (or single) process still runs."""
        return bool(self.procs) and self.procs[0].poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the profile ends by itself (or ``timeout``); the master's exit code, or None."""
        try:
            code = self.procs[0].wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reap_workers(10.0)
        self.returncode = code
        return code

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop gracefully (users stop, files are flushed), then hard after ``timeout``. Idempotent.

        SIGINT, not SIGTERM: a headless Locust running a shape installs its SIGTERM handler only after the
        shape ends, so SIGTERM kills it on the spot; SIGINT is handled in every phase (and on workers).
        """
        master = self.procs[0] if self.procs else None
        if master is not None and master.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                master.send_signal(signal.SIGINT)
            try:
                master.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("locust master %d ignored SIGINT for %.0f s: killing it", master.pid, timeout)
                master.kill()
                master.wait(5)
        self._reap_workers(min(timeout, 15.0))
        if master is not None:
            self.returncode = master.returncode
        return self.returncode

    def _reap_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc in self.procs[1:]:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    def __enter__(self) -> LoadProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _reason(exc: BaseException) -> str:
    """The useful part of a requests/socket error: ``Connection refused`` rather than a pool repr."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    return type(exc).__name__


def _check_url(chat_url: str) -> str:
    parsed = urlparse(chat_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"chat URL {chat_url!r}: expected http(s)://host:port")
    return chat_url.rstrip("/")


def preflight(chat_url: str, issuer_secret: str, *, timeout: float = 5.0, room: str = "preflight") -> None:
    """Check the chat service answers, accepts the issuer secret and opens a WebSocket; LoadError if not."""
    import requests  # noqa: PLC0415 - gevent/websocket stay out of the harness until a preflight runs
    import websocket  # noqa: PLC0415 - gevent/websocket stay out of the harness until a preflight runs

    from resilience.load.chatclient import ws_url  # noqa: PLC0415 - gevent/websocket stay out of the harness until a preflight runs

    url = _check_url(chat_url)
    try:
        health = requests.get(f"{url}/healthz", timeout=timeout)
        if health.status_code != 200:
            raise LoadError(f"chat service at {url} is not healthy: /healthz answered {health.status_code}")
        resp = requests.post(
            f"{url}/auth/token",
            json={"user": "resilience-preflight", "ttl_s": 300},
            headers={"X-Issuer-Secret": issuer_secret},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise LoadError(f"chat service at {url} is unreachable: {_reason(exc)}") from None
    if resp.status_code in (401, 403):
        raise LoadError(f"chat service at {url} rejected the issuer secret (POST /auth/token -> {resp.status_code})")
    try:
        token = resp.json()["token"]
    except (ValueError, KeyError, TypeError):
        raise LoadError(f"chat service at {url}: POST /auth/token -> {resp.status_code}, no token") from None
    try:
        ws = websocket.create_connection(
            ws_url(url, room, None), timeout=timeout, header=[f"Authorization: Bearer {token}"]
        )
        try:
            deadline = time.monotonic() + timeout
            while json.loads(ws.recv()).get("type") != "ready":
                if time.monotonic() > deadline:
                    raise LoadError(f"chat service at {url}: no 'ready' on /ws within {timeout:g} s")
        finally:
            ws.close(timeout=1)
    except (websocket.WebSocketException, OSError, ValueError) as exc:
        why = _reason(exc) if isinstance(exc, OSError) else str(exc)
        raise LoadError(f"chat service at {url}: WebSocket /ws failed: {why}") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _launch(argv: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with out.open("ab") as sink:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=out.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _argv(
    spec: LoadSpec, out_dir: Path, *, workers: int, web_port: int | None, startup_timeout: float, log_level: str
) -> tuple[list[str], list[list[str]]]:
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", log_level, "--exit-code-on-error", "0"]
    master = [*base, "-H", spec.chat_url, "--logfile", str(out_dir / "locust-master.log")]
    if web_port is None:
        master += ["--headless", "--only-summary"]
    else:
        master += ["--web-host", "127.0.0.1", "--web-port", str(web_port), "--autostart", "--autoquit", "1"]
    if not workers:
        return master, []
    port = _free_port()
    master += [
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        str(workers),
        "--expect-workers-max-wait",
        str(int(startup_timeout)),
    ]
    worker_argv = [
        [
            *base,
            "--worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(port),
            "--logfile",
            str(out_dir / f"locust-worker-{i}.log"),
        ]
        for i in range(workers)
    ]
    return master, worker_argv


def start_load(
    chat_url: str,
    issuer_secret: str,
    params: LoadParams,
    out_dir: Path,
    *,
    workers: int | None = None,
    spread_urls: Sequence[str] = (),
    web_port: int | None = None,
    check: bool = True,
    startup_timeout: float = 30.0,
    log_level: str = "INFO",
) -> LoadProcess:
    """Launch Locust against ``chat_url`` with ``params``; return once the first user runs.

    ``out_dir`` receives ``load-spec.json``, ``events/``, ``ledger/`` and the Locust logs. ``workers=N``
    runs a master and N worker processes (None: ``default_workers(params.users)``); ``spread_urls`` (other
    replicas of the same service) share the
    users round-robin with ``chat_url``. ``check`` runs ``preflight`` against every URL first. Raises LoadError when the
    target fails the pre-flight check or Locust does not start a user within ``startup_timeout``.
    """
    if workers is None:
        workers = default_workers(params.users)
    if workers < 0:
        raise ConfigError(f"workers must be >= 0 (got {workers})")
    url = _check_url(chat_url)
    spread = [_check_url(u) for u in spread_urls]
    if check:
        for each in (url, *spread):
            preflight(each, issuer_secret, room=params.room_name(0) + "-preflight")
    out_dir = out_dir.resolve()
    events_dir, ledger_dir, generator_dir = out_dir / "events", out_dir / "ledger", out_dir / "generator"
    for folder in (events_dir, ledger_dir, generator_dir):
        folder.mkdir(parents=True, exist_ok=True)
    spec = LoadSpec(
        params=params,
        chat_url=url,
        spread_urls=spread,
        events_dir=str(events_dir),
        ledger_dir=str(ledger_dir),
        workers=max(1, workers),
        generator_dir=str(generator_dir),
    )
    spec_path = out_dir / "load-spec.json"
    spec_path.write_text(spec.model_dump_json(indent=2))
    env = {
        **os.environ,
        "RESILIENCE_LOAD_SPEC": str(spec_path),
        "RESILIENCE_ISSUER_SECRET": issuer_secret,
        "PYTHONUNBUFFERED": "1",
    }
    master_argv, worker_argvs = _argv(
        spec, out_dir, workers=workers, web_port=web_port, startup_timeout=startup_timeout, log_level=log_level
    )
    load = LoadProcess(out_dir, events_dir, ledger_dir, generator_dir)
    try:
        load.procs.append(_launch(master_argv, env, out_dir / "locust-master.out"))
        for i, argv in enumerate(worker_argvs):
            load.procs.append(_launch(argv, env, out_dir / f"locust-worker-{i}.out"))
        _await_first_user(load, startup_timeout)
    except BaseException:
        load.stop(timeout=10)
        raise
    log.info("load started: pids %s, out %s", load.pids, out_dir)
    return load


def _await_first_user(load: LoadProcess, timeout: float) -> None:
    """Wait until some process wrote its events file (a user started), or fail with the log's last line."""
    deadline = time.monotonic() + timeout
    while not any(load.events_dir.glob("events-*.bin")):
        for i, proc in enumerate(load.procs):
            if proc.poll() is not None:
                name = "locust-master.out" if i == 0 else f"locust-worker-{i - 1}.out"
                last = _last_line(load.out_dir / name)
                raise LoadError(f"locust exited with code {proc.returncode} at start-up: {last}")
        if time.monotonic() > deadline:
            raise LoadError(f"locust started no user within {timeout:g} s (see {load.out_dir}/locust-master.log)")
        time.sleep(0.1)


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no output)"
    return lines[-1].strip() if lines else "(no output)"
