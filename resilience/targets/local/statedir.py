"""The guard that keeps ``up`` and ``down`` inside a state dir the harness made.

``up`` chmods the state dir and wipes ``data/``; ``down`` stops every process working inside it and
``down --purge`` deletes it. Pointed at the wrong folder (a typo, a stale ``RESILIENCE_STATE_DIR``),
any of these would destroy what the harness did not create. So:

- ``up`` writes a marker file (``.resilience-state``) into a state dir it creates or finds empty;
- ``up`` and ``down`` refuse a non-empty dir that has neither the marker nor only the names of a state
  dir's layout (a state dir of an older version, made before the marker existed);
- ``/``, ``$HOME``, the checkout root, the current git checkout, and any folder above them are always refused.

Refusals are ``ConfigError`` (exit 3, one line), raised before anything is created or changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from resilience.errors import ConfigError

__all__ = ["MARKER", "claim_state_dir", "ensure_state_dir", "protected_dirs"]

MARKER = ".resilience-state"
"""Name of the marker file ``up`` writes into a state dir it owns."""

_MARKER_TEXT = "state dir of a resilience local stack; 'resilience down --purge' may delete this folder\n"

_LAYOUT_NAMES = frozenset(
    {
        MARKER,
        ".lock",
        "state.json",
        ".state.json.tmp",  # StackState.save's temporary file (resilience.files.write_atomic)
        "state.tmp",  # ... as earlier versions named it
        "secrets.json",
        "supervisord.conf",
        "supervisor.sock",
        "supervisord.pid",
        "conf",
        "data",
        "run",
        "bin",
        "logs",
        "run.lock",
        "faults",
    }
)
"""Every name the harness puts at the top of a state dir: ``up``'s (see layout.py), and the run lock and the
durable fault ledger that ``resilience run`` takes and writes before it brings the stack up."""

_CHECKOUT = Path(__file__).resolve().parents[3]
"""The checkout (or site-packages dir) this package was loaded from."""


def _git_top(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def protected_dirs() -> list[Path]:
    """Folders no command may treat as a state dir: ``/``, ``$HOME``, the checkout root, the git checkout
    of the working directory (each resolved)."""
    dirs = [Path("/"), _CHECKOUT]
    home = os.environ.get("HOME")
    if home:
        dirs.append(Path(home).resolve())
    dirs.append(Path.home().resolve())
    top = _git_top(Path.cwd().resolve())
    if top is not None:
        dirs.append(top)
    return dirs


def ensure_state_dir(root: Path) -> Path:
    """Raise ``ConfigError`` unless ``root`` is safe to use as a state dir: missing, empty, marked, or
    holding only layout names -- and never a protected folder or one above it. Returns ``root`` resolved."""
    real = root.resolve()
    for guarded in protected_dirs():
        if real == guarded or real in guarded.parents:
            what = "the filesystem root" if guarded == Path("/") else str(guarded)
            raise ConfigError(f"state dir {root}: refusing to use {what} (or a folder above it) as a state dir")
    if real.exists() and not real.is_dir():
        raise ConfigError(f"state dir {root}: exists and is not a directory")
    if not real.exists() or (real / MARKER).is_file():
        return real
    try:
        names = {p.name for p in real.iterdir()}
    except OSError as exc:
        raise ConfigError(f"state dir {root}: cannot list it ({exc.strerror})") from None
    strangers = sorted(names - _LAYOUT_NAMES)
    if strangers:
        raise ConfigError(
            f"state dir {root}: refusing a non-empty folder that 'resilience up' did not create "
            f"(no {MARKER} marker; it holds {strangers[0]!r}{' and more' if len(strangers) > 1 else ''})"
        )
    return real


def claim_state_dir(root: Path) -> None:
    """Check ``root`` (``ensure_state_dir``), create it if missing and write the marker into it."""
    ensure_state_dir(root)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if not marker.is_file():
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(_MARKER_TEXT)
