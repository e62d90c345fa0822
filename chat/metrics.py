"""Prometheus metrics of one replica, in a registry of its own (several apps can live in one process)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "SendPath"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's instruments; names start with ``chat_``."""

    def __init__(self, release: str, replica: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_latency = Histogram(
            "chat_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.send_latency = Histogram(
            "chat_send_duration_seconds",
            "Send latency from request to commit",
            ["transport"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ws_connections = Gauge("chat_ws_connections", "Open WebSocket connections", registry=r)
        self.messages_sent = Counter("chat_messages_sent_total", "Send attempts received", ["transport"], registry=r)
        self.messages_acked = Counter(
            "chat_messages_acked_total", "Sends acknowledged after commit", ["transport", "created"], registry=r
        )
        self.send_rejected = Counter("chat_send_rejected_total", "Sends refused", ["transport", "status"], registry=r)
        self.db_errors = Counter("chat_db_errors_total", "Database errors by kind", ["kind"], registry=r)
        # chat.dbprobe: 0 from start until the first probe answers (within ~0.1 s when the database is there)
        self.db_reachable = Gauge(
            "chat_db_reachable",
            "1 while a writable PostgreSQL primary answered this replica's last probe (every 0.5 s, 2 s timeout)",
            registry=r,
        )
        self.redis_up = Gauge("chat_redis_subscribed", "1 while the Redis subscriber is connected", registry=r)
        self.fanout_dropped = Counter("chat_fanout_dropped_total", "Messages not published to Redis", registry=r)
        self.fanout_rejected = Counter(
            "chat_fanout_rejected_total", "Fan-out payloads dropped: bad signature or malformed", registry=r
        )
        self.pushed = Counter("chat_messages_pushed_total", "Messages pushed to WebSockets", registry=r)
        self.gap_filled = Counter(
            "chat_gap_filled_total",
            "Messages read from the database to close a gap in a room's live stream",
            registry=r,
        )
        self.ws_shed = Counter(
            "chat_ws_shed_total",
            "WebSockets closed with 1012 because this replica held more than its fair share (chat.rebalance)",
            registry=r,
        )
        self.rebalance_live = Gauge(
            "chat_rebalance_live_replicas", "Replicas in the rebalancing set at the last beat", registry=r
        )
        self.rebalance_fair_share = Gauge(
            "chat_rebalance_fair_share", "Open WebSockets of all live replicas / live replicas, last beat", registry=r
        )
        self.rebalance_paused = Gauge(
            "chat_rebalance_paused",
            "1 while shedding is paused: the sockets closed did not reach a replica under its share",
            registry=r,
        )
        self.release_info = Gauge(
            "chat_release_info", "Release and replica of this process (value 1)", ["release", "replica"], registry=r
        )
        self.release_info.labels(release=release, replica=replica).set(1)

    @cache  # noqa: B019 - one Metrics per app, two transports: the cache lives as long as the app
    def send_path(self, transport: str) -> SendPath:
        """The send path's instruments of ``transport``, labelled once (``labels()`` costs a lock and a lookup)."""
        return SendPath(
            sent=self.messages_sent.labels(transport=transport),
            latency=self.send_latency.labels(transport=transport),
            created=self.messages_acked.labels(transport=transport, created="true"),
            found=self.messages_acked.labels(transport=transport, created="false"),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True)
class SendPath:
    """Labelled children of the send path's counters for one transport."""

    sent: Counter
    latency: Histogram
    created: Counter
    found: Counter
