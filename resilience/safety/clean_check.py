"""Is the target clean? No toxics, every proxy enabled, replicas and release restored, a DB leader with a
sync replica. Each check is one line; a check that cannot be made fails with the reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resilience.targets.base import Target
from resilience.targets.toxiproxy import Toxiproxy

__all__ = ["Check", "check_clean", "proxy_problems"]

CHAT = "app=chat-api"


@dataclass(frozen=True)
class Check:
    """One verdict about the target."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def proxy_problems(proxies: dict[str, Any]) -> list[str]:
    """What is not clean in a ``GET /proxies`` answer: toxics left, proxies disabled (pure)."""
    problems = []
    for name in sorted(proxies):
        proxy = proxies[name] or {}
        toxics = [str(t.get("name")) for t in proxy.get("toxics") or []]
        if toxics:
            problems.append(f"{name} has toxics {', '.join(toxics)}")
        if not proxy.get("enabled", False):
            problems.append(f"{name} is disabled")
    return problems


def _proxies(target: Target, _timeout_s: float, _release: str | None) -> tuple[bool, str]:
    proxies = Toxiproxy(target.endpoints().toxiproxy).proxies()
    problems = proxy_problems(proxies)
    return not problems, "; ".join(problems) or f"{len(proxies)} proxies enabled, no toxics"


def _replicas(target: Target, timeout_s: float, _release: str | None) -> tuple[bool, str]:
    target.wait_ready(CHAT, timeout=timeout_s)
    pods = target.pods(CHAT)
    ready = sum(p.ready for p in pods)
    if not pods or ready < len(pods):
        return False, f"{ready} of {len(pods)} chat replicas ready"
    return True, f"{ready} of {len(pods)} chat replicas ready"


def _release_check(target: Target, _timeout_s: float, release: str | None) -> tuple[bool, str]:
    now = target.release()
    if release is not None and now != release:
        return False, f"release {now!r} running, {release!r} expected"
    return True, f"release {now!r}"


def _database(target: Target, timeout_s: float, _release: str | None) -> tuple[bool, str]:
    target.wait_db_healthy(timeout=timeout_s)
    nodes = target.db_nodes()
    leader = [n.name for n in nodes if n.role == "primary"]
    sync = [n.name for n in nodes if n.sync]
    if len(leader) != 1 or not sync:
        return False, f"leader {leader or 'none'}, sync replica {sync or 'none'}"
    return True, f"leader {leader[0]}, sync replica {', '.join(sync)}"


_CHECKS: tuple[tuple[str, Callable[[Target, float, str | None], tuple[bool, str]]], ...] = (
    ("fault proxy", _proxies),
    ("chat replicas", _replicas),
    ("release", _release_check),
    ("database", _database),
)


def check_clean(target: Target, *, release: str | None = None, timeout_s: float = 60.0) -> list[Check]:
    """Every check on ``target`` (waiting up to ``timeout_s`` for replicas and the database to heal)."""
    checks = []
    for name, check in _CHECKS:
        try:
            ok, detail = check(target, timeout_s, release)
        except Exception as exc:  # noqa: BLE001 - a check that cannot be made is a failed check, said in one line
            ok, detail = False, f"{exc.__class__.__name__}: {exc}"
        checks.append(Check(name, ok, detail))
    return checks
