"""The PromQL probes against a real Prometheus: values, comparisons, and one clear error for each way a
query can fail (Prometheus down, a query it rejects, no series, several series)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from resilience.errors import ConfigError, ProbeError
from resilience.probes.prometheus import query_holds, query_value
from tests.support.processes import http_ready, running
from tests.support.servers import free_port
from tests.support.wait import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus with no scrape targets; its base URL."""
    d = tmp_path_factory.mktemp("prom")
    (d / "prometheus.yml").write_text("global: {evaluation_interval: 1s}\n")
    port = free_port()
    argv = [
        shutil.which("prometheus") or "prometheus",
        f"--config.file={d / 'prometheus.yml'}",
        f"--storage.tsdb.path={d / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running(argv, d / "prometheus.log"):
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ready(f"{url}/-/ready"), bool, timeout=30)
        yield url


def test_query_value_and_comparison(prometheus: str) -> None:
    """An instant vector of one series and a scalar give their number; query_holds compares it."""
    assert query_value("vector(0.05)", url=prometheus) == pytest.approx(0.05)
    assert query_value("scalar(vector(3))", url=prometheus) == 3.0
    assert query_holds("vector(0.05)", "<=", 0.1, url=prometheus) is True
    assert query_holds("vector(0.5)", "<=", 0.1, url=prometheus) is False
    assert query_value("absent_metric_xyz", url=prometheus, empty=0.0) == 0.0


def test_each_failure_is_one_clear_probe_error(prometheus: str) -> None:
    """Down, rejected, empty, ambiguous: each says which, with Prometheus' own words for a bad query."""
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProbeError, match=f"Prometheus at {down} is unreachable"):
        query_value("up", url=down, timeout_s=1)
    with pytest.raises(ProbeError, match=r"rejected by Prometheus: bad_data: .*parse error"):
        query_value("sum(", url=prometheus)
    with pytest.raises(ProbeError, match="no series"):
        query_value("absent_metric_xyz", url=prometheus)
    with pytest.raises(ProbeError, match="2 series"):
        query_value('vector(1) or label_replace(vector(2), "a", "b", "", "")', url=prometheus)
    with pytest.raises(ConfigError, match="op '=<'"):
        query_holds("vector(1)", "=<", 1, url=prometheus)
