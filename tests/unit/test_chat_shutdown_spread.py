"""A draining replica closes its WebSockets evenly over SPREAD_S, idle ones first, busy ones at the latest
BUSY_GRACE_S later: the reconnects land at the other replicas spread out, not in one tick."""

from __future__ import annotations

import pytest

from chat.rebalance import Sheddable, Sockets
from chat.shutdown import BUSY_GRACE_S, SPREAD_S, due, to_close

pytestmark = pytest.mark.unit


class FakeSocket:
    def __init__(self, busy: bool = False) -> None:
        self.busy = busy

    async def shed(self, reason: str = "") -> None:
        raise AssertionError("not called here")


def test_due_spreads_the_closes_evenly_one_at_once_all_by_the_end() -> None:
    assert [due(20, t / 10, 1.0) for t in range(12)] == [1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 20]
    assert due(0, 0.0, 1.0) == 0
    assert due(5, 0.0, 0.0) == 5


def test_closes_a_share_per_tick_idle_first_and_a_busy_one_after_its_grace() -> None:
    """20 sockets, one storing a send throughout, ticks of 0.1 s: at most 3 closed per tick, every idle one by the
    end of the spread, the busy one only once its grace is over; each once."""
    sockets = Sockets()
    socks = [FakeSocket(busy=(i == 0)) for i in range(20)]
    for s in socks:
        sockets.add(s)
    closed: list[Sheddable] = []
    per_tick = []
    for tick in range(int((SPREAD_S + BUSY_GRACE_S) * 10) + 1):
        picked = to_close(sockets, 20, tick / 10)
        for sock in picked:
            sockets.discard(sock)
        closed += picked
        per_tick.append(len(picked))
    assert max(per_tick) <= 3, per_tick
    assert sum(per_tick[: int(SPREAD_S * 10) + 1]) == 19
    assert closed[-1] is socks[0] and per_tick[-1] == 1
    assert sorted(map(id, closed)) == sorted(map(id, socks))


def test_a_socket_its_client_closed_counts_as_closed() -> None:
    """Sockets gone on their own (the client left) count toward the share due."""
    sockets = Sockets()
    socks = [FakeSocket() for _ in range(10)]
    for s in socks:
        sockets.add(s)
    for s in socks[:5]:
        sockets.discard(s)
    assert to_close(sockets, 10, 0.5) == []  # 5 due, 5 gone
    assert len(to_close(sockets, 10, 0.7)) == 2
