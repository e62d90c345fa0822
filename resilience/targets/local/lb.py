"""HAProxy's runtime API for deploys: the chat backend's servers in every HAProxy process of the tier.

    deploy ──admin socket──► HAProxy process 1 ─┐
           ──admin socket──► HAProxy process 2 ─┼─► chat-1 .. chat-2N (slots: serving, warming, draining)
           ──  ...       ──► ...               ─┘

Each HAProxy process keeps its own server states, so every command goes to every admin socket of the tier
(``StackView.lb_sockets``: one per process), and a state counts only when every process reports it. Several
commands travel on one line (``cmd1; cmd2``): a blue-green switch is one line per process.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from resilience.errors import TargetError
from resilience.targets.local import probes
from resilience.targets.local.view import StackView

__all__ = ["BACKEND", "parse_show_stat", "servers", "sessions", "set_states", "sockets", "status_everywhere"]

BACKEND = "chat"


def sockets(view: StackView) -> list[Path]:
    """The admin sockets of every HAProxy process of the tier."""
    return [Path(s) for s in view.lb_sockets().values()]


def _command(sock: Path, line: str) -> str:
    try:
        return probes.haproxy_command(str(sock), line)
    except OSError as exc:
        raise TargetError(f"HAProxy admin socket {sock}: {exc}") from exc


def set_states(view: StackView, states: Mapping[str, str]) -> None:
    """``{server: "ready" | "drain" | "maint"}`` in one command line per HAProxy process."""
    if not states:
        return
    line = "; ".join(f"set server {BACKEND}/{name} state {state}" for name, state in states.items())
    for sock in sockets(view):
        answer = _command(sock, line)
        if answer:
            raise TargetError(f"HAProxy ({sock.name}) refused {line!r}: {answer}")


def parse_show_stat(text: str) -> dict[str, dict[str, str]]:
    """``show stat`` CSV -> server name -> its row, for the chat backend's servers."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {
        r["svname"]: r for r in rows if r.get("pxname") == BACKEND and r.get("svname") not in ("FRONTEND", "BACKEND")
    }


def servers(view: StackView) -> list[dict[str, dict[str, str]]]:
    """The chat servers' rows as each HAProxy process of the tier sees them."""
    return [parse_show_stat(_command(sock, "show stat")) for sock in sockets(view)]


def status_everywhere(view: StackView, name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether every HAProxy process reports server ``name`` with a status starting with one of ``prefixes``
    (``UP``: serving; ``DRAIN``: healthy but taking no new requests)."""
    return all(view.get(name, {}).get("status", "").startswith(prefixes) for view in servers(view))


def sessions(view: StackView, name: str) -> int:
    """Connections open to server ``name`` across the tier (WebSockets included: they are tunnels)."""
    return sum(int(view.get(name, {}).get("scur") or 0) for view in servers(view))
