"""``python -m resilience.targets.local.subreaper CONF``: become a child subreaper, then exec supervisord.

Patroni double-forks PostgreSQL, so a postmaster's parent is not Patroni. As a child subreaper
(``prctl(PR_SET_CHILD_SUBREAPER)``, preserved across ``execve``) supervisord adopts those orphans, and its
``waitpid(-1, WNOHANG)`` loop reaps them: a SIGKILLed postmaster disappears at once instead of lingering
as a zombie that Patroni would still see as running (pitfall 1 in ``notes/local-stack.md``).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Mark this process as a child subreaper; raise OSError if the kernel refuses."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(err)}")


def _fd_ceiling() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 65536 if soft == resource.RLIM_INFINITY else int(min(soft, 1 << 20))


def main(argv: list[str]) -> None:
    """Become a subreaper and exec ``supervisord -c CONF`` in this interpreter (same pid)."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m resilience.targets.local.subreaper SUPERVISORD_CONF\n")
        raise SystemExit(2)
    become_subreaper()
    # supervisord outlives whatever started it: it must not inherit that caller's descriptors. A
    # ``flock LOCKFILE resilience up`` leaves the lock's descriptor open in its child; inherited by
    # supervisord (and every program it starts) it held the lock until ``resilience down``.
    os.closerange(3, _fd_ceiling())
    os.execv(sys.executable, [sys.executable, "-m", "supervisor.supervisord", "-c", argv[0]])  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
