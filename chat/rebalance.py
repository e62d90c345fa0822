"""Rebalancing open WebSockets: a replica holding more than its fair share closes the excess with 1012.

A load balancer places new connections only (HAProxy ``leastconn`` here, a Kubernetes Service elsewhere);
a WebSocket stays where it landed for hours, so a replica restarted by a pod kill or a rolling deploy comes
back with none while the others hold them all. Each replica therefore, every CHAT_REBALANCE_INTERVAL_S::

    this replica ──beat(name, open sockets, sockets ever accepted)──► Redis: the live set (heard from within
                 ◄──── every live replica's (sockets, accepted) ─────┘  3 intervals; a draining replica leaves)
    fair = total / live;  over = mine > max(CHAT_REBALANCE_RATIO x fair, fair + CHAT_REBALANCE_SLACK)?
      └─ yes ─► close min(CHAT_REBALANCE_BATCH, mine - ceil(fair)) of its oldest idle sockets with 1012
                ─► the clients reconnect through the load balancer (least connections: the emptier replica)
                   and replay what they missed with ``after=<last id>`` (ordered, no gap: the hub and the replay)

A replica joins the live set only once it is in the load balancer's rotation: ``JOIN_GRACE_S`` after it
first answered ``/readyz`` with 200 (a health check: every process of the LB tier checks within a second),
or ``JOIN_MAX_S`` after it started if nothing checks its readiness. Before that the others would close
sockets that the balancer can only send back to them (a rolling step keeps the new replica in ``drain``
until it is ready).

A replica sheds only when two rounds in a row want it, the second on counts every peer reported after the
first: the others' counts are up to one interval old, and during a connection surge a stale count looks like
an excess (measured: 9 sockets closed while 36 clients connected at once; and, with jittered intervals, two of
a replica's rounds could both come before a peer's next beat: 5 of 1,000 sockets closed after 1,000 clients
connected round-robin in 0.7 s). Progress guard: a run of shedding rounds goes on only while some replica that was
under its share accepts sockets. If none did within ``PROGRESS_ROUNDS`` rounds, the balancer is sending
the sockets back (the emptier replica is running but not in rotation, e.g. a blue-green set warming up):
pause for ``PAUSE_S``, doubling to ``PAUSE_MAX_S``. Redis down: no beat, no decision, nothing closed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chat.metrics import Metrics

__all__ = ["Peer", "Policy", "Progress", "Rebalancer", "Sockets", "parse_peers", "redis_client", "shed_count"]

# The service's own generator: the process-wide one belongs to its host (a test's hypothesis run, an app server).
_RNG = random.Random()  # jitter and injected faults, not secrets

log = logging.getLogger(__name__)

LIVE_INTERVALS = 3
"""A replica not heard from for this many intervals is no longer live (killed, partitioned from Redis)."""
PROGRESS_ROUNDS = 3
PAUSE_S = 10.0
PAUSE_MAX_S = 60.0
JOIN_GRACE_S = 1.0
JOIN_MAX_S = 10.0


@dataclass(frozen=True)
class Policy:
    """When and how fast a replica sheds: above ``max(ratio x fair, fair + slack)``, ``batch`` per round."""

    ratio: float = 1.2
    slack: int = 3
    batch: int = 5

    def threshold(self, fair: float) -> float:
        """The most sockets a replica may hold before it sheds, for a fair share of ``fair``."""
        return max(self.ratio * fair, fair + self.slack)


@dataclass(frozen=True)
class Peer:
    """A live replica as its last beat left it in Redis."""

    sockets: int
    accepted: int
    beat_ms: int = 0
    """When it beat (Redis's clock, ms)."""


def fair_share(counts: Sequence[int]) -> float:
    return sum(counts) / len(counts) if counts else 0.0


def shed_count(mine: int, counts: Sequence[int], policy: Policy) -> int:
    """How many sockets to close this round: 0 unless ``mine`` is above the policy's threshold, else down
    to the fair share (rounded up), at most ``policy.batch``. ``counts``: every live replica's, ours included."""
    if len(counts) < 2 or mine <= 0:
        return 0
    fair = fair_share(counts)
    if mine <= policy.threshold(fair):
        return 0
    return max(0, min(policy.batch, mine - math.ceil(fair)))


class Progress:
    """Whether to shed: the second round in a row that wants it, and while the sockets closed reach the
    replicas under their share (pure: time passed in)."""

    def __init__(self, rounds: int = PROGRESS_ROUNDS, pause_s: float = PAUSE_S, pause_max_s: float = PAUSE_MAX_S):
        self.rounds, self.pause_s, self.pause_max_s = rounds, pause_s, pause_max_s
        self.paused_until = 0.0
        self.pauses = 0
        self._next_pause = pause_s
        self._watch: dict[str, int] | None = None  # replicas under their share -> accepted when watched
        self._watch_beat = 0  # the newest beat when the watch started: confirmed on counts beaten after it
        self._futile = 0

    def idle(self) -> None:
        """No shedding wanted this round: the next one starts a new watch."""
        self._watch, self._futile = None, 0

    def allow(self, now: float, peers: Mapping[str, Peer], fair: float) -> bool:
        """Whether to shed this round (call only when the policy wants to)."""
        if now < self.paused_until:
            return False
        under = {name: p.accepted for name, p in peers.items() if p.sockets < fair}
        if self._watch is None:  # confirm in a later round: the others' counts may lag one interval
            self._watch, self._futile = under, -1
            self._watch_beat = max((p.beat_ms for p in peers.values()), default=0)
            return False
        if self._futile < 0 and any(p.beat_ms < self._watch_beat for p in peers.values()):
            return False  # a peer has not reported since the watch started: not confirmed yet
        if any(peers[n].accepted > before for n, before in self._watch.items() if n in peers):
            self._watch, self._futile, self._next_pause = under, 0, self.pause_s
            return True
        self._futile += 1
        if self._futile < self.rounds:
            return True
        self.paused_until = now + self._next_pause
        self.pauses += 1
        log.warning(
            "rebalancing paused for %.0f s: the sockets closed did not reach a replica under its share "
            "(is it in the load balancer's rotation?)",
            self._next_pause,
        )
        self._next_pause = min(self._next_pause * 2, self.pause_max_s)
        self.idle()
        return False


class Sheddable(Protocol):
    """An open WebSocket the rebalancer may close."""

    @property
    def busy(self) -> bool:
        """A send of this socket is being stored (closing now would cost its ack)."""
        ...

    async def shed(self, reason: str = ...) -> None:
        """Close with 1012 (service restart) giving ``reason``: the client reconnects and replays with ``after=``."""
        ...


class Sockets:
    """This replica's open WebSockets, oldest first, and how many it has accepted since it started."""

    def __init__(self) -> None:
        self._open: dict[Sheddable, None] = {}  # insertion order: oldest first
        self.accepted = 0

    def add(self, sock: Sheddable) -> None:
        self._open[sock] = None
        self.accepted += 1

    def discard(self, sock: Sheddable) -> None:
        self._open.pop(sock, None)

    def __len__(self) -> int:
        return len(self._open)

    def all(self) -> list[Sheddable]:
        """Every open socket, oldest first."""
        return list(self._open)

    def oldest_idle(self, n: int) -> list[Sheddable]:
        picked: list[Sheddable] = []
        for sock in self._open:
            if len(picked) >= n:
                break
            if not sock.busy:
                picked.append(sock)
        return picked


# Register this replica's beat (ZSET by Redis time, HASH of "sockets accepted"), drop replicas not heard
# from within the TTL, return the live ones and when each beat: {now, HGETALL, ZRANGE WITHSCORES}. One round
# trip; Redis's clock, so replicas' clocks do not matter.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
for _, name in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)) do
  redis.call('ZREM', KEYS[1], name)
  redis.call('HDEL', KEYS[2], name)
end
redis.call('PEXPIRE', KEYS[1], ttl * 10)
redis.call('PEXPIRE', KEYS[2], ttl * 10)
return {now, redis.call('HGETALL', KEYS[2]), redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
"""


def parse_peers(flat: Sequence[Any], beats: Sequence[Any] = ()) -> dict[str, Peer]:
    """HGETALL's ``[name, "sockets accepted", ...]`` as peers, with their beat times from ZRANGE WITHSCORES'
    ``[name, ms, ...]`` (0 when absent); malformed entries are skipped."""
    beat_ms: dict[str, int] = {}
    for i in range(0, len(beats) - 1, 2):
        try:
            beat_ms[_text(beats[i])] = int(float(_text(beats[i + 1])))
        except ValueError:
            continue
    peers: dict[str, Peer] = {}
    for i in range(0, len(flat) - 1, 2):
        name = _text(flat[i])
        parts = _text(flat[i + 1]).split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            peers[name] = Peer(int(parts[0]), int(parts[1]), beat_ms.get(name, 0))
    return peers


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_client(url: str, timeout_s: float = 1.0) -> Redis:
    """A client for the beats: short timeouts, no retries (a missed beat is only a skipped round)."""
    return Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=Retry(NoBackoff(), 0))


class Rebalancer:
    """The background loop of one replica (``run()``); ``round()`` is one beat and decision."""

    def __init__(
        self,
        client: Redis,
        *,
        name: str,
        prefix: str,
        policy: Policy,
        interval_s: float,
        sockets: Sockets,
        metrics: Metrics,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.client, self.name, self.policy, self.interval_s = client, name, policy, interval_s
        self.keys = [f"{prefix}live", f"{prefix}sockets"]
        self.sockets, self.metrics = sockets, metrics
        self.progress = Progress()
        self.is_draining: Callable[[], bool] = lambda: False
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._script = client.register_script(_BEAT)
        self._left = False
        self._redis_ok = True
        self._started: float | None = None
        self._ready_at: float | None = None

    def ready_seen(self) -> None:
        """``/readyz`` answered 200 (a load balancer's health check, most likely): the replica is joining
        the rotation."""
        if self._ready_at is None:
            self._ready_at = self._clock()

    def joining(self) -> bool:
        """Whether this replica should stay out of the live set for now (not yet in the LB's rotation)."""
        now = self._clock()
        if self._started is None:
            self._started = now
        if self._ready_at is not None and now - self._ready_at >= JOIN_GRACE_S:
            return False
        return now - self._started < JOIN_MAX_S

    async def run(self) -> None:
        self._started = self._clock()
        while True:
            await asyncio.sleep(self.interval_s * _RNG.uniform(0.8, 1.2))  # jitter: replicas do not decide in step
            if self.is_draining():
                await self.leave()  # its sockets are about to move anyway: no longer part of the share
                continue
            if not self.joining():
                await self.round()

    async def round(self) -> int:
        """Beat, decide, shed; the number of sockets closed."""
        peers = await self._beat()
        if peers is None:
            return 0
        self.metrics.rebalance_live.set(len(peers))
        counts = [p.sockets for p in peers.values()]
        fair = fair_share(counts)
        self.metrics.rebalance_fair_share.set(fair)
        want = shed_count(len(self.sockets), counts, self.policy)
        if want == 0:
            self.progress.idle()
            return 0
        if not self.progress.allow(self._clock(), peers, fair):
            self.metrics.rebalance_paused.set(1)
            return 0
        self.metrics.rebalance_paused.set(0)
        victims = self.sockets.oldest_idle(want)
        log.info(
            "rebalancing: %d sockets here, fair share %.1f of %d on %d replicas: closing %d with 1012",
            len(self.sockets),
            fair,
            sum(counts),
            len(peers),
            len(victims),
        )
        for sock in victims:
            self.sockets.discard(sock)  # closing: not counted, not picked again while its client answers
        await asyncio.gather(*(sock.shed() for sock in victims), return_exceptions=True)
        self.metrics.ws_shed.inc(len(victims))
        return len(victims)

    async def _beat(self) -> dict[str, Peer] | None:
        ttl_ms = max(1, round(self.interval_s * LIVE_INTERVALS * 1000))
        args: list[str | int] = [self.name, len(self.sockets), self.sockets.accepted, ttl_ms]
        try:
            now_ms, flat, beats = await asyncio.wait_for(self._script(keys=self.keys, args=args), 2.0)
        except (TimeoutError, OSError, RedisError) as exc:
            if self._redis_ok:
                log.warning("rebalancing off while Redis does not answer: %s", exc)
            self._redis_ok = False
            return None
        if not self._redis_ok:
            log.info("rebalancing on again: Redis answers")
        self._redis_ok, self._left = True, False
        peers = parse_peers(flat, beats)
        peers[self.name] = Peer(len(self.sockets), self.sockets.accepted, int(now_ms))
        return peers

    async def leave(self) -> None:
        """Take this replica out of the live set (draining or stopping); best effort."""
        if self._left:
            return
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(self.keys[0], self.name)
            pipe.hdel(self.keys[1], self.name)
            await asyncio.wait_for(pipe.execute(), 1.0)
            self._left = True
        except (TimeoutError, OSError, RedisError) as exc:
            log.info("could not leave the rebalancing set (it expires by itself): %s", exc)

    async def close(self) -> None:
        await self.leave()
        await self.client.aclose()
