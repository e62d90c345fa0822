"""The signal gate: a signal raises at once unless deferred; a deferred one is kept until the run may stop."""

from __future__ import annotations

import signal

import pytest

from resilience.runner.signals import SignalGate

pytestmark = pytest.mark.unit


def test_a_signal_outside_a_deferred_block_raises_at_once() -> None:
    gate = SignalGate()
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        gate.handle(signal.SIGTERM, None)
    assert gate.received == "SIGTERM"


def test_a_signal_during_a_deferred_block_is_kept_and_raised_afterwards() -> None:
    """A SIGTERM while a fault is reverted does not cut the revert short, and is not lost: the capacity run
    raised nothing after such a revert, ran its next step and exited 0 (a fresh-clone CI run)."""
    gate = SignalGate()
    with gate.deferred():
        gate.handle(signal.SIGTERM, None)  # no exception inside the block
        with gate.deferred():
            gate.raise_if_received()  # still deferred (nested): nothing raised
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        gate.raise_if_received()


def test_no_signal_raises_nothing() -> None:
    gate = SignalGate()
    with gate.deferred():
        pass
    gate.raise_if_received()
    assert not gate.interrupted
