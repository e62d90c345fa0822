"""PromQL probes: the server's own view, for steady-state hypotheses and method checks.

``query_value`` runs an instant query against the target's Prometheus (``endpoints().prometheus``, or a
``url`` given) and returns one number; ``query_holds`` compares it with a bound. Every failure is one
``ProbeError`` line that says which: Prometheus unreachable, the query rejected (Prometheus' own message),
no series, several series, or a non-number::

    - type: probe
      name: server-p95-under-100ms
      tolerance: true
      provider: {type: python, module: resilience.probes.prometheus, func: query_holds,
                 arguments: {query: "chat:request_duration_seconds:p95_10s", op: "<=", value: 0.1}}
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import requests

from resilience.context import RunContext
from resilience.errors import ConfigError, ProbeError

__all__ = ["query_holds", "query_value"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _base_url(url: str | None, configuration: Mapping[str, Any] | None) -> str:
    if url:
        return url.rstrip("/")
    found = RunContext.of(configuration).target.endpoints().prometheus
    if not found:
        raise ProbeError("the target has no Prometheus endpoint: pass url= to the probe")
    return found.rstrip("/")


def _single(query: str, result: Any, empty: float | None) -> float:
    if not isinstance(result, list):
        raise ProbeError(f"PromQL {query!r}: unexpected answer {result!r}")
    if not result:
        if empty is None:
            raise ProbeError(f"PromQL {query!r}: no series (pass empty= for a value to use then)")
        return float(empty)
    if len(result) > 1:
        labels = ", ".join(str(r.get("metric", {})) for r in result[:3])
        raise ProbeError(f"PromQL {query!r}: {len(result)} series ({labels}...): aggregate it to one")
    try:
        return float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProbeError(f"PromQL {query!r}: not a number: {result[0]!r}") from exc


def query_value(
    query: str,
    url: str | None = None,
    empty: float | None = None,
    timeout_s: float = 5.0,
    *,
    at: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> float:
    """The value of the instant PromQL ``query`` (one series or a scalar) now, or at epoch second ``at``;
    ``empty`` when it has no series (None: that is an error)."""
    base = _base_url(url, configuration)
    params: dict[str, str | float] = {"query": query} if at is None else {"query": query, "time": at}
    try:
        resp = requests.get(f"{base}/api/v1/query", params=params, timeout=timeout_s)
    except requests.RequestException as exc:
        raise ProbeError(f"Prometheus at {base} is unreachable: {exc.__class__.__name__}: {exc}") from exc
    try:
        body = resp.json()
    except ValueError:
        raise ProbeError(f"Prometheus at {base} answered {resp.status_code} without JSON") from None
    if body.get("status") != "success":
        raise ProbeError(f"PromQL {query!r} rejected by Prometheus: {body.get('errorType')}: {body.get('error')}")
    data = body.get("data") or {}
    if data.get("resultType") == "scalar":
        return float(data["result"][1])
    if data.get("resultType") != "vector":
        raise ProbeError(f"PromQL {query!r}: a {data.get('resultType')} result; use an instant vector or scalar")
    return _single(query, data.get("result"), empty)


def query_holds(
    query: str,
    op: str,
    value: float,
    *,
    url: str | None = None,
    empty: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> bool:
    """Whether the value of ``query`` ``op`` ``value`` (op: <, <=, >, >=, ==, !=); NaN never holds."""
    compare = _OPS.get(op)
    if compare is None:
        raise ConfigError(f"op {op!r}: expected one of {', '.join(_OPS)}")
    got = query_value(query, url=url, empty=empty, configuration=configuration)
    return not math.isnan(got) and compare(got, float(value))
