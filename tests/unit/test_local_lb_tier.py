"""The local stack's load-balancer tier: HAProxy processes sharing the chat and read-write ports, each with
its own stats port and admin socket, sized by the users the stack is for; one merged view of the tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.targets.local import configs, wiring
from resilience.targets.local.configs import Binaries
from resilience.targets.local.layout import (
    DB_NODES,
    Layout,
    Secrets,
    StackState,
    lb_processes_for,
    lb_stats_port_name,
    port_names,
    replicas_for,
)
from resilience.targets.local.view import merge_lb_servers
from resilience.targets.local.waiting import port_names_of

pytestmark = pytest.mark.unit

LAYOUT = Layout(Path("/srv/state"))
BINS = Binaries("/venv/bin/python", "/usr/bin/etcd", "/usr/sbin/haproxy", "/usr/bin/redis", "/usr/bin/prom", "/pg")
SECRETS = Secrets(superuser="su", replication="rep", chat_db="chatpw", patroni_api="api", jwt="jwt", issuer="iss")


def _state(lbs: int = 3) -> StackState:
    names = port_names(3, lbs)
    state = StackState(replicas=3, ports={n: 30000 + i for i, n in enumerate(names)}, scope="rs-t", lb_processes=lbs)
    state.components = ["etcd", "redis", *state.lb_names(), "toxiproxy", *DB_NODES, *state.chat_names()]
    return state


def test_a_plain_up_sizes_the_tier_for_10000_users() -> None:
    """10,000 users: 3 HAProxy processes (8,000 each plus one spare), at least one chat replica (the default
    three stay); small stacks keep two processes, 30,000 users get five and at least two replicas."""
    assert (lb_processes_for(10_000), replicas_for(10_000)) == (3, 1)
    assert lb_processes_for(100) == 2
    assert (lb_processes_for(30_000), replicas_for(30_000)) == (5, 2)


def test_every_process_binds_the_shared_ports_with_its_own_stats_and_socket() -> None:
    """Each process's config binds the same chat and read-write ports, its own stats port and admin socket,
    and allows 9,000 connections (18,000 descriptors under the 20,000 limit)."""
    state = _state()
    cfgs = {name: wiring.haproxy_cfg(state, LAYOUT, name) for name in state.lb_names()}
    assert list(cfgs) == ["haproxy", "haproxy-2", "haproxy-3"]
    stats = {state.ports[lb_stats_port_name(n)] for n in cfgs}
    assert len(stats) == 3
    for name, cfg in cfgs.items():
        assert f"bind 127.0.0.1:{state.ports['haproxy-chat']}" in cfg
        assert f"bind 127.0.0.1:{state.ports['haproxy-rw']}" in cfg
        assert f"bind 127.0.0.1:{state.ports[lb_stats_port_name(name)]}" in cfg
        assert f"stats socket /srv/state/run/{name}.sock mode 600 level admin" in cfg
        assert "maxconn 9000" in cfg
        assert "noreuseport" not in cfg


def test_each_process_is_a_supervised_program_and_supervisord_passes_the_fd_limit_on() -> None:
    """One supervisord program per HAProxy process (app=haproxy, its own config file); minfds is the hard
    limit so that children may hold thousands of sockets."""
    state = _state()
    progs = {p.name: p for p in configs.programs(state, SECRETS, LAYOUT, BINS)}
    for name in state.lb_names():
        assert progs[name].labels == {"app": "haproxy"}
        assert progs[name].argv[-1] == f"/srv/state/conf/{name}.cfg"
    text = configs.supervisord_conf(list(progs.values()), LAYOUT, state.scope, minfds=20000)
    assert "minfds=20000" in text


def test_a_bind_failure_names_the_shared_ports_and_the_process_own_stats_port() -> None:
    """haproxy-2 that cannot bind: its ports are the shared two and its own stats port."""
    state = _state()
    assert sorted(port_names_of("haproxy-2", state.ports)) == ["haproxy-chat", "haproxy-rw", "haproxy-stats-2"]


def test_the_tier_view_is_up_only_where_every_answering_process_says_up() -> None:
    """A replica drained in one process is not UP for the tier; a process that does not answer is left out;
    no answer at all is None."""
    up = {("chat", "chat-1"): "UP", ("chat", "chat-2"): "UP"}
    drained = {("chat", "chat-1"): "DRAIN", ("chat", "chat-2"): "UP"}
    merged = merge_lb_servers({"haproxy": up, "haproxy-2": drained, "haproxy-3": None})
    assert merged == {("chat", "chat-1"): "DRAIN", ("chat", "chat-2"): "UP"}
    assert merge_lb_servers({"haproxy": None}) is None
