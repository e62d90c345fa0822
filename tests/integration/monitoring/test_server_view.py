"""The server's view written beside the client's timeline: a real Prometheus scrapes the chat service's own
metrics (chat.metrics.Metrics, served by prometheus_client) and the runner's range queries turn them into
server_timeline.csv with the p95 and the error rate the service saw."""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import start_http_server

from chat.metrics import Metrics
from resilience.probes.prometheus import query_value
from resilience.runner.server_view import SERVER_FILE, write_server_timeline
from resilience.targets.base import Endpoints
from tests.support.processes import http_ready, running
from tests.support.servers import free_port
from tests.support.wait import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


class _Target:
    """Only what write_server_timeline reads of a Target: its Prometheus endpoint."""

    def __init__(self, prometheus: str) -> None:
        self._endpoints = Endpoints(chat="", toxiproxy="", postgres="", redis="", prometheus=prometheus)

    def endpoints(self) -> Endpoints:
        return self._endpoints


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """chat metrics on a port, a Prometheus scraping them every second."""
    metrics = Metrics(release="good", replica="chat-1")
    mport, pport = free_port(), free_port()
    server, thread = start_http_server(mport, addr="127.0.0.1", registry=metrics.registry)
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: chat-api, static_configs: [{{targets: ['127.0.0.1:{mport}']}}]}}]\n"
    )
    argv = [
        shutil.which("prometheus") or "prometheus",
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{pport}",
    ]
    try:
        with running(argv, tmp_path / "prometheus.log"):
            url = f"http://127.0.0.1:{pport}"
            wait_until(lambda: http_ready(f"{url}/-/ready"), bool, timeout=30)
            # Prometheus hands new targets to its scrapers after up to 5 s: wait for the first scrape
            wait_until(lambda: query_value("up", url=url, empty=0.0), lambda v: v == 1.0, timeout=30, interval=0.5)
            yield {"metrics": metrics, "url": url, "dir": tmp_path / "exp"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_server_timeline_has_the_services_p95_and_error_rate(scraped: dict[str, Any]) -> None:
    """200 requests/s at 40 ms with 10% 503s for 8 s: p95 in the 25-50 ms bucket, error rate ~10%."""
    metrics: Metrics = scraped["metrics"]
    route = "/rooms/{room}/messages"
    start = time.time()
    while time.time() < start + 8:
        for i in range(20):
            status = "503" if i % 10 == 0 else "200"
            metrics.request_latency.labels("POST", route, status).observe(0.04)
        metrics.request_latency.labels("GET", "/readyz", "503").observe(0.001)  # not a user request
        time.sleep(0.1)
    time.sleep(2.5)  # the last scrape and a 2 s window
    path = write_server_timeline(_Target(scraped["url"]), scraped["dir"], start, time.time())  # type: ignore[arg-type]
    assert path is not None and path.name == SERVER_FILE
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == ["t", "server_p95_ms", "server_error_rate"]
    busy = [r for r in rows if start + 3 <= float(r["t"]) <= start + 7 and r["server_error_rate"]]
    assert len(busy) >= 3, rows
    for r in busy:
        assert 25.0 <= float(r["server_p95_ms"]) <= 50.0, r
        assert 0.05 <= float(r["server_error_rate"]) <= 0.15, r


def test_no_prometheus_means_no_file_and_no_failure(tmp_path: Path) -> None:
    """Prometheus down: the server view is left out (logged), the run goes on."""
    target = _Target(f"http://127.0.0.1:{free_port()}")
    assert write_server_timeline(target, tmp_path, 0.0, 10.0) is None  # type: ignore[arg-type]
    assert not (tmp_path / SERVER_FILE).exists()
