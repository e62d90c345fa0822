"""SIGINT/SIGTERM handling that never skips a rollback.

Chaos Toolkit turns SIGTERM into an exception that, raised inside a Python activity, becomes a mere
"activity failed" and the method goes on (see ../shared/notes). The gate makes both signals behave like
Ctrl-C (KeyboardInterrupt: chaoslib stops the method, marks the run interrupted and plays the rollbacks)
and, while rollbacks or reverts run, only records the signal so a second Ctrl-C cannot cut them short.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["SignalGate"]


class SignalGate:
    """Records the first SIGINT/SIGTERM; raises KeyboardInterrupt unless deferred."""

    def __init__(self) -> None:
        self.received: str | None = None
        self.deferring = 0
        self._previous: dict[int, object] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        name = signal.Signals(signum).name
        self.received = self.received or name
        if self.deferring:
            return
        raise KeyboardInterrupt(name)

    def install(self, *signums: int) -> None:
        """Handle ``signums`` (default SIGINT and SIGTERM) with this gate."""
        for signum in signums or (signal.SIGINT, signal.SIGTERM):
            self._previous.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, self.handle)

    def restore(self) -> None:
        """Put the handlers back as they were before ``install``."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Within this block signals are recorded, not raised (rollbacks, reverts, writing results)."""
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1

    def raise_if_received(self) -> None:
        """Raise the KeyboardInterrupt that a signal recorded while deferred did not; call it where the run may
        stop (after a revert that ran deferred), or a signal that landed during the revert is lost."""
        if self.received is not None and not self.deferring:
            raise KeyboardInterrupt(self.received)

    @property
    def interrupted(self) -> bool:
        return self.received is not None
