"""Pure readings of the local stack: supervisord log, HAProxy stats, Patroni cluster, routing verdict."""

from __future__ import annotations

import pytest

from resilience.errors import ConfigError
from resilience.targets.base import DbNode, Pod
from resilience.targets.local.layout import StackState
from resilience.targets.local.probes import parse_cluster, parse_haproxy_csv
from resilience.targets.local.supervisor import count_restarts
from resilience.targets.local.target import parse_signal, pick_victims
from resilience.targets.local.view import db_routing_ok
from resilience.targets.local.waiting import port_names_of, startup_failure
from resilience.targets.local.writeprobe import outage_around

pytestmark = pytest.mark.unit

LOG = """2026-11-26 02:22:07,914 INFO spawned: 'chat-1' with pid 17765
2026-11-26 02:22:32,563 WARN exited: chat-1 (terminated by SIGKILL; not expected)
2026-11-26 02:22:32,564 INFO reaped unknown pid 17935 (exit status 0)
2026-11-26 02:22:33,378 WARN stopped: pg-2 (terminated by SIGKILL)
2026-11-26 02:22:34,000 INFO exited: pg-3 (exit status 0; expected)
2026-11-26 02:22:35,000 WARN exited: chat-1 (exit status 1; not expected)
2026-11-26 02:22:36,000 WARN exited: pg-1 (terminated by SIGKILL; not expected)
"""


def test_restarts_count_unexpected_exits_only() -> None:
    """Crashes count as restarts; supervisor stops and expected exits do not."""
    assert count_restarts(LOG) == {"chat-1": 2, "pg-1": 1}


CSV = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight
postgres-rw,FRONTEND,,,0,0,4096,0,0,0,0,0,0,,,,,OPEN,
postgres-rw,pg-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1
postgres-rw,pg-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1
postgres-rw,BACKEND,0,0,0,0,410,0,0,0,0,0,,0,0,0,0,UP,1
chat,chat-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/2,1
"""


def test_haproxy_csv_gives_server_statuses() -> None:
    """Servers map to their status; FRONTEND/BACKEND rows are left out."""
    assert parse_haproxy_csv(CSV) == {
        ("postgres-rw", "pg-1"): "UP",
        ("postgres-rw", "pg-2"): "DOWN",
        ("chat", "chat-1"): "UP 1/2",
    }


def test_patroni_cluster_roles_map_to_primary_and_sync_replica() -> None:
    """leader -> primary; sync_standby -> replica with sync; 3.x 'running' and 4.x 'streaming' both kept."""
    body = {
        "members": [
            {"name": "pg-2", "role": "leader", "state": "running"},
            {"name": "pg-1", "role": "sync_standby", "state": "streaming", "lag": 0},
            {"name": "pg-3", "role": "replica", "state": "running", "lag": "unknown"},
        ]
    }
    assert parse_cluster(body) == [
        DbNode("pg-1", "replica", "streaming", sync=True, lag_bytes=0),
        DbNode("pg-2", "primary", "running"),
        DbNode("pg-3", "replica", "running"),
    ]
    assert parse_cluster(None) == []


def test_routing_is_ok_only_with_leader_sync_replica_and_one_up_server_on_the_leader() -> None:
    """db_routing_ok wants exactly the leader UP in postgres-rw and a streaming sync replica."""
    nodes = [DbNode("pg-1", "primary", "running"), DbNode("pg-2", "replica", "streaming", sync=True)]
    up_leader = {("postgres-rw", "pg-1"): "UP", ("postgres-rw", "pg-2"): "DOWN"}
    assert db_routing_ok(nodes, up_leader)
    assert not db_routing_ok(nodes, {("postgres-rw", "pg-1"): "UP", ("postgres-rw", "pg-2"): "UP"})
    assert not db_routing_ok(nodes, {("postgres-rw", "pg-1"): "DOWN", ("postgres-rw", "pg-2"): "UP"})
    assert not db_routing_ok([nodes[0], DbNode("pg-2", "replica", "streaming")], up_leader)
    # still in the synchronous set but not streaming (a crashed replica restarting): no failover candidate
    assert not db_routing_ok([nodes[0], DbNode("pg-2", "replica", "running", sync=True)], up_leader)
    assert not db_routing_ok(None, up_leader)


def _pods(n: int) -> list[Pod]:
    return [Pod(f"chat-{i}", {"app": "chat-api"}, True, 100 + i) for i in range(n)]


def test_victims_by_count_or_percent_rounded_up() -> None:
    """count picks exactly that many; percent rounds up and picks at least one."""
    assert len(pick_victims(_pods(3), 2, None)) == 2
    assert len(pick_victims(_pods(3), None, 50)) == 2
    assert len(pick_victims(_pods(3), None, 1)) == 1
    assert len(pick_victims(_pods(3), None, None)) == 1
    assert len(set(p.name for p in pick_victims(_pods(5), 5, None))) == 5


@pytest.mark.parametrize(("count", "percent"), [(4, None), (0, None), (None, 0), (None, 150), (1, 50)])
def test_bad_kill_amounts_are_config_errors(count: int | None, percent: float | None) -> None:
    """More victims than pods, zero, a percent out of range, or both given: a ConfigError."""
    with pytest.raises(ConfigError):
        pick_victims(_pods(3), count, percent)


def test_signals_parse_by_name_short_name_or_number() -> None:
    """SIGKILL, KILL, kill and 9 are the same signal; nonsense is a ConfigError."""
    assert {parse_signal("SIGKILL"), parse_signal("KILL"), parse_signal("kill"), parse_signal("9")} == {parse_signal(9)}
    with pytest.raises(ConfigError, match="unknown signal"):
        parse_signal("SIGNOPE")


def test_startup_failure_reports_a_taken_port_with_its_number() -> None:
    """A bind error in a component's log becomes 'port taken' with the component's ports and log path."""
    state = StackState(
        replicas=1,
        ports={"haproxy-rw": 5001, "haproxy-chat": 5002, "redis": 5003, "pg-1": 5004, "pg-1-api": 5005},
        scope="s",
    )
    msg = startup_failure("haproxy", "[ALERT] Starting proxy chat: cannot bind socket", state, "/x/haproxy.log")
    assert "port taken" in msg and "5001" in msg and "5002" in msg and "/x/haproxy.log" in msg
    assert startup_failure("redis", "boom", state, "/x/redis.log") == "redis will not start: see /x/redis.log"
    assert port_names_of("pg-1", state.ports) == ["pg-1", "pg-1-api"]


def test_write_outage_spans_last_success_before_to_first_after() -> None:
    """The outage is the longest gap between successive acks ending after the fault start t."""
    oks = [1.0, 1.02, 1.04, 1.06, 2.5, 2.52]
    assert outage_around(oks, 1.05) == pytest.approx(1.44)
    assert outage_around(oks, 1.01) == pytest.approx(1.44)  # an ack after t but before the crash bit
    assert outage_around(oks, 2.51) == pytest.approx(0.02)
    assert outage_around(oks, 3.0) is None
