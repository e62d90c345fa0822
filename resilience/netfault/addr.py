"""``host:port`` strings as Go's ``net`` package splits, resolves and prints them, with Go's errors."""

from __future__ import annotations

import errno
import ipaddress
import socket

__all__ = ["AddrError", "format_addr", "go_errno", "resolve", "split_host_port", "upstream_error"]


class AddrError(ValueError):
    """An address Go would reject; ``str()`` is the tail of Go's message (``address x: missing port...``)."""


def split_host_port(addr: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``."""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            raise AddrError(f"address {addr}: missing ']' in address")
        host, rest = addr[1:end], addr[end + 1 :]
        if not rest.startswith(":"):
            raise AddrError(f"address {addr}: missing port in address")
        return host, rest[1:]
    if ":" not in addr:
        raise AddrError(f"address {addr}: missing port in address")
    host, _, port = addr.rpartition(":")
    if ":" in host:
        raise AddrError(f"address {addr}: too many colons in address")
    return host, port


def _port(port: str) -> int:
    if port == "":
        return 0
    try:
        number = int(port, 10)
    except ValueError:
        try:
            return socket.getservbyname(port, "tcp")
        except OSError:
            raise AddrError(f"lookup tcp/{port}: unknown port") from None
    if not 0 <= number <= 65535:
        raise AddrError(f"address {port}: invalid port")
    return number


def upstream_error(addr: str) -> str | None:
    """Why ``addr`` can never be dialled (Go's text for the split or the port), or None. The host is not
    looked up here: a name may resolve only later (Kubernetes services)."""
    try:
        _host, port = split_host_port(addr)
        if port == "" or _port(port) == 0:
            return f"address {addr}: missing or zero port"
    except AddrError as exc:
        return str(exc)
    return None


def resolve(addr: str) -> tuple[str, int]:
    """``(ip, port)`` for a listen address; an empty host means every address (``""``)."""
    host, port_s = split_host_port(addr) if addr else ("", "0")
    port = _port(port_s)
    if host == "":
        return "", port
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror:
        raise AddrError(f"lookup {host}: no such host") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0]), port


def format_addr(ip: str, port: int) -> str:
    """Go's ``TCPAddr.String()``: ``1.2.3.4:80``, ``[::1]:80``, ``:80`` for no IP."""
    if ":" in ip:
        return f"[{ip}]:{port}"
    return f"{ip}:{port}"


_GO_ERRNO = {
    errno.EADDRINUSE: "address already in use",
    errno.EADDRNOTAVAIL: "cannot assign requested address",
    errno.EACCES: "permission denied",
    errno.ECONNREFUSED: "connection refused",
    errno.ENETUNREACH: "network is unreachable",
    errno.ETIMEDOUT: "connection timed out",
}


def go_errno(exc: OSError) -> str:
    """Go's text for a syscall error (lower case, as in ``syscall.Errno.Error()``)."""
    if exc.errno in _GO_ERRNO:
        return _GO_ERRNO[exc.errno]
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]
