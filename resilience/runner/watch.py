"""Watching the target's components while an experiment runs, for the failover anatomy.

    target.observers() ─► one thread per component, reading every ``interval_s`` ─► a value changed?
        ─► <experiment>/observations.jsonl  {"t": epoch s, "key": ..., "value": ..., "source": component}

``t`` is the middle of the reading (the state held somewhere in it: the error is half a reading's
duration, recorded as ``read_s``). resilience/analysis/anatomy.py turns the changes into phases.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from resilience.targets.base import Observable

__all__ = ["OBSERVATIONS_FILE", "Watcher", "watch"]

log = logging.getLogger(__name__)

OBSERVATIONS_FILE = "observations.jsonl"
INTERVAL_S = 0.05
"""Between two readings of one component: the phases' resolution (plus half a reading)."""


class Watcher:
    """Reads each component in its own thread until ``stop()``; records every change to ``path``."""

    def __init__(
        self, readers: Mapping[str, Callable[[], dict[str, Any]]], path: Path, *, interval_s: float = INTERVAL_S
    ) -> None:
        self.readers, self.path, self.interval_s = dict(readers), path, interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.readings = 0

    def __enter__(self) -> Watcher:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")
        for name, reader in self.readers.items():
            thread = threading.Thread(target=self._loop, args=(name, reader), name=f"watch-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._fh.close()

    def _loop(self, name: str, reader: Callable[[], dict[str, Any]]) -> None:
        last: dict[str, Any] = {}
        while not self._stop.is_set():
            t0 = time.time()
            try:
                values = reader()
            except Exception as exc:  # noqa: BLE001 - a broken reader must not end the experiment
                log.warning("watcher %s: %s", name, exc)
                values = {}
            t1 = time.time()
            changed = {k: v for k, v in values.items() if k not in last or last[k] != v}
            if changed:
                last.update(changed)
                stamp = {"t": round((t0 + t1) / 2, 4), "source": name, "read_s": round(t1 - t0, 4)}
                lines = "".join(json.dumps({**stamp, "key": k, "value": v}) + "\n" for k, v in changed.items())
                with self._lock:
                    self._fh.write(lines)
                    self._fh.flush()
            self.readings += 1
            self._stop.wait(max(0.0, self.interval_s - (time.time() - t1)))


def watch(target: object, out_dir: Path) -> Watcher | None:
    """A watcher over ``target``'s components writing ``out_dir/observations.jsonl``; None when the target
    cannot be observed (then the anatomy is empty) or its readers cannot be made."""
    if not isinstance(target, Observable):
        return None
    try:
        readers = target.observers()
    except Exception as exc:  # noqa: BLE001 - the anatomy is extra, never a reason to fail a run
        log.warning("%s: no anatomy: %s", out_dir.name, exc)
        return None
    return Watcher(readers, out_dir / OBSERVATIONS_FILE)
