"""A small client for the Toxiproxy HTTP API (the local fault proxy or a real Toxiproxy).

Plain ``requests`` rather than toxiproxy-python: that client keeps its API address in a class attribute
(process-global) and lists every proxy before each call; we need four calls against a per-target URL.
"""

from __future__ import annotations

from typing import Any

import requests

from resilience.errors import FaultError

__all__ = ["LEASE_HEADER", "Toxiproxy"]

_TIMEOUT = 5.0
LEASE_HEADER = "X-Netfault-Lease-Seconds"
"""The fault proxy's lease extension (dead-man switch); a real Toxiproxy ignores the header."""


class Toxiproxy:
    """Toxiproxy API at ``base_url``; every error becomes one FaultError line."""

    def __init__(self, base_url: str, *, lease_s: float | None = None, timeout_s: float = _TIMEOUT) -> None:
        """``lease_s``: toxics added and proxies disabled expire after this long unless renewed."""
        self.base_url = base_url.rstrip("/")
        self.lease_s, self.timeout_s = lease_s, timeout_s

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (),
        *,
        leased: bool = False,
    ) -> Any:
        url = f"{self.base_url}{path}"
        headers = {"User-Agent": "resilience"}
        if leased and self.lease_s:
            headers[LEASE_HEADER] = f"{self.lease_s:g}"
        try:
            resp = requests.request(method, url, json=body, timeout=self.timeout_s, headers=headers)
        except requests.RequestException as exc:
            raise FaultError(f"toxiproxy {method} {url}: {exc.__class__.__name__}: {exc}") from exc
        if resp.status_code >= 400 and resp.status_code not in ok:
            try:
                detail = resp.json().get("error", resp.text)
            except ValueError:
                detail = resp.text.strip()
            raise FaultError(f"toxiproxy {method} {path}: {resp.status_code} {detail}")
        if resp.status_code == 204 or not resp.content or resp.status_code in ok:
            return None
        return resp.json()

    def proxy(self, name: str) -> dict[str, Any]:
        """The proxy ``name`` (FaultError when there is none)."""
        result: dict[str, Any] = self._call("GET", f"/proxies/{name}")
        return result

    def add_toxic(self, proxy: str, toxic: dict[str, Any]) -> None:
        """Add a toxic; an existing toxic of the same name is replaced (so re-applying is idempotent)."""
        self.remove_toxic(proxy, toxic["name"])
        self._call("POST", f"/proxies/{proxy}/toxics", toxic, leased=True)

    def renew_toxic(self, proxy: str, name: str) -> None:
        """Renew a toxic's lease (an update that changes nothing); a toxic already gone is fine."""
        self._call("POST", f"/proxies/{proxy}/toxics/{name}", {}, ok=(404,), leased=True)

    def proxies(self) -> dict[str, Any]:
        """Every proxy by name, with its toxics."""
        result: dict[str, Any] = self._call("GET", "/proxies")
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; a toxic that is not there is fine."""
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}", ok=(404,))

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable (listen) or disable (close the listener and every connection) a proxy."""
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled}, leased=not enabled)
