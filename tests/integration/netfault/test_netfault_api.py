"""Toxiproxy's HTTP API as the fault proxy serves it (the scenarios of Toxiproxy's api_test.go)."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest
import requests

from tests.integration.netfault.conftest import connect, round_trip
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


def _post(api: str, path: str, body: Any = None, data: bytes | None = None) -> requests.Response:
    return requests.post(f"{api}{path}", json=body, data=data, timeout=10)


def _create(api: str, name: str, upstream: str = "127.0.0.1:1", **extra: Any) -> dict[str, Any]:
    r = _post(api, "/proxies", {"name": name, "upstream": upstream, "listen": "127.0.0.1:0", **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _error(r: requests.Response) -> tuple[int, str]:
    assert r.text.endswith("\n")
    body = r.json()
    assert body["status"] == r.status_code
    return r.status_code, body["error"]


def _listening(listen: str) -> bool:
    host, port = listen.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return False
    return True


def test_request_id_and_version(api: str) -> None:
    """GET /version answers Toxiproxy's JSON with a request id header."""
    r = requests.get(f"{api}/version", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"version": "2.12.0"}
    assert re.fullmatch(r"[0-9a-v]{20}", r.headers["X-Toxiproxy-Request-Id"])


def test_browser_user_agent_gets_403(api: str) -> None:
    """A Mozilla/ user agent is refused with 403 `User agent not allowed`; others get 200."""
    r = requests.get(f"{api}/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"}, timeout=10)
    assert (r.status_code, r.text) == (403, "User agent not allowed\n")
    assert requests.get(f"{api}/proxies", headers={"User-Agent": "curl/8"}, timeout=10).status_code == 200


def test_unknown_path_and_wrong_method(api: str) -> None:
    """Unknown paths get mux's text 404; a known path with a wrong method an empty 405."""
    r = requests.get(f"{api}/nothing/here", timeout=10)
    assert (r.status_code, r.text) == (404, "404 page not found\n")
    r = requests.put(f"{api}/proxies", timeout=10)
    assert (r.status_code, r.text) == (405, "")


def test_index_with_no_proxies(api: str) -> None:
    """GET /proxies on an empty server is an empty JSON object."""
    assert requests.get(f"{api}/proxies", timeout=10).json() == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
    ],
)
def test_create_proxy_missing_fields(api: str, body: dict[str, str], message: str) -> None:
    """A proxy without name or upstream is refused with 400 and Toxiproxy's message."""
    assert _error(_post(api, "/proxies", body)) == (400, message)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "bad request body: EOF"),
        (b"{", "bad request body: unexpected EOF"),
        (b"{x", "bad request body: invalid character 'x' looking for beginning of object key string"),
        (
            b'{"name": 5}',
            "bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string",
        ),
    ],
)
def test_create_proxy_malformed_json(api: str, data: bytes, message: str) -> None:
    """Malformed bodies get Go's decoder messages behind `bad request body:`."""
    assert _error(_post(api, "/proxies", data=data)) == (400, message)


def test_create_get_list_delete_proxy(api: str, echo_server: str) -> None:
    """Create (201, listen resolved), show, list, delete (204), then 404 `proxy not found`."""
    created = _create(api, "one", echo_server)
    assert created["enabled"] is True
    assert created["toxics"] == []
    assert re.fullmatch(r"127\.0\.0\.1:\d+", created["listen"]) and not created["listen"].endswith(":0")
    assert requests.get(f"{api}/proxies/one", timeout=10).json() == created
    assert requests.get(f"{api}/proxies", timeout=10).json() == {"one": created}
    with connect(created["listen"]) as sock:
        round_trip(sock)
    r = requests.delete(f"{api}/proxies/one", timeout=10)
    assert (r.status_code, r.text) == (204, "")
    assert not _listening(created["listen"])
    assert _error(requests.get(f"{api}/proxies/one", timeout=10)) == (404, "proxy not found")
    assert _error(requests.delete(f"{api}/proxies/one", timeout=10)) == (404, "proxy not found")


def test_create_disabled_proxy_and_enable(api: str) -> None:
    """A proxy created disabled does not listen until `{"enabled": true}` is posted."""
    port = free_port()
    r = _post(
        api, "/proxies", {"name": "d", "upstream": "127.0.0.1:1", "listen": f"127.0.0.1:{port}", "enabled": False}
    )
    assert r.status_code == 201 and r.json()["enabled"] is False
    assert not _listening(f"127.0.0.1:{port}")
    r = requests.patch(f"{api}/proxies/d", json={"enabled": True}, timeout=10)
    assert r.status_code == 200 and r.json()["enabled"] is True
    assert _listening(f"127.0.0.1:{port}")


def test_port_and_name_conflicts(api: str) -> None:
    """Same name -> 409 `proxy already exists`; a port in use -> 500 with the bind error; others keep serving."""
    first = _create(api, "one")
    assert _error(_post(api, "/proxies", {"name": "one", "upstream": "127.0.0.1:2"})) == (409, "proxy already exists")
    status, message = _error(
        _post(api, "/proxies", {"name": "two", "upstream": "127.0.0.1:2", "listen": first["listen"]})
    )
    assert (status, message) == (500, f"listen tcp {first['listen']}: bind: address already in use")
    assert "two" not in requests.get(f"{api}/proxies", timeout=10).json()
    assert _listening(first["listen"])
    assert requests.delete(f"{api}/proxies/one", timeout=10).status_code == 204
    r = _post(api, "/proxies", {"name": "two", "upstream": "127.0.0.1:2", "listen": first["listen"]})
    assert r.status_code == 201 and r.json()["listen"] == first["listen"]  # the failed start left nothing behind


def test_update_proxy_upstream_and_listen(api: str, echo_server: str) -> None:
    """POST /proxies/{p} with a new upstream restarts it on the same listen address; old connections close."""
    created = _create(api, "one", "127.0.0.1:1")
    r = _post(api, "/proxies/one", {"upstream": echo_server})
    assert r.status_code == 200
    assert r.json()["upstream"] == echo_server and r.json()["listen"] == created["listen"]
    with connect(created["listen"]) as sock:
        round_trip(sock)
        new_port = free_port()
        r = requests.patch(f"{api}/proxies/one", json={"listen": f"127.0.0.1:{new_port}"}, timeout=10)
        assert r.json()["listen"] == f"127.0.0.1:{new_port}"
        sock.settimeout(5)
        assert sock.recv(10) == b""
    assert not _listening(created["listen"])
    with connect(f"127.0.0.1:{new_port}") as sock:
        round_trip(sock)


def test_populate_creates_keeps_and_replaces(api: str) -> None:
    """/populate keeps an identical proxy (and its toxics), replaces a changed one, creates new ones."""
    one, two = free_port(), free_port()
    _post(api, "/proxies", {"name": "one", "upstream": "localhost:7171", "listen": f"localhost:{one}"})
    _post(api, "/proxies", {"name": "two", "upstream": "localhost:7474", "listen": f"127.0.0.1:{two}"})
    assert _post(api, "/proxies/one/toxics", {"type": "latency"}).status_code == 200
    three = free_port()
    r = _post(
        api,
        "/populate",
        [
            {"name": "one", "listen": f"localhost:{one}", "upstream": "localhost:7171"},
            {"name": "two", "listen": f"127.0.0.1:{three}", "upstream": "localhost:7676"},
            {"name": "off", "listen": "127.0.0.1:0", "upstream": "localhost:7676", "enabled": False},
        ],
    )
    assert r.status_code == 201
    proxies = r.json()["proxies"]
    assert [p["name"] for p in proxies] == ["one", "two", "off"]
    assert proxies[0]["listen"] == f"127.0.0.1:{one}" and len(proxies[0]["toxics"]) == 1
    assert proxies[1]["listen"] == f"127.0.0.1:{three}" and proxies[1]["upstream"] == "localhost:7676"
    assert proxies[2]["enabled"] is False
    assert _listening(f"127.0.0.1:{one}") and _listening(f"127.0.0.1:{three}")
    assert not _listening(f"127.0.0.1:{two}")


def test_populate_validates_everything_first(api: str) -> None:
    """A missing name in entry 2 fails the whole /populate with 400 and creates nothing."""
    r = _post(
        api, "/populate", [{"name": "one", "listen": "127.0.0.1:0", "upstream": "x:1"}, {"name": "", "upstream": "x:2"}]
    )
    assert r.status_code == 400
    assert r.json() == {"error": "missing required field: name at proxy 2", "status": 400, "proxies": None}
    assert requests.get(f"{api}/proxies", timeout=10).json() == {}


def test_populate_bad_listen_stops_part_way(api: str) -> None:
    """A listen error part-way answers 500 with the proxies done so far; later entries are not created."""
    r = _post(
        api,
        "/populate",
        [
            {"name": "one", "listen": "127.0.0.1:0", "upstream": "x:1"},
            {"name": "two", "listen": "local373", "upstream": "x:2"},
            {"name": "three", "listen": "127.0.0.1:0", "upstream": "x:3"},
        ],
    )
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "listen tcp: address local373: missing port in address"
    assert [p["name"] for p in body["proxies"]] == ["one"]
    assert sorted(requests.get(f"{api}/proxies", timeout=10).json()) == ["one"]


def test_populate_empty_and_malformed(api: str) -> None:
    """An empty list answers `{"proxies": null}`; a non-list gets Go's unmarshal error."""
    r = _post(api, "/populate", [])
    assert (r.status_code, r.json()) == (201, {"proxies": None})
    r = _post(api, "/populate", {"name": "x"})
    assert r.status_code == 400
    assert r.json()["error"].startswith(
        "bad request body: json: cannot unmarshal object into Go value of type []struct"
    )


def test_toxic_crud_and_defaults(api: str) -> None:
    """Toxics get default name/stream/toxicity, list upstream first, update merges attributes, delete 204."""
    _create(api, "p")
    r = _post(api, "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 100, "jitter": 10}})
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {"latency": 100, "jitter": 10},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }
    _post(api, "/proxies/p/toxics", {"type": "latency", "stream": "upstream", "attributes": None})
    _post(api, "/proxies/p/toxics", {"type": "noop", "name": "n", "stream": "Upstream", "toxicity": 0.2})
    names = [t["name"] for t in requests.get(f"{api}/proxies/p/toxics", timeout=10).json()]
    assert names == ["latency_upstream", "n", "latency_downstream"]
    r = _post(api, "/proxies/p/toxics/latency_downstream", {"attributes": {"latency": 1000}, "toxicity": 0.5})
    assert r.json()["attributes"] == {"latency": 1000, "jitter": 10} and r.json()["toxicity"] == 0.5
    r = requests.patch(f"{api}/proxies/p/toxics/latency_downstream", json={"attributes": {"latency": 500}}, timeout=10)
    assert r.json()["attributes"] == {"latency": 500, "jitter": 10} and r.json()["toxicity"] == 0.5
    assert requests.get(f"{api}/proxies/p/toxics/n", timeout=10).json()["toxicity"] == 0.2
    assert requests.delete(f"{api}/proxies/p/toxics/n", timeout=10).status_code == 204
    assert _error(requests.get(f"{api}/proxies/p/toxics/n", timeout=10)) == (404, "toxic not found")
    assert _error(requests.delete(f"{api}/proxies/p/toxics/n", timeout=10)) == (404, "toxic not found")
    assert _error(_post(api, "/proxies/p/toxics/n", {"toxicity": 1})) == (404, "toxic not found")
    assert _error(_post(api, "/proxies/nope/toxics", {"type": "noop"})) == (404, "proxy not found")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "latency", "stream": "sideways"}, "stream was invalid, can be either upstream or downstream"),
        ({"type": "nope"}, "invalid toxic type"),
        ({"type": "nope", "stream": "sideways"}, "stream was invalid, can be either upstream or downstream"),
        (
            {"type": "latency", "attributes": {"latency": "abc"}},
            "bad request body: json: cannot unmarshal string into Go struct field .attributes.latency of type int64",
        ),
    ],
)
def test_bad_toxics_get_400(api: str, body: dict[str, Any], message: str) -> None:
    """Bad stream, unknown type and bad attributes get Toxiproxy's 400 errors in its precedence."""
    _create(api, "p")
    assert _error(_post(api, "/proxies/p/toxics", body)) == (400, message)
    assert requests.get(f"{api}/proxies/p/toxics", timeout=10).json() == []


def test_conflicting_toxic_names(api: str) -> None:
    """A toxic name is unique across both streams: 409 `toxic already exists`."""
    _create(api, "p")
    _post(api, "/proxies/p/toxics", {"type": "latency", "name": "t"})
    assert _error(_post(api, "/proxies/p/toxics", {"type": "latency", "name": "t", "stream": "upstream"})) == (
        409,
        "toxic already exists",
    )
    assert _error(_post(api, "/proxies/p/toxics", {"type": "latency", "name": "t"})) == (409, "toxic already exists")


def test_reset_enables_proxies_and_removes_toxics(api: str) -> None:
    """POST /reset re-enables every proxy and removes every toxic, keeping the proxies."""
    created = _create(api, "p")
    _post(api, "/proxies/p/toxics", {"type": "latency"})
    _post(api, "/proxies/p", {"enabled": False})
    assert requests.post(f"{api}/reset", timeout=10).status_code == 204
    shown = requests.get(f"{api}/proxies/p", timeout=10).json()
    assert shown["enabled"] is True and shown["toxics"] == [] and shown["listen"] == created["listen"]
    assert _listening(created["listen"])


def test_wildcard_listen_binds_loopback_only(api: str, echo_server: str) -> None:
    """chaostoolkit-toxiproxy's default listen 0.0.0.0:0 binds 127.0.0.1 (not every interface) unless the
    server runs with --listen-any; it reads back as the bound address and clients on 127.0.0.1 reach it."""
    for listen in ("0.0.0.0:0", "", ":0", "[::]:0"):
        created = _create(api, f"wild{len(listen)}", echo_server, listen=listen)
        assert re.fullmatch(r"127\.0\.0\.1:\d+", created["listen"]), (listen, created)
        with connect(created["listen"]) as sock:
            round_trip(sock)


def test_bad_input_gets_400s_and_the_api_keeps_serving(api: str, echo_server: str) -> None:
    """A 5,000-digit integer, 100,000 nested brackets, NaN toxicity, a slicer that cannot stop splitting and
    an upstream with port `abc` are 400s (not 500s with a traceback, not a spinning event loop); the proxy's
    data plane and the API keep serving."""
    created = _create(api, "p", echo_server)
    bad = [
        ("/proxies/p/toxics", b'{"type": "latency", "attributes": {"latency": ' + b"9" * 5000 + b"}}"),
        ("/proxies/p/toxics", b"[" * 100_000),
        ("/proxies/p/toxics", b'{"type": "noop", "toxicity": NaN}'),
        ("/proxies/p/toxics", b'{"type": "slicer", "attributes": {"average_size": 0}}'),
        ("/proxies", b'{"name": "q", "upstream": "127.0.0.1:abc"}'),
        ("/proxies/p", b'{"upstream": "127.0.0.1"}'),
        ("/populate", b'[{"name": "q", "upstream": "127.0.0.1:abc"}]'),
    ]
    for path, body in bad:
        r = _post(api, path, data=body)
        assert r.status_code == 400, (path, body[:60], r.status_code, r.text[:200])
        assert "Traceback" not in r.text
    assert requests.get(f"{api}/version", timeout=10).status_code == 200
    assert requests.get(f"{api}/proxies/p", timeout=10).json()["upstream"] == echo_server
    with connect(created["listen"]) as sock:
        round_trip(sock)
