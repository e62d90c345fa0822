"""The server's view of an experiment: p95 latency and error rate from the chat service's own metrics,
read from the target's Prometheus after the experiment and written beside the client's timeline.

``<experiment>/server_timeline.csv``: ``t`` (epoch s, 1 s steps), ``server_p95_ms``, ``server_error_rate``
(user HTTP requests and WebSocket sends, as in deploy/prometheus/chat-alerts.yml, over 2 s windows). A gap
between it and the client's timeline is a finding: requests that never reached a replica, or time spent
outside the service.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import requests

from resilience.errors import ProbeError
from resilience.targets.base import Target

__all__ = ["QUERIES", "SERVER_FILE", "query_range", "write_server_timeline"]

log = logging.getLogger(__name__)

SERVER_FILE = "server_timeline.csv"

_USER = 'route!~"/healthz|/readyz|/metrics"'
QUERIES = {
    "server_p95_ms": (
        f"1000 * histogram_quantile(0.95, sum by (le) (rate(chat_request_duration_seconds_bucket{{{_USER}}}[2s])))"
    ),
    "server_error_rate": (
        f'((sum(rate(chat_request_duration_seconds_count{{{_USER},status=~"5.."}}[2s])) or vector(0))'
        ' + (sum(rate(chat_send_rejected_total{transport="ws",status=~"5.."}[2s])) or vector(0)))'
        f" / ((sum(rate(chat_request_duration_seconds_count{{{_USER}}}[2s])) or vector(0))"
        ' + (sum(rate(chat_messages_sent_total{transport="ws"}[2s])) or vector(0)))'
    ),
}
"""Column -> PromQL (one series each)."""


def query_range(base_url: str, query: str, start: float, end: float, step: float = 1.0) -> dict[float, float]:
    """Time -> value of a one-series range query; ProbeError naming Prometheus or the query when it fails."""
    url = f"{base_url.rstrip('/')}/api/v1/query_range"
    try:
        params: dict[str, str | float] = {"query": query, "start": start, "end": end, "step": step}
        resp = requests.get(url, params=params, timeout=10)
        body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProbeError(f"Prometheus at {base_url}: {exc}") from exc
    if body.get("status") != "success":
        raise ProbeError(f"PromQL {query!r} rejected by Prometheus: {body.get('error')}")
    result = body["data"]["result"]
    if not result:
        return {}
    return {float(t): float(v) for t, v in result[0]["values"]}


def write_server_timeline(target: Target | None, out_dir: Path, start: float, end: float) -> Path | None:
    """Write ``out_dir/server_timeline.csv`` for ``[start, end]``; None (logged) when there is no Prometheus
    or it cannot answer: the server's view is extra, never a reason to fail a run."""
    base = target.endpoints().prometheus if target is not None else None
    if not base:
        return None
    try:
        columns = {name: query_range(base, q, math.floor(start), math.ceil(end)) for name, q in QUERIES.items()}
    except ProbeError as exc:
        log.warning("%s: no server timeline: %s", out_dir.name, exc)
        return None
    times = sorted(set().union(*columns.values()))
    path = out_dir / SERVER_FILE
    out_dir.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["t", *columns])
        for t in times:
            writer.writerow([f"{t:.3f}", *(_cell(col.get(t)) for col in columns.values())])
    return path


def _cell(value: float | None) -> str:
    return "" if value is None or math.isnan(value) or math.isinf(value) else f"{value:.6g}"
