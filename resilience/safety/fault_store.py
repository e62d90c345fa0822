"""The durable fault ledger: every fault is on disk before it is applied, and gone only once reverted.

One JSON file per active fault under ``<state dir>/faults/``, written to a temporary file, fsync'ed,
renamed into place and the folder fsync'ed, so a crash, ``kill -9`` or power loss at any instant leaves
either no record (the fault was not applied yet) or a complete one. ``resilience cleanup`` reads the
records back and reverts what they describe; a record is removed only after its revert was verified.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.errors import ConfigError
from resilience.targets.base import Target
from resilience.targets.local.layout import default_state_dir

__all__ = ["DurableLedger", "LedgerEntry", "state_dir_for", "state_dir_of_target"]

_SUFFIX = ".fault.json"


@dataclass(frozen=True)
class LedgerEntry:
    """One fault as recorded on disk."""

    kind: str
    key: str
    params: Mapping[str, Any]
    target: str
    pid: int
    started: float
    out_dir: str | None
    path: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "params": dict(self.params),
            "target": self.target,
            "pid": self.pid,
            "started": self.started,
            "out_dir": self.out_dir,
        }


def state_dir_for(target_name: str, state_dir: Path | str | None = None) -> Path:
    """The state folder of a target: ``state_dir`` if given; local: ``$RESILIENCE_STATE_DIR`` or
    ``./.state/local``; a cluster: ``./.state/<name>``."""
    if state_dir:
        return Path(state_dir)
    if target_name == "local":
        return default_state_dir()
    return Path.cwd() / ".state" / target_name


def state_dir_of_target(target: Target) -> Path:
    """The state folder of a Target object: its ``state_dir`` attribute, the local target's layout root, or
    ``state_dir_for(name)``."""
    own = getattr(target, "state_dir", None)
    if isinstance(own, Path):
        return own
    layout = getattr(target, "layout", None)
    root = getattr(layout, "root", None)
    if isinstance(root, Path):
        return root
    return state_dir_for(str(getattr(target, "name", "unknown")))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_name(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{digest}{_SUFFIX}"


class DurableLedger:
    """The ``faults/`` folder of one target's state dir."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "faults"

    def record(
        self, *, kind: str, key: str, params: Mapping[str, Any], target: str, out_dir: Path | None = None
    ) -> Path:
        """Write the fault durably (file and folder fsync'ed) and return its path."""
        self.dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "kind": kind,
            "key": key,
            "params": dict(params),
            "target": target,
            "pid": os.getpid(),
            "started": time.time(),
            "out_dir": str(out_dir) if out_dir else None,
        }
        path = self.dir / _file_name(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, (json.dumps(doc, default=str) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        _fsync_dir(self.dir)
        return path

    def remove(self, key: str) -> None:
        """Forget a fault whose revert was verified (a missing record is fine)."""
        path = self.dir / _file_name(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            _fsync_dir(self.dir)

    def entries(self) -> list[LedgerEntry]:
        """Every recorded fault, oldest first; a malformed record is a ConfigError naming its file."""
        if not self.dir.is_dir():
            return []
        found = [self._read(p) for p in self.dir.glob(f"*{_SUFFIX}")]
        return sorted(found, key=lambda e: e.started)

    def __bool__(self) -> bool:
        return self.dir.is_dir() and any(self.dir.glob(f"*{_SUFFIX}"))

    @staticmethod
    def _read(path: Path) -> LedgerEntry:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return LedgerEntry(
                kind=str(doc["kind"]),
                key=str(doc["key"]),
                params=dict(doc.get("params") or {}),
                target=str(doc.get("target", "")),
                pid=int(doc.get("pid", 0)),
                started=float(doc.get("started", 0.0)),
                out_dir=doc.get("out_dir"),
                path=path,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"{path}: unreadable fault record ({exc.__class__.__name__}: {exc}); "
                "inspect it, revert the fault by hand and delete the file"
            ) from None
