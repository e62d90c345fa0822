"""The rebalancing decision of the chat service (chat.rebalance): fair share, threshold, batch, progress guard."""

from __future__ import annotations

import pytest

from chat.config import Settings, SettingsError
from chat.metrics import Metrics
from chat.rebalance import Peer, Policy, Progress, Rebalancer, Sockets, parse_peers, redis_client, shed_count

pytestmark = pytest.mark.unit

BASE = {"CHAT_DATABASE_URL": "postgresql://u@h/db", "CHAT_JWT_SECRET": "j" * 32, "CHAT_ISSUER_SECRET": "i"}
DEFAULT = Policy()


@pytest.mark.parametrize(
    ("mine", "counts", "expected"),
    [
        (27, [27, 13, 0], 5),  # the rollback's spread: fair 13.3, down to 14, 5 per round
        (20, [20, 20, 0], 5),  # a restarted replica holds none: both others shed
        (16, [16, 14, 10], 0),  # fair 13.3: 16 is under 13.3 + 3 (slack)
        (17, [17, 13, 10], 3),  # 17 > 16.3: down to ceil(13.3) = 14
        (25, [25, 15, 0], 5),  # the good->good restart's [25, 15, 0]
        (15, [25, 15, 0], 0),  # fair 13.3: 15 is within the tolerance
        (4, [4, 0, 0], 0),  # tiny counts: 4 is not 3 above fair (1.3)
        (7, [7, 0, 0], 4),  # fair 2.3, threshold 5.3: down to 3
        (40, [40], 0),  # alone: nowhere to go
        (0, [0, 0], 0),
        (120, [120, 100, 80], 0),  # fair 100: 120 is not above 1.2 x 100
        (121, [121, 100, 79], 5),  # just above it
    ],
)
def test_shed_count_sheds_only_above_the_threshold_down_to_the_fair_share(
    mine: int, counts: list[int], expected: int
) -> None:
    """A replica sheds only above max(1.2 x fair, fair + 3), down to the fair share rounded up, 5 per round."""
    assert shed_count(mine, counts, DEFAULT) == expected


def test_shed_count_ratio_dominates_for_large_counts() -> None:
    """With thousands of sockets the ratio, not the slack, is the tolerance; the batch bounds each round."""
    counts = [1300, 1000, 700]  # fair 1000, threshold 1200
    assert shed_count(1300, counts, Policy(batch=50)) == 50
    assert shed_count(1300, counts, Policy(ratio=1.5, batch=50)) == 0
    assert shed_count(1300, counts, Policy(ratio=1.0, slack=0, batch=1000)) == 300


def test_repeated_rounds_converge_within_the_tolerance() -> None:
    """Simulated rounds: shed sockets land on the emptiest replica (least connections); from [27, 13, 0]
    every replica ends within the threshold in a few rounds and no replica ever sheds below fair."""
    counts = [27, 13, 0]
    for _ in range(10):
        moved = [shed_count(c, counts, DEFAULT) for c in counts]
        if not any(moved):
            break
        counts = [c - m for c, m in zip(counts, moved, strict=True)]
        for _ in range(sum(moved)):
            counts[counts.index(min(counts))] += 1
    fair = sum(counts) / len(counts)
    assert sum(counts) == 40
    assert max(counts) <= DEFAULT.threshold(fair)
    assert counts == [14, 13, 13]


def _peers(**sockets_accepted: tuple[int, int]) -> dict[str, Peer]:
    return {name.replace("_", "-"): Peer(*v) for name, v in sockets_accepted.items()}


def test_progress_goes_on_while_an_under_replica_accepts_sockets() -> None:
    """Shedding starts in the second round that wants it and continues while a replica that was under its
    share accepts sockets."""
    p = Progress(rounds=3, pause_s=10)
    assert not p.allow(0.0, _peers(a=(20, 20), b=(20, 20), c=(0, 0)), 13.3)
    assert p.allow(0.5, _peers(a=(20, 20), b=(20, 20), c=(0, 0)), 13.3)
    for t in range(1, 10):
        assert p.allow(float(t), _peers(a=(20, 20), b=(20, 20), c=(t, t)), 13.3)
    assert p.pauses == 0


def test_progress_pauses_when_the_sockets_come_back() -> None:
    """If no under replica accepts a socket for 3 rounds (it is not in the balancer's rotation), shedding
    pauses for 10 s, then 20 s after the next futile streak (doubling to the maximum)."""
    p = Progress(rounds=3, pause_s=10, pause_max_s=15)
    stuck = _peers(a=(20, 20), b=(20, 40), c=(0, 0))
    assert [p.allow(float(t), stuck, 13.3) for t in range(5)] == [False, True, True, True, False]
    assert p.pauses == 1
    assert not p.allow(13.9, stuck, 13.3)
    assert [p.allow(14.0 + t, stuck, 13.3) for t in range(5)] == [False, True, True, True, False]
    assert p.paused_until == pytest.approx(33.0)  # 10 doubled, capped at 15
    assert not p.allow(33.0, stuck, 13.3)
    assert p.allow(34.0, stuck, 13.3)


def test_progress_idle_round_starts_a_new_watch() -> None:
    """A round without shedding forgets the futile rounds counted so far (and one wanting it again waits
    for confirmation: a surge's stale counts want it for one round only)."""
    p = Progress(rounds=2)
    stuck = _peers(a=(20, 20), c=(0, 0))
    assert not p.allow(0.0, stuck, 10)
    assert p.allow(1.0, stuck, 10)
    p.idle()
    assert not p.allow(2.0, stuck, 10)
    assert p.allow(3.0, stuck, 10)
    assert p.allow(4.0, stuck, 10)
    assert not p.allow(5.0, stuck, 10)


def test_parse_peers_reads_the_hash_and_skips_malformed_entries() -> None:
    """HGETALL's flat list becomes name -> (sockets, accepted, beat time from ZRANGE WITHSCORES); a malformed
    value is skipped, not fatal; a replica without a beat time gets 0."""
    flat = [b"chat-1", b"12 40", b"chat-2", b"x y", b"chat-3", b"0 0", "chat-4", "3"]
    beats = [b"chat-1", b"1700000000123", b"chat-2", b"1700000000200", b"chat-9", b"nan?"]
    assert parse_peers(flat, beats) == {"chat-1": Peer(12, 40, 1700000000123), "chat-3": Peer(0, 0, 0)}


def test_progress_confirms_only_on_counts_every_peer_reported_after_the_first_round() -> None:
    """A connection surge: the first round sees the peers' pre-surge counts; a second round that comes before a
    peer's next beat still sees one of them stale, so it does not confirm; the round after the peers beat does
    (and sheds only if the policy still wants it then, which the caller decides)."""
    p = Progress(rounds=3)
    assert not p.allow(0.0, _peers(a=(334, 334, 1000), b=(100, 100, 600), c=(150, 150, 700)), 194.7)
    assert not p.allow(0.9, _peers(a=(334, 334, 1900), b=(333, 333, 1400), c=(150, 150, 700)), 272.3)
    assert p.allow(1.8, _peers(a=(334, 334, 2800), b=(333, 333, 2300), c=(200, 200, 1600)), 289.0)


class _Sock:
    def __init__(self, name: str, busy: bool = False) -> None:
        self.name, self.busy = name, busy

    async def shed(self) -> None:  # pragma: no cover - not called here
        return None


def test_sockets_pick_the_oldest_idle_first_and_count_accepts() -> None:
    """Victims are the oldest sockets without a send in flight; ``accepted`` counts every socket ever added."""
    socks = Sockets()
    a, b, c, d = _Sock("a"), _Sock("b", busy=True), _Sock("c"), _Sock("d")
    for s in (a, b, c, d):
        socks.add(s)
    socks.discard(c)
    assert (len(socks), socks.accepted) == (3, 4)
    assert socks.oldest_idle(2) == [a, d]
    assert socks.oldest_idle(0) == []


def test_rebalance_settings_defaults_and_bad_values() -> None:
    """CHAT_REBALANCE_* have documented defaults; a bad value names the variable."""
    s = Settings.from_env(BASE)
    assert (s.rebalance, s.rebalance_interval_s, s.rebalance_ratio, s.rebalance_slack, s.rebalance_batch) == (
        True,
        1.0,
        1.2,
        3,
        5,
    )
    assert Settings.from_env({**BASE, "CHAT_REBALANCE": "0"}).rebalance is False
    with pytest.raises(SettingsError, match=r"^CHAT_REBALANCE_RATIO='0\.9': must be at least 1"):
        Settings.from_env({**BASE, "CHAT_REBALANCE_RATIO": "0.9"})
    with pytest.raises(SettingsError, match=r"^CHAT_REBALANCE_BATCH='0': must be at least 1"):
        Settings.from_env({**BASE, "CHAT_REBALANCE_BATCH": "0"})


def _rebalancer(name: str, clock: list[float]) -> Rebalancer:
    return Rebalancer(
        redis_client("redis://127.0.0.1:1/0"),  # never connected: these tests make no beat
        name=name,
        prefix="t:",
        policy=Policy(),
        interval_s=1.0,
        sockets=Sockets(),
        metrics=Metrics("good", name),
        clock=lambda: clock[0],
    )


def test_a_replica_joins_the_live_set_once_it_is_in_rotation() -> None:
    """A starting replica stays out of the live set until 1 s after its first /readyz 200 (the balancer's
    health check), or 10 s after it started when nothing checks its readiness."""
    now = [100.0]
    r = _rebalancer("chat-1", now)
    assert r.joining()
    now[0] = 103.0
    r.ready_seen()
    assert r.joining()
    now[0] = 103.9
    r.ready_seen()  # later checks do not move the first one
    assert r.joining()
    now[0] = 104.0
    assert not r.joining()
    unchecked = _rebalancer("chat-2", now)
    assert unchecked.joining()
    now[0] = 113.9
    assert unchecked.joining()
    now[0] = 114.0
    assert not unchecked.joining()
