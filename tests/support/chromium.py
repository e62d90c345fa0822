"""Headless Debian Chromium driven over the DevTools protocol (websocket-client), for HTML report tests.

``open_page(url, screenshot=path)`` starts Chromium on a free DevTools port with a temporary profile,
loads the page, collects console errors, uncaught exceptions and every network request, optionally
writes a full-page PNG, and stops Chromium (its whole process group, by the pid we started) afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

__all__ = ["CHROMIUM", "PageResult", "open_page"]

CHROMIUM = "/usr/bin/chromium"
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1280,900",
]


@dataclass
class PageResult:
    """What the browser saw while loading the page."""

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images: int = 0
    broken_images: int = 0
    title: str = ""


@contextlib.contextmanager
def _chromium(timeout: float) -> Iterator[int]:
    """Start Chromium; yield its DevTools port; always stop its process group by our pid."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.Popen(
            [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.is_file() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not open its DevTools port (exit {proc.poll()})")
                time.sleep(0.05)
            yield int(port_file.read_text().splitlines()[0])
        finally:
            _stop_group(proc)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM Chromium's process group (ours: started with a new session), SIGKILL what is left after 15 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(proc.pid):
                return
            time.sleep(0.05)
    proc.wait(timeout=15)


class _Session:
    """One DevTools page session: numbered commands, events buffered while waiting for replies."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, deadline: float) -> None:
        while not any(e["method"] == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} before the deadline")
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)


def _page_ws_url(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
        targets = json.load(resp)
    return str(next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"))


def _collect(session: _Session, result: PageResult) -> None:
    for event in session.events:
        params = event.get("params", {})
        if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            result.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            result.console_errors.append(f"{params['entry']['source']}: {params['entry']['text']}")
        elif event["method"] == "Runtime.exceptionThrown":
            result.exceptions.append(params["exceptionDetails"].get("text", "exception"))
        elif event["method"] == "Network.requestWillBeSent":
            result.requests.append(params["request"]["url"][:120])


def open_page(url: str, *, screenshot: Path | None = None, timeout: float = 60.0) -> PageResult:
    """Load ``url`` in headless Chromium and report console errors, exceptions, requests and images."""
    result = PageResult()
    with _chromium(timeout) as port:
        session = _Session(_page_ws_url(port), timeout)
        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                session.send(f"{domain}.enable")
            session.send("Page.navigate", url=url)
            session.wait_event("Page.loadEventFired", time.monotonic() + timeout)
            probe = (
                "JSON.stringify([document.title, document.images.length, "
                "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length])"
            )
            title, images, broken = json.loads(session.send("Runtime.evaluate", expression=probe)["result"]["value"])
            result.title, result.images, result.broken_images = title, images, broken
            if screenshot is not None:
                size = session.send("Page.getLayoutMetrics")["cssContentSize"]
                clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 30000), "scale": 1}
                shot = session.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            _collect(session, result)
        finally:
            session.ws.close()
    return result
