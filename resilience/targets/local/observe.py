"""Readers for the failover anatomy (resilience/analysis/anatomy.py): each reads one component's state.

    etcd        dcs.leader                 the Patroni leader key's holder (/resilience/<scope>/leader)
    patroni     db.<node>                  "<role>/<state>" from each node's own REST API (GET /patroni)
    haproxy     lb.<lb>.<backend>/<server> every HAProxy process's admin socket (``show stat``), <lb> its name
    supervisor  proc.<name>                "<state>:<pid>" of the chat replicas and the database nodes
    replicas    ready.<replica>            GET /readyz answers 2xx

A reader returns ``{key: value}`` and never raises: a component that does not answer reads as None
(``dcs.leader``) or leaves its keys out (HAProxy, the supervisor), so the anatomy sees the last known state.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resilience.errors import TargetError
from resilience.targets.local import probes
from resilience.targets.local.layout import DB_NODES
from resilience.targets.local.view import StackView

__all__ = ["Reader", "readers"]

Reader = Callable[[], dict[str, Any]]


def _etcd_leader(port: int, key: str) -> Reader:
    url = f"http://127.0.0.1:{port}/v3/kv/range"
    body = {"key": base64.b64encode(key.encode()).decode()}

    def read() -> dict[str, Any]:
        answer = probes.post_json(url, body)
        if not isinstance(answer, dict):
            return {}
        kvs = answer.get("kvs") or []
        return {"dcs.leader": base64.b64decode(kvs[0]["value"]).decode() if kvs else None}

    return read


def _patroni(ports: dict[str, int]) -> Reader:
    def read() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for node, port in ports.items():
            body = probes.get_json(f"http://127.0.0.1:{port}/patroni")
            out[f"db.{node}"] = f"{body.get('role')}/{body.get('state')}" if isinstance(body, dict) else None
        return out

    return read


def _haproxy(sockets: dict[str, Path]) -> Reader:
    def read() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, sock in sockets.items():
            try:
                text = probes.haproxy_command(str(sock), "show stat")
            except OSError:
                continue
            for (px, srv), status in probes.parse_haproxy_csv(text).items():
                if px in ("postgres-rw", "chat"):
                    out[f"lb.{i}.{px}/{srv}"] = status
        return out

    return read


def _supervisor(view: StackView) -> Reader:
    watched = (*DB_NODES, *view.state.chat_names())

    def read() -> dict[str, Any]:
        try:
            procs = view.sup.processes()
        except TargetError:
            return {}
        return {f"proc.{n}": f"{p.state}:{p.pid}" for n, p in procs.items() if n in watched}

    return read


def _ready(view: StackView) -> Reader:
    ports = {n: view.state.ports[n] for n in view.state.chat_names()}

    def read() -> dict[str, Any]:
        return {f"ready.{n}": probes.http_ok(f"http://127.0.0.1:{p}/readyz") for n, p in ports.items()}

    return read


def readers(view: StackView) -> dict[str, Reader]:
    """One reader per component, by name."""
    return {
        "etcd": _etcd_leader(view.state.ports["etcd"], f"/resilience/{view.state.scope}/leader"),
        "patroni": _patroni({n: view.state.ports[f"{n}-api"] for n in DB_NODES}),
        "haproxy": _haproxy({n: view.layout.lb_sock(n) for n in view.state.lb_names()}),
        "supervisor": _supervisor(view),
        "replicas": _ready(view),
    }
