"""Toxiproxy's HTTP API on aiohttp: routes, status codes, bodies and headers as the Go server sends them.

Routing is done here rather than by aiohttp's router so that unknown paths answer ``404 page not
found`` and wrong methods an empty 405, exactly like gorilla/mux; the browser guard (``Mozilla/``
user agents get 403) and the ``X-Toxiproxy-Request-Id`` header apply to every matched route.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from resilience.netfault._gojson import GoJSONError, as_bool, as_string, decode_first, go_kind
from resilience.netfault._gojson import field as go_field
from resilience.netfault.addr import upstream_error
from resilience.netfault.model import (
    PROXY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_NOT_FOUND,
    ApiError,
    Toxic,
    bad_body,
    missing_field,
)
from resilience.netfault.proxy import ALREADY_STARTED, Proxy

__all__ = ["EXPIRES_HEADER", "LEASE_HEADER", "VERSION", "Api", "ProxySpec", "build_app", "parse_populate"]

log = logging.getLogger(__name__)

VERSION = "2.12.0"
_XID = "0123456789abcdefghijklmnopqrstuv"
_POPULATE_TYPE = '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


def _request_id() -> str:
    return "".join(secrets.choice(_XID) for _ in range(20))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data, separators=(",", ":")).encode(), content_type="application/json"
    )


def _error(err: ApiError) -> web.Response:
    """Go's ``http.Error``: the JSON error as text/plain, with a newline."""
    body = json.dumps(err.to_json(), separators=(",", ":")) + "\n"
    return web.Response(
        status=err.status, text=body, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


LEASE_HEADER = "X-Netfault-Lease-Seconds"
"""Request header (toxic create/update): the toxic removes itself after this many seconds unless renewed;
(proxy update disabling it): the proxy listens again after this many seconds unless renewed by another
leased disable. An extension for the harness's dead-man switch; the real Toxiproxy ignores the header."""
EXPIRES_HEADER = "X-Netfault-Lease-Expires"
"""Response header on a leased toxic: when it expires, in epoch seconds."""


def _lease(request: web.Request) -> float | None:
    raw = request.headers.get(LEASE_HEADER)
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ApiError(f"{LEASE_HEADER} must be a positive number of seconds, not {raw!r}", 400)
    return seconds


def _toxic_json(toxic: Toxic) -> web.Response:
    response = _json(toxic.to_json())
    if toxic.expires_at is not None:
        response.headers[EXPIRES_HEADER] = f"{toxic.expires_at:.3f}"
    return response


class ProxySpec:
    """One proxy as given to POST /proxies or /populate."""

    def __init__(self, name: str, listen: str, upstream: str, enabled: bool) -> None:
        self.name, self.listen, self.upstream, self.enabled = name, listen, upstream, enabled


def _proxy_fields(obj: dict[str, Any], defaults: dict[str, Any], struct: str) -> dict[str, Any]:
    out = dict(defaults)
    for key, conv in (("name", as_string), ("listen", as_string), ("upstream", as_string), ("enabled", as_bool)):
        present, value = go_field(obj, key)
        if present and value is not None:
            try:
                out[key] = conv(value, struct, key)
            except GoJSONError as exc:
                raise bad_body(exc) from None
    return out


def _decode(body: bytes, type_name: str, want: type) -> Any:
    try:
        value = decode_first(body)
    except GoJSONError as exc:
        raise bad_body(exc) from None
    if value is not None and not isinstance(value, want):
        raise bad_body(GoJSONError(f"json: cannot unmarshal {go_kind(value)} into Go value of type {type_name}"))
    return value


def check_upstream(upstream: str, where: str = "") -> None:
    """400 for an upstream that can never be dialled (``127.0.0.1:abc``, no port). Toxiproxy accepts it
    and then closes every client it accepts; refusing it up front names the mistake."""
    why = upstream_error(upstream)
    if why is not None:
        raise ApiError(f"invalid upstream{where}: {why}", 400)


def parse_populate(body: bytes) -> list[ProxySpec]:
    """Validate a whole /populate body (or config file) first: Toxiproxy's ``PopulateJson`` checks."""
    items = _decode(body, _POPULATE_TYPE, list) or []
    specs = []
    for item in items:
        if item is not None and not isinstance(item, dict):
            raise bad_body(
                GoJSONError(f"json: cannot unmarshal {go_kind(item)} into Go value of type {_POPULATE_TYPE[2:]}")
            )
        f = _proxy_fields(item or {}, {"name": "", "listen": "", "upstream": "", "enabled": True}, "")
        specs.append(ProxySpec(**f))
    for i, spec in enumerate(specs, start=1):
        if not spec.name:
            raise missing_field(f"name at proxy {i}")
        if not spec.upstream:
            raise missing_field(f"upstream at proxy {i}")
        check_upstream(spec.upstream, f" at proxy {i}")
    return specs


class Api:
    """The proxy collection and its HTTP handlers."""

    def __init__(self, *, listen_any: bool = False) -> None:
        """``listen_any``: wildcard proxy listen addresses bind every interface (default: loopback only)."""
        self.listen_any = listen_any
        self.proxies: dict[str, Proxy] = {}
        self.routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"/reset"), {"POST": self.reset}),
            (re.compile(r"/proxies"), {"GET": self.proxy_index, "POST": self.proxy_create}),
            (re.compile(r"/populate"), {"POST": self.populate}),
            (
                re.compile(r"/proxies/(?P<proxy>[^/]+)"),
                {
                    "GET": self.proxy_show,
                    "POST": self.proxy_update,
                    "PATCH": self.proxy_update,
                    "DELETE": self.proxy_delete,
                },
            ),
            (re.compile(r"/proxies/(?P<proxy>[^/]+)/toxics"), {"GET": self.toxic_index, "POST": self.toxic_create}),
            (
                re.compile(r"/proxies/(?P<proxy>[^/]+)/toxics/(?P<toxic>[^/]+)"),
                {
                    "GET": self.toxic_show,
                    "POST": self.toxic_update,
                    "PATCH": self.toxic_update,
                    "DELETE": self.toxic_delete,
                },
            ),
            (re.compile(r"/version"), {"GET": self.version}),
        ]

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        for pattern, methods in self.routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                return web.Response(status=405)
            response = await self._guarded(handler, request, match.groupdict())
            response.headers["X-Toxiproxy-Request-Id"] = _request_id()
            return response
        return web.Response(
            status=404,
            text="404 page not found\n",
            content_type="text/plain",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _guarded(self, handler: Handler, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        if request.headers.get("User-Agent", "").startswith("Mozilla/"):
            return web.Response(
                status=403,
                text="User agent not allowed\n",
                content_type="text/plain",
                headers={"X-Content-Type-Options": "nosniff"},
            )
        try:
            return await handler(request, args)
        except ApiError as err:
            return _error(err)

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    # ---- proxies ---------------------------------------------------------------------------------
    async def proxy_index(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        return _json({name: self.proxies[name].to_json() for name in sorted(self.proxies)})

    async def proxy_create(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        obj = _decode(await request.read(), "toxiproxy.Proxy", dict) or {}
        f = _proxy_fields(obj, {"name": "", "listen": "", "upstream": "", "enabled": True}, "Proxy")
        if not f["name"]:
            raise missing_field("name")
        if not f["upstream"]:
            raise missing_field("upstream")
        if f["name"] in self.proxies:
            raise PROXY_EXISTS
        check_upstream(f["upstream"])
        proxy = Proxy(f["name"], f["listen"], f["upstream"], listen_any=self.listen_any)
        if f["enabled"]:
            proxy.start()
        self.proxies[proxy.name] = proxy
        return _json(proxy.to_json(), 201)

    async def populate(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        done: list[Proxy] = []
        try:
            self.apply(parse_populate(await request.read()), done)
        except ApiError as err:
            return _json({**err.to_json(), "proxies": [p.to_json() for p in done] or None}, err.status)
        return _json({"proxies": [p.to_json() for p in done] or None}, 201)

    def apply(self, specs: list[ProxySpec], done: list[Proxy]) -> None:
        """Toxiproxy's ``AddOrReplace`` for each spec in order; ``done`` collects the proxies so far."""
        for spec in specs:
            existing = self.proxies.get(spec.name)
            if existing is not None:
                if not existing.differs(spec.listen, spec.upstream):
                    done.append(existing)
                    continue
                existing.discard()
            proxy = Proxy(spec.name, spec.listen, spec.upstream, listen_any=self.listen_any)
            if spec.enabled:
                proxy.start()
            self.proxies[proxy.name] = proxy
            done.append(proxy)

    async def proxy_show(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        return _json(self.get(args["proxy"]).to_json())

    async def proxy_update(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        proxy = self.get(args["proxy"])
        defaults = {"name": proxy.name, "listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled}
        lease = _lease(request)
        obj = _decode(await request.read(), "toxiproxy.Proxy", dict) or {}
        f = _proxy_fields(obj, defaults, "Proxy")
        if f["upstream"] != proxy.upstream:
            check_upstream(f["upstream"])
        proxy.update(f["listen"], f["upstream"], f["enabled"])
        if lease is not None and not proxy.enabled:
            proxy.lease_down(lease)
        response = _json(proxy.to_json())
        if proxy.down_expires_at is not None:
            response.headers[EXPIRES_HEADER] = f"{proxy.down_expires_at:.3f}"
        return response

    async def proxy_delete(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        proxy = self.get(args["proxy"])
        proxy.discard()
        del self.proxies[proxy.name]
        return web.Response(status=204)

    async def reset(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        for proxy in list(self.proxies.values()):
            try:
                proxy.start()
            except ApiError as err:
                if err is not ALREADY_STARTED:
                    raise
            await proxy.toxics.reset()
        return web.Response(status=204)

    async def version(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        return web.Response(
            body=f'{{"version": "{VERSION}"}}\n'.encode(), headers={"Content-Type": "application/json;charset=utf-8"}
        )

    # ---- toxics ----------------------------------------------------------------------------------
    async def toxic_index(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        return _json([t.to_json() for t in self.get(args["proxy"]).toxics.all()])

    async def toxic_create(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        proxy = self.get(args["proxy"])
        toxic = await proxy.toxics.add(await request.read(), _lease(request))
        return _toxic_json(toxic)

    async def toxic_show(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        toxic = self.get(args["proxy"]).toxics.find(args["toxic"])
        if toxic is None:
            raise TOXIC_NOT_FOUND
        return _toxic_json(toxic)

    async def toxic_update(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        proxy = self.get(args["proxy"])
        toxic = await proxy.toxics.update(args["toxic"], await request.read(), _lease(request))
        return _toxic_json(toxic)

    async def toxic_delete(self, request: web.Request, args: dict[str, str]) -> web.StreamResponse:
        await self.get(args["proxy"]).toxics.remove(args["toxic"])
        return web.Response(status=204)

    def stop_all(self) -> None:
        for proxy in self.proxies.values():
            proxy.discard()


def build_app(api: Api) -> web.Application:
    """An aiohttp application whose every request goes through ``api.dispatch``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api.dispatch)
    return app
