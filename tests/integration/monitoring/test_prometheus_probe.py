"""The PromQL probes against a real Prometheus: values, comparisons, and one clear error for each way a
query can fail (Prometheus down, a query it rejects, no series, several series)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

from resilience.errors import ConfigError, ProbeError
from resilience.probes.prometheus import query_holds, query_value
from resilience.runner.server_slo import check_server_slo, judge_server_slo
from resilience.slo import Slo
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


def test_scenario_server_slo_is_checked_at_start_and_judged_before_and_after(prometheus: str) -> None:
    """slo.promql: a query Prometheus rejects, or one giving several series, stops the run at start with one
    line naming the scenario file, the objective and Prometheus' words; an unreachable Prometheus says so;
    each objective is then judged at two moments, a miss becoming one verdict reason with its value."""

    def slo(query: str, **kw: object) -> Slo:
        return Slo.model_validate({"promql": [{"name": "server-p95", "query": query, "value": 0.1, **kw}]})

    check_server_slo([slo("vector(0.05)"), slo("absent_metric_xyz")], prometheus, where="s.yaml")
    with pytest.raises(ConfigError, match=r"^s.yaml: slo.promql\[0\] \(server-p95\): PromQL 'sum\(' rejected .*parse"):
        check_server_slo([slo("sum(")], prometheus, where="s.yaml")
    with pytest.raises(ConfigError, match=r"2 series"):
        check_server_slo([slo('vector(1) or label_replace(vector(2), "a", "b", "", "")')], prometheus, where="s.yaml")
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProbeError, match=f"^Prometheus at {down} is unreachable"):
        check_server_slo([slo("vector(1)")], down, where="s.yaml")
    now = time.time()
    entries, reasons = judge_server_slo(slo("vector(0.05)"), prometheus, before=now - 1, after=now)
    assert reasons == [] and entries[0]["before"]["held"] and entries[0]["after"]["value"] == pytest.approx(0.05)
    _, reasons = judge_server_slo(slo("vector(0.5)"), prometheus, before=None, after=now)
    assert reasons == ["server SLO server-p95 did not hold at the end of the experiment: 0.5, not <= 0.1"]
    _, reasons = judge_server_slo(slo("absent_metric_xyz"), prometheus, before=None, after=now)
    assert len(reasons) == 1 and "no series" in reasons[0]
