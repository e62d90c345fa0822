"""A proxy: a listener, its live connections (two ``Link``s each) and its toxics.

Follows Toxiproxy's ``Proxy`` / ``ToxicCollection``: the upstream is dialled once per accepted client
(a failed dial closes the client), disabling closes the listener and every connection, and a toxic
change is applied to every live link of its direction, in Toxiproxy's order, under one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import struct
import time
from typing import Any

from resilience.netfault.addr import AddrError, format_addr, go_errno, resolve, split_host_port
from resilience.netfault.link import Link
from resilience.netfault.model import TOXIC_NOT_FOUND, ApiError, Direction, Toxic, parse_toxic, update_toxic

__all__ = ["ALREADY_STARTED", "Conn", "Proxy", "ToxicSet"]

log = logging.getLogger(__name__)

ALREADY_STARTED = ApiError("Proxy already started", 500)
_LINGER_RST = struct.pack("ii", 1, 0)


class Conn:
    """One accepted client and its upstream connection."""

    def __init__(self, proxy: Proxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.links: dict[Direction, Link] = {}

    def start(self) -> None:
        chains = self.proxy.toxics.chains
        if any(t.type == "reset_peer" for chain in chains.values() for t in chain):
            for sock in (self.client, self.upstream):  # as Toxiproxy: SetLinger(0) when the link starts
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        self.links[Direction.UPSTREAM] = Link(self.client, self.upstream, self._link_done)
        self.links[Direction.DOWNSTREAM] = Link(self.upstream, self.client, self._link_done)
        for direction, link in self.links.items():
            link.start(list(chains[direction]))

    def _link_done(self, link: Link) -> None:
        other = next(lk for lk in self.links.values() if lk is not link)
        other.source_gone()
        link.dst.close()
        if all(lk.mode == "done" for lk in self.links.values()):
            self._closed()

    def abort(self) -> None:
        for link in self.links.values():
            link.abort()
        self._closed()

    def _closed(self) -> None:
        self.client.close()
        self.upstream.close()
        self.proxy.conns.discard(self)


class ToxicSet:
    """The toxics of one proxy, per direction in insertion order, and their application to live links."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.chains: dict[Direction, list[Toxic]] = {Direction.UPSTREAM: [], Direction.DOWNSTREAM: []}
        self.lock = asyncio.Lock()
        self._leases: dict[str, asyncio.TimerHandle] = {}
        self._expiring: set[asyncio.Task[None]] = set()

    def all(self) -> list[Toxic]:
        return self.chains[Direction.UPSTREAM] + self.chains[Direction.DOWNSTREAM]

    def find(self, name: str) -> Toxic | None:
        return next((t for t in self.all() if t.name == name), None)

    def _links(self, direction: Direction) -> list[Link]:
        return [conn.links[direction] for conn in list(self.proxy.conns) if direction in conn.links]

    async def add(self, body: bytes, lease: float | None = None) -> Toxic:
        """Toxiproxy's ``AddToxicJson``; with ``lease`` seconds the toxic removes itself unless renewed."""
        async with self.lock:
            toxic = parse_toxic(body, lambda name: self.find(name) is not None)
            self.chains[toxic.direction].append(toxic)
            if lease is not None:
                self._lease(toxic, lease)
            links = self._links(toxic.direction)
            await asyncio.gather(*(link.add_toxic(toxic) for link in links))
            return toxic

    async def update(self, name: str, body: bytes, lease: float | None = None) -> Toxic:
        """Toxiproxy's ``UpdateToxicJson``; a ``lease`` renews it (alone, it leaves live links untouched)."""
        async with self.lock:
            toxic = self.find(name)
            if toxic is None:
                raise TOXIC_NOT_FOUND
            attributes, toxicity = update_toxic(toxic, body)
            if lease is not None:
                self._lease(toxic, lease)
                if (attributes, toxicity) == (toxic.attributes, toxic.toxicity):
                    return toxic
            toxic.attributes, toxic.toxicity = attributes, toxicity
            index = self.chains[toxic.direction].index(toxic)
            await asyncio.gather(*(link.update_toxic(index) for link in self._links(toxic.direction)))
            return toxic

    async def remove(self, name: str) -> None:
        async with self.lock:
            toxic = self.find(name)
            if toxic is None:
                raise TOXIC_NOT_FOUND
            await self._remove(toxic)

    async def _remove(self, toxic: Toxic) -> None:
        timer = self._leases.pop(toxic.name, None)
        if timer is not None:
            timer.cancel()
        chain = self.chains[toxic.direction]
        index = chain.index(toxic)
        del chain[index]
        await asyncio.gather(*(link.remove_toxic(index) for link in self._links(toxic.direction)))

    async def reset(self) -> None:
        async with self.lock:
            for chain in self.chains.values():
                while chain:
                    await self._remove(chain[0])

    # ---- leases (dead-man switch; an extension the real Toxiproxy ignores) -------------------------
    def _lease(self, toxic: Toxic, seconds: float) -> None:
        timer = self._leases.pop(toxic.name, None)
        if timer is not None:
            timer.cancel()
        toxic.expires_at = time.time() + seconds
        self._leases[toxic.name] = asyncio.get_running_loop().call_later(seconds, self._expire, toxic)

    def _expire(self, toxic: Toxic) -> None:
        task = asyncio.get_running_loop().create_task(self._expire_now(toxic))
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)

    async def _expire_now(self, toxic: Toxic) -> None:
        async with self.lock:
            if any(t is toxic for t in self.all()):
                log.warning("proxy %s: lease of toxic %s expired; removing it", self.proxy.name, toxic.name)
                await self._remove(toxic)

    def close(self) -> None:
        """Cancel every lease timer (the proxy is going away)."""
        for timer in self._leases.values():
            timer.cancel()
        self._leases.clear()


class Proxy:
    """One named proxy: ``listen`` -> ``upstream``."""

    def __init__(self, name: str, listen: str, upstream: str, *, listen_any: bool = False) -> None:
        """``listen_any``: a wildcard ``listen`` (empty host, ``0.0.0.0``, ``::``) binds every interface as in
        Toxiproxy; by default it binds loopback only (``127.0.0.1``), so a proxy is not reachable from the
        network unless the server was started with ``--listen-any``."""
        self.name, self.listen, self.upstream = name, listen, upstream
        self.listen_any = listen_any
        self.enabled = False
        self.toxics = ToxicSet(self)
        self.conns: set[Conn] = set()
        self._listener: socket.socket | None = None
        self._dials: set[asyncio.Task[None]] = set()
        self._down_lease: asyncio.TimerHandle | None = None
        self.down_expires_at: float | None = None
        """When a leased ``enabled: false`` ends and the proxy listens again (epoch seconds), or None."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics.all()],
        }

    # ---- listener --------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen (``ALREADY_STARTED`` if enabled; a 500 ApiError with Go's text if binding fails)."""
        if self.enabled:
            raise ALREADY_STARTED
        self._cancel_down_lease()
        sock = _listen(self.listen, listen_any=self.listen_any)
        ip, port = sock.getsockname()[:2]
        self.listen = format_addr(ip, port)
        self._listener = sock
        self.enabled = True
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    def discard(self) -> None:
        """Stop for good: close everything and cancel the toxics' leases."""
        self.stop()
        self.toxics.close()
        self._cancel_down_lease()

    # ---- leased outage (dead-man switch; an extension the real Toxiproxy ignores) ------------------
    def lease_down(self, seconds: float) -> None:
        """A disabled proxy listens again after ``seconds`` unless this is called again (renewed)."""
        self._cancel_down_lease()
        if self.enabled:
            return
        self.down_expires_at = time.time() + seconds
        self._down_lease = asyncio.get_running_loop().call_later(seconds, self._down_expired)

    def _cancel_down_lease(self) -> None:
        if self._down_lease is not None:
            self._down_lease.cancel()
        self._down_lease, self.down_expires_at = None, None

    def _down_expired(self) -> None:
        self._down_lease, self.down_expires_at = None, None
        if self.enabled:
            return
        log.warning("proxy %s: lease of its outage expired; listening again", self.name)
        try:
            self.start()
        except ApiError as err:  # e.g. the port was taken meanwhile: say so, retry in a second
            log.warning("proxy %s: cannot listen again: %s; retrying in 1 s", self.name, err.message)
            self._down_lease = asyncio.get_running_loop().call_later(1.0, self._down_expired)

    def stop(self) -> None:
        """Close the listener and every connection (no-op when disabled)."""
        if not self.enabled:
            return
        self.enabled = False
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        for task in list(self._dials):
            task.cancel()
        for conn in list(self.conns):
            conn.abort()
        log.info("proxy %s stopped", self.name)

    def differs(self, listen: str, upstream: str) -> bool:
        """Toxiproxy's ``Differs``: the resolved ``listen`` or ``upstream`` is not what runs now."""
        try:
            ip, port = resolve(listen)
        except AddrError as exc:
            raise ApiError(str(exc), 500) from None
        return self.listen != format_addr(ip, port) or self.upstream != upstream

    def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Toxiproxy's ``Proxy.Update``: restart on a changed address, then follow ``enabled``."""
        if self.differs(listen, upstream):
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled != self.enabled:
            if enabled:
                self.start()
            else:
                self.stop()

    def _accept(self) -> None:
        assert self._listener is not None
        for _ in range(64):
            try:
                client, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of descriptors: back off instead of spinning on a readable listener
                log.warning("proxy %s: accept failed: %s; pausing accepts for 100 ms", self.name, exc)
                loop = asyncio.get_running_loop()
                loop.remove_reader(self._listener.fileno())
                loop.call_later(0.1, self._resume_accept, self._listener)
                return
            task = asyncio.get_running_loop().create_task(self._connect(client))
            self._dials.add(task)
            task.add_done_callback(self._dials.discard)

    def _resume_accept(self, listener: socket.socket) -> None:
        if self._listener is listener:
            asyncio.get_running_loop().add_reader(listener.fileno(), self._accept)

    async def _connect(self, client: socket.socket) -> None:
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            upstream = await _dial(self.upstream)
        except (OSError, AddrError) as exc:
            log.warning("proxy %s: unable to open connection to upstream %s: %s", self.name, self.upstream, exc)
            client.close()
            return
        except asyncio.CancelledError:
            client.close()
            raise
        if not self.enabled:
            client.close()
            upstream.close()
            return
        conn = Conn(self, client, upstream)
        self.conns.add(conn)
        try:
            conn.start()
        except OSError as exc:  # no descriptor left for the splice pipes: drop this client only
            log.warning("proxy %s: cannot set up connection: %s", self.name, exc)
            conn.abort()


def _listen(listen: str, *, listen_any: bool) -> socket.socket:
    """A listening socket like Go's ``net.Listen("tcp", listen)``: a wildcard host is dual-stack ``[::]``
    (IPv4 ``0.0.0.0`` where the kernel has no IPv6) with ``listen_any``, else loopback ``127.0.0.1``."""
    try:
        ip, port = resolve(listen)
    except AddrError as exc:
        raise ApiError(f"listen tcp: {exc}", 500) from None
    if ip in ("", "0.0.0.0", "::") and not listen_any:
        ip = "127.0.0.1"
    if ip in ("", "0.0.0.0", "::"):
        if _has_ipv6():
            return _bind(socket.AF_INET6, "::", port, dual_stack=True)
        ip = "0.0.0.0"
    return _bind(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip, port)


@functools.cache
def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::", 0))
    except OSError:
        return False
    return True


def _bind(family: socket.AddressFamily, ip: str, port: int, *, dual_stack: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if dual_stack:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((ip, port))
        sock.listen(4096)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ApiError(f"listen tcp {format_addr(ip, port)}: bind: {go_errno(exc)}", 500) from None
    return sock


async def _dial(upstream: str) -> socket.socket:
    host, port_s = split_host_port(upstream)
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host or None, int(port_s or 0), type=socket.SOCK_STREAM)
    last: OSError = OSError(f"dial tcp {upstream}: no address")
    for family, type_, proto, _name, addr in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, addr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last
