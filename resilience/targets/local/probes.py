"""Health probes of the local stack's components (short timeouts; a probe never raises, it answers)."""

from __future__ import annotations

import csv
import functools
import io
import socket
from collections.abc import Mapping
from typing import Any

import httpx

from resilience.targets.base import DbNode

__all__ = [
    "chat_health",
    "etcd_healthy",
    "get_json",
    "haproxy_command",
    "haproxy_servers",
    "http_ok",
    "parse_cluster",
    "parse_haproxy_csv",
    "patroni_cluster",
    "post_json",
    "redis_ping",
]

_TIMEOUT = httpx.Timeout(1.0, connect=0.5)


@functools.cache
def _client() -> httpx.Client:
    """One shared client (thread-safe): a new one per probe costs an SSL context, ~10 ms of CPU, and the
    bring-up polls a dozen endpoints ten times a second on a 2-core machine."""
    return httpx.Client(
        timeout=_TIMEOUT,
        verify=False,  # noqa: S501 - loopback HTTP only
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def get_json(url: str) -> Any:
    """GET ``url`` and decode JSON; None on any failure or non-2xx status."""
    try:
        r = _client().get(url)
        return r.json() if r.is_success else None
    except (httpx.HTTPError, ValueError):
        return None


def post_json(url: str, body: Any) -> Any:
    """POST ``body`` as JSON to ``url`` and decode the answer; None on any failure or non-2xx status."""
    try:
        r = _client().post(url, json=body)
        return r.json() if r.is_success else None
    except (httpx.HTTPError, ValueError):
        return None


def http_ok(url: str) -> bool:
    """Whether GET ``url`` answers 2xx."""
    try:
        return _client().get(url).is_success
    except httpx.HTTPError:
        return False


def etcd_healthy(port: int) -> bool:
    body = get_json(f"http://127.0.0.1:{port}/health")
    return isinstance(body, dict) and body.get("health") == "true"


def redis_ping(port: int, password: str = "") -> bool:
    """RESP ``AUTH password`` (when given) then ``PING`` -> ``+PONG``."""
    request = b""
    if password:
        secret = password.encode()
        request += b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret)
    request += b"*1\r\n$4\r\nPING\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(request)
            answer = b""
            while b"+PONG" not in answer and not answer.startswith(b"-") and len(answer) < 256:
                chunk = s.recv(64)
                if not chunk:
                    break
                answer += chunk
            return b"+PONG" in answer
    except OSError:
        return False


def chat_health(port: int) -> dict[str, Any] | None:
    """The replica's ``/healthz`` body (release, replica) or None."""
    body = get_json(f"http://127.0.0.1:{port}/healthz")
    return body if isinstance(body, dict) else None


def parse_haproxy_csv(text: str) -> dict[tuple[str, str], str]:
    """(proxy, server) -> status (``UP``, ``DOWN``, ``UP 1/2``, ``MAINT``...) from HAProxy's stats CSV."""
    lines = text.lstrip("# ").splitlines()
    out: dict[tuple[str, str], str] = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        if row.get("svname") not in (None, "FRONTEND", "BACKEND"):
            out[(row["pxname"], row["svname"])] = row.get("status", "")
    return out


def haproxy_servers(stats_port: int) -> dict[tuple[str, str], str] | None:
    """Server statuses of the running HAProxy, or None when its stats page does not answer."""
    try:
        r = _client().get(f"http://127.0.0.1:{stats_port}/stats;csv")
    except httpx.HTTPError:
        return None
    return parse_haproxy_csv(r.text) if r.is_success else None


def haproxy_command(sock: str, command: str) -> str:
    """One command on HAProxy's admin socket (``set server chat/chat-1 state drain``); its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        s.connect(sock)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace").strip()


def parse_cluster(body: Any) -> list[DbNode]:
    """Patroni's ``GET /cluster`` body -> DbNodes (``leader`` -> primary; ``sync_standby`` -> sync replica)."""
    nodes: list[DbNode] = []
    members = body.get("members", []) if isinstance(body, dict) else []
    for m in members:
        role = str(m.get("role", ""))
        lag = m.get("lag")
        nodes.append(
            DbNode(
                name=str(m.get("name")),
                role="primary" if role in ("leader", "master", "primary") else "replica",
                state=str(m.get("state", "unknown")),
                sync=role in ("sync_standby", "quorum_standby"),
                lag_bytes=lag if isinstance(lag, int) else None,
            )
        )
    return sorted(nodes, key=lambda n: n.name)


def patroni_cluster(api_ports: Mapping[str, int]) -> list[DbNode] | None:
    """The cluster as its leader's agent sees it (node name -> REST API port); None when no agent answers.

    The first answering agent names the leader; when that is another node, the leader's own view is read:
    a replica's view of the synchronous set can be a loop behind or ahead of the leader's, and the leader
    fails over only to the members its own view holds synchronous (a crash in between finds "failover:
    candidates list is empty" and Patroni restarts the old primary in place). When the leader's agent does
    not answer, the first answering view is returned.
    """
    for name, port in api_ports.items():
        body = get_json(f"http://127.0.0.1:{port}/cluster")
        if body is None:
            continue
        nodes = parse_cluster(body)
        leader = next((n.name for n in nodes if n.role == "primary"), None)
        if leader is None or leader == name or leader not in api_ports:
            return nodes
        own = get_json(f"http://127.0.0.1:{api_ports[leader]}/cluster")
        return parse_cluster(own) if own is not None else nodes
    return None
