"""Generated configuration of the local stack: the measured failover settings and the wiring."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest
import yaml

from resilience.errors import ConfigError
from resilience.targets.local import configs, wiring
from resilience.targets.local.configs import Binaries
from resilience.targets.local.layout import DB_NODES, Layout, Secrets, StackState, port_names

pytestmark = pytest.mark.unit

BINS = Binaries(
    python="/venv/bin/python",
    etcd="/usr/bin/etcd",
    haproxy="/usr/sbin/haproxy",
    redis="/usr/bin/redis-server",
    prometheus="/usr/bin/prometheus",
    pg_bin="/usr/lib/postgresql/15/bin",
)


def _state(replicas: int = 3) -> StackState:
    names = port_names(replicas)
    state = StackState(replicas=replicas, ports={n: 20000 + i for i, n in enumerate(names)}, scope="rs-test")
    state.components = ["etcd", "redis", "haproxy", "prometheus", "toxiproxy", *DB_NODES, *state.chat_names()]
    return state


SECRETS = Secrets(superuser="su", replication="rep", chat_db="chatpw", patroni_api="api", jwt="jwt", issuer="iss")
LAYOUT = Layout(Path("/srv/state"))


def _supervisord() -> configparser.RawConfigParser:
    state = _state()
    text = configs.supervisord_conf(configs.programs(state, SECRETS, LAYOUT, BINS), LAYOUT, state.scope)
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def test_patroni_runs_quorum_commit_with_fast_failover_settings() -> None:
    """Patroni's bootstrap DCS config carries quorum commit (ANY 1), TTL 20, loop 1 s, fail-over-on-crash."""
    conf = yaml.safe_load(configs.patroni_yaml("pg-2", _state(), SECRETS, LAYOUT, BINS))
    dcs = conf["bootstrap"]["dcs"]
    assert (dcs["synchronous_mode"], dcs["synchronous_node_count"]) == ("quorum", 1)
    assert (dcs["ttl"], dcs["loop_wait"], dcs["primary_start_timeout"]) == (20, 1, 0)
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert conf["name"] == "pg-2"
    assert conf["postgresql"]["data_dir"] == "/srv/state/data/pg-2"
    assert conf["etcd3"]["hosts"] == [f"127.0.0.1:{_state().ports['etcd']}"]


def test_haproxy_rw_checks_patroni_primary_endpoint_on_each_node() -> None:
    """The read-write backend health-checks /primary on each node's REST port and cuts sessions on down."""
    state = _state()
    cfg = wiring.haproxy_cfg(state, LAYOUT)
    assert "option httpchk GET /primary" in cfg
    assert "on-marked-down shutdown-sessions" in cfg
    assert "stats socket /srv/state/run/haproxy.sock mode 600 level admin" in cfg
    for node in DB_NODES:
        assert f"server {node} 127.0.0.1:{state.ports[node]} check port {state.ports[node + '-api']}" in cfg
    for name in state.chat_names():
        assert f"server {name} 127.0.0.1:{state.ports[name]} check" in cfg


def test_chat_backend_balances_by_least_connections() -> None:
    """WebSockets are long-lived: the chat backend picks the replica with the fewest connections (round
    robin left the last replica of a rolling restart with none of 40 sockets, issue 17)."""
    chat = wiring.haproxy_cfg(_state(), LAYOUT).split("listen chat", 1)[1]
    assert "balance leastconn" in chat
    assert "balance roundrobin" not in chat


def test_chat_reaches_data_stores_through_the_fault_proxy() -> None:
    """CHAT_DATABASE_URL and CHAT_REDIS_URL point at the fault proxy's listen ports, which lead on."""
    state = _state()
    env = configs.chat_env(state, SECRETS, "chat-2")
    assert f":{state.ports['proxy-postgres']}/chat" in env["CHAT_DATABASE_URL"]
    assert env["CHAT_REDIS_URL"].endswith(f":{state.ports['proxy-redis']}/0")
    assert (env["CHAT_REPLICA"], env["CHAT_ISSUER_SECRET"]) == ("chat-2", "iss")
    proxies = {p["name"]: p for p in json.loads(wiring.proxies_json(state))}
    assert proxies["postgres"]["upstream"] == f"127.0.0.1:{state.ports['haproxy-rw']}"
    assert proxies["redis"]["upstream"] == f"127.0.0.1:{state.ports['redis']}"


def test_chat_release_comes_from_the_replica_release() -> None:
    """A replica rolled to another release gets that CHAT_RELEASE; the others keep theirs."""
    state = _state()
    state.replica_releases = {"chat-1": "bad-errors"}
    assert configs.chat_env(state, SECRETS, "chat-1")["CHAT_RELEASE"] == "bad-errors"
    assert configs.chat_env(state, SECRETS, "chat-2")["CHAT_RELEASE"] == "good"


def test_supervisord_programs_mark_the_stack_and_run_patroni_as_postgres() -> None:
    """Every program carries the stack marker; Patroni runs as postgres with KILL as its stop signal."""
    parser = _supervisord()
    programs = [s.removeprefix("program:") for s in parser.sections() if s.startswith("program:")]
    assert programs == ["etcd", "redis", "haproxy", "prometheus", "toxiproxy", *DB_NODES, "chat-1", "chat-2", "chat-3"]
    for name in programs:
        assert 'RESILIENCE_STACK="rs-test"' in parser.get(f"program:{name}", "environment")
        assert parser.get(f"program:{name}", "autostart") == "false"
    pg = parser["program:pg-1"]
    assert (pg["user"], pg["stopsignal"], pg["autorestart"]) == ("postgres", "KILL", "unexpected")
    assert parser["program:chat-1"]["autorestart"] == "true"
    assert parser["unix_http_server"]["file"] == "/srv/state/supervisor.sock"


def test_extra_chat_settings_reach_every_replica_but_cannot_override_managed_ones() -> None:
    """--chat-env values land in each replica's env; managed names, non-CHAT_ names and quotes are refused."""
    state = _state()
    state.chat_env = configs.validate_chat_env({"CHAT_RATE_LIMIT": "200", "CHAT_LOG_LEVEL": "DEBUG"})
    env = configs.chat_env(state, SECRETS, "chat-3")
    assert (env["CHAT_RATE_LIMIT"], env["CHAT_LOG_LEVEL"], env["CHAT_REPLICA"]) == ("200", "DEBUG", "chat-3")
    for bad in ({"CHAT_RELEASE": "bad-errors"}, {"PATH": "/x"}, {"CHAT_X": 'a"b'}, {"CHAT_DATABASE_URL": "x"}):
        with pytest.raises(ConfigError):
            configs.validate_chat_env(bad)
