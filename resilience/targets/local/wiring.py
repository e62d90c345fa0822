"""How the local stack's parts reach each other (pure: text in, text out): HAProxy's frontends (chat
replicas, the read-write PostgreSQL entry that follows Patroni's ``/primary``), the fault proxy's proxies
in front of PostgreSQL and Redis (Prometheus' scrape targets: ``monitoring.py``).

The load balancer is a tier of N HAProxy processes, the way production runs several LB instances::

    clients ──► 127.0.0.1:haproxy-chat ──kernel (SO_REUSEPORT)──► haproxy | haproxy-2 | ... ──► chat-1..M
    fault proxy ──► 127.0.0.1:haproxy-rw ──────── same ─────────► each follows Patroni's /primary

Every process binds the same two ports (HAProxy sets SO_REUSEPORT on its listeners; the kernel spreads
new connections over the live processes) and runs its own health checks; each has its own stats port
and admin socket (``Layout.lb_sock``), so a drain or a stats read is done once per process.
"""

from __future__ import annotations

import json

from resilience.targets.local.layout import DB_NODES, LB_MAXCONN, Layout, StackState, lb_stats_port_name

__all__ = ["haproxy_cfg", "proxies_json"]


def haproxy_cfg(state: StackState, layout: Layout, name: str = "haproxy") -> str:
    """LB process ``name``: read-write frontend following the Patroni leader; chat frontend with readiness
    checks (both ports shared by the tier); its own stats port and admin socket, through which a rollout
    drains a replica before stopping it."""
    p = state.ports
    pg_servers = "\n".join(f"    server {n} 127.0.0.1:{p[n]} check port {p[n + '-api']}" for n in DB_NODES)
    serving = set(state.chat_names())
    # a slot not serving is in maintenance (``disabled``): a deploy enables it through the runtime API (lb.py)
    chat_servers = "\n".join(
        f"    server {n} 127.0.0.1:{p[n]} check" + ("" if n in serving else " disabled") for n in state.chat_slots()
    )
    return f"""global
    maxconn {LB_MAXCONN}
    stats socket {layout.lb_sock(name)} mode 600 level admin

defaults
    timeout connect 250ms
    timeout client 1h
    timeout server 1h
    timeout check 1s
    retries 1

listen stats
    mode http
    bind 127.0.0.1:{p[lb_stats_port_name(name)]}
    stats enable
    stats uri /stats
    stats refresh 5s

listen postgres-rw
    mode tcp
    bind 127.0.0.1:{p["haproxy-rw"]}
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions
{pg_servers}

listen chat
    mode http
    bind 127.0.0.1:{p["haproxy-chat"]}
    maxconn {LB_MAXCONN}
    # leastconn, not roundrobin: a WebSocket holds its replica for hours, so round robin piles them up
    # unevenly - after a rolling restart the first replica held 25-27 of 40 sockets and the last none
    # (issue 17); leastconn sends each new socket, and each short request, to the least busy replica.
    balance leastconn
    option redispatch
    retries 2
    timeout tunnel 1h
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 250ms fall 2 rise 1
{chat_servers}
"""


def proxies_json(state: StackState) -> str:
    """The fault proxy's proxies (the Toxiproxy /populate body): chat -> HAProxy-RW, chat -> Redis."""
    p = state.ports
    proxies = [
        {
            "name": "postgres",
            "listen": f"127.0.0.1:{p['proxy-postgres']}",
            "upstream": f"127.0.0.1:{p['haproxy-rw']}",
            "enabled": True,
        },
        {
            "name": "redis",
            "listen": f"127.0.0.1:{p['proxy-redis']}",
            "upstream": f"127.0.0.1:{p['redis']}",
            "enabled": True,
        },
    ]
    return json.dumps(proxies, indent=2)
