"""Checks before a bring-up: the Debian packages, the ``postgres`` user, and paths it must reach.

Each failure is one line that says what to do (``make setup``, move the checkout), never a traceback.
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import shutil
import stat
import sys
from pathlib import Path

from resilience.errors import TargetError
from resilience.targets.local.configs import Binaries
from resilience.targets.local.layout import blocked_ancestor
from resilience.targets.local.runtime import RUNTIME_ROOT, patroni_runtime

__all__ = ["blocked_ancestor", "find_binaries", "postgres_ids", "require_reachable"]

_PACKAGES = {
    "etcd": "etcd-server",
    "haproxy": "haproxy",
    "redis-server": "redis-server",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
}


def _which(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise TargetError(
            f"{name} not found: Debian package {_PACKAGES[name]} is missing "
            "(run 'make setup' or scripts/install-system-deps)"
        )
    return found


def find_binaries() -> Binaries:
    """Every server binary the stack runs, or a TargetError naming the missing Debian package."""
    pg = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not pg:
        raise TargetError(
            "PostgreSQL not found in /usr/lib/postgresql/*/bin: Debian package postgresql is "
            "missing (run 'make setup' or scripts/install-system-deps)"
        )
    try:
        runtime = patroni_runtime()
    except OSError as exc:
        raise TargetError(f"cannot prepare Patroni's runtime in {RUNTIME_ROOT}: {exc}") from exc
    return Binaries(
        patroni_python=runtime.python,
        patroni_path=str(runtime.site),
        python=sys.executable,
        etcd=_which("etcd"),
        haproxy=_which("haproxy"),
        redis=_which("redis-server"),
        prometheus=_which("prometheus"),
        alertmanager=_which("prometheus-alertmanager"),
        pg_bin=str(Path(pg[-1]).parent),
    )


def postgres_ids() -> tuple[int, int, frozenset[int]]:
    """uid, gid and group ids of the ``postgres`` user (Patroni and PostgreSQL run as it)."""
    if os.getuid() != 0:
        raise TargetError("the local stack runs PostgreSQL as user postgres and must be started as root")
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        raise TargetError(
            "user postgres does not exist: Debian package postgresql is missing (run 'make setup')"
        ) from None
    groups = {g.gr_gid for g in grp.getgrall() if "postgres" in g.gr_mem} | {pw.pw_gid}
    return pw.pw_uid, pw.pw_gid, frozenset(groups)


def require_reachable(paths: dict[str, Path], uid: int, gids: frozenset[int]) -> None:
    """Raise TargetError when the postgres user cannot reach one of ``paths`` (what -> path)."""
    for what, path in paths.items():
        blocked = blocked_ancestor(path.resolve(), uid, gids)
        if blocked is not None:
            raise TargetError(
                f"user postgres cannot reach the {what} {path}: {blocked} is not searchable by it "
                f"(mode {stat.S_IMODE(blocked.stat().st_mode):o}); choose a state dir it can reach "
                "(--state-dir or RESILIENCE_STATE_DIR)"
            )
