"""Run the fault proxy: the HTTP API plus every proxy's data plane on one event loop.

The data plane is readiness callbacks (``add_reader``) and short tasks, so an API request never holds
the loop for long; the fast path moves bytes with ``os.splice`` without copying them into Python.
It runs on uvloop (lower per-callback cost than the default loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
from pathlib import Path

import uvloop
from aiohttp import web

from resilience.errors import ConfigError, ResilienceError
from resilience.netfault.api import Api, build_app, parse_populate
from resilience.netfault.model import ApiError
from resilience.netfault.proxy import Proxy

__all__ = ["load_config", "run", "serve"]

log = logging.getLogger(__name__)


def load_config(path: Path) -> bytes:
    """The config file's bytes, validated as a /populate body (ConfigError naming the file otherwise)."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        parse_populate(body)
    except ApiError as err:
        raise ConfigError(f"{path}: {err.message}") from None
    return body


async def serve(
    host: str,
    port: int,
    config: bytes | None = None,
    *,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    listen_any: bool = False,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM); populate from ``config`` first. ``listen_any``: a
    proxy's wildcard listen address binds every interface (default: loopback only)."""
    api = Api(listen_any=listen_any)
    if config is not None:
        done: list[Proxy] = []
        try:
            api.apply(parse_populate(config), done)
        except ApiError as err:
            api.stop_all()
            raise ResilienceError(f"populating proxies failed: {err.message}") from None
    runner = web.AppRunner(build_app(api), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        api.stop_all()
        raise ResilienceError(f"cannot listen on {host}:{port}: {os.strerror(exc.errno or 0)}") from None
    bound = runner.addresses[0]
    print(f"netfault API listening on http://{host}:{bound[1]}", flush=True)  # the one line callers wait for
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        api.stop_all()
        await runner.cleanup()


def _raise_fd_limit() -> None:
    """Soft open-files limit up to the hard one, as Go does at start: each connection holds up to six
    descriptors (two sockets, two splice pipes)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(host: str, port: int, config: Path | None, *, listen_any: bool = False) -> None:
    """Blocking entry point for the CLI, on uvloop."""
    body = load_config(config) if config is not None else None
    _raise_fd_limit()
    uvloop.run(serve(host, port, body, listen_any=listen_any))
