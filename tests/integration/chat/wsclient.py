"""A small synchronous WebSocket test client (websockets.sync) that reads typed JSON frames."""

from __future__ import annotations

import json
import time
from typing import Any

from websockets.sync.client import ClientConnection, connect

from chat.launcher import ChatReplica


def open_ws(replica: ChatReplica | str, token: str, room: str, after: int | None = None) -> ClientConnection:
    """Connect to a replica (or its ``ws://.../ws`` URL) for ``room``, optionally replaying after ``after``."""
    base = replica if isinstance(replica, str) else replica.ws_url
    query = f"room={room}&token={token}" + (f"&after={after}" if after is not None else "")
    return connect(f"{base}?{query}", open_timeout=10, close_timeout=2)


def recv_json(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return frame


def recv_until(ws: ClientConnection, kind: str, timeout: float = 10.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames until one of type ``kind``: (that frame, the frames before it)."""
    deadline = time.monotonic() + timeout
    before: list[dict[str, Any]] = []
    while True:
        frame = recv_json(ws, max(0.1, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame, before
        before.append(frame)


def send(ws: ClientConnection, client_id: str, body: str) -> None:
    ws.send(json.dumps({"type": "send", "client_id": client_id, "body": body}))


def messages_until(ws: ClientConnection, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The next ``count`` frames of type ``message`` (other frames are skipped)."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while len(found) < count:
        frame = recv_json(ws, max(0.1, deadline - time.monotonic()))
        if frame["type"] == "message":
            found.append(frame)
    return found
