"""The chart's Argo Rollouts analysis queries, evaluated by promtool on synthetic chat metrics.

The AnalysisTemplate the chart renders (argoRollouts.enabled) is taken as is, its ``{{args.new-hash}}``
replaced as Argo Rollouts does, and each query evaluated by ``promtool test rules`` over series shaped like
the chat service's own metrics with the labels the chart's PodMonitor adds (namespace,
rollouts_pod_template_hash). The old ReplicaSet's series are present and must not count. What is not
checked here: Argo Rollouts' expression language (successCondition is compared as text in the unit test).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import RELEASE, render, values

pytestmark = pytest.mark.integration

USER = 'route="/rooms/{room_id}/messages",method="POST"'
LE = ("0.05", "0.1", "0.5", "+Inf")


def _queries() -> dict[str, str]:
    docs = render(values("kind", argoRollouts={"enabled": True}))
    (template,) = [d for d in docs if d["kind"] == "AnalysisTemplate"]
    return {
        m["name"]: m["provider"]["prometheus"]["query"].replace("{{args.new-hash}}", "new")
        for m in template["spec"]["metrics"]
    }


def _series(pod_hash: str, *, ok: int, err: int, ws: int, ws_err: int, slow: bool) -> list[dict[str, str]]:
    """Per-second rates of one ReplicaSet's pods as counters over 60 s (``slow``: every request 0.1-0.5 s)."""
    labels = f'namespace="{RELEASE}",rollouts_pod_template_hash="{pod_hash}"'
    total = ok + err
    buckets = {le: (total if (slow and le in ("0.5", "+Inf")) or (not slow) else 0) for le in LE}
    rows = [
        (f'chat_request_duration_seconds_count{{{USER},status="200",{labels}}}', ok),
        (f'chat_request_duration_seconds_count{{{USER},status="500",{labels}}}', err),
        (f'chat_request_duration_seconds_count{{route="/readyz",method="GET",status="503",{labels}}}', 50),
        (f'chat_messages_sent_total{{transport="ws",{labels}}}', ws),
        (f'chat_send_rejected_total{{transport="ws",status="503",{labels}}}', ws_err),
        *((f'chat_request_duration_seconds_bucket{{{USER},le="{le}",{labels}}}', n) for le, n in buckets.items()),
    ]
    return [{"series": name, "values": f"0+{rate}x60"} for name, rate in rows]


def _check(tmp_path: Path, series: list[dict[str, str]], expected: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """promtool test: at 60 s, each check expression (over the rendered queries) gives value 1."""
    queries = _queries()
    tests: list[dict[str, Any]] = []
    for check in expected.values():
        expr = check.format(**{k.replace("-", "_"): f"({q})" for k, q in queries.items()})
        tests.append({"expr": expr, "eval_time": "60s", "exp_samples": [{"labels": "{}", "value": 1}]})
    doc = {"tests": [{"interval": "1s", "input_series": series, "promql_expr_test": tests}]}
    (tmp_path / "analysis.test.yml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: Debian package prometheus (scripts/install-system-deps)"
    return subprocess.run(
        [promtool, "test", "rules", "analysis.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# The old ReplicaSet is bad in every way: if its series leaked into a query, the good-release checks fail.
OLD_BAD = _series("old", ok=1, err=9, ws=1, ws_err=1, slow=True)


def test_a_bad_errors_release_breaks_the_error_rate_condition(tmp_path: Path) -> None:
    """New pods answering 1 of 4 REST sends with 500 and refusing 1 of 4 WebSocket sends: error rate 0.25
    (2 errors per 8 requests per second; /readyz excluded), above maxErrorRate 0.01; p95 still fine."""
    series = OLD_BAD + _series("new", ok=3, err=1, ws=4, ws_err=1, slow=False)
    done = _check(
        tmp_path,
        series,
        {"rate": "{error_rate} == bool 0.25", "fails": "{error_rate} > bool 0.01", "p95": "{p95} <= bool 0.1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_good_release_passes_while_the_old_pods_are_bad(tmp_path: Path) -> None:
    """New pods without errors and fast: error rate 0, p95 <= 0.1 s, whatever the old ReplicaSet's series say."""
    series = OLD_BAD + _series("new", ok=10, err=0, ws=10, ws_err=0, slow=False)
    done = _check(tmp_path, series, {"errors": "{error_rate} == bool 0", "p95": "{p95} <= bool 0.1"})
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_slow_release_breaks_the_p95_condition(tmp_path: Path) -> None:
    """New pods answering every request in 0.1-0.5 s: p95 0.48 s (interpolated), above maxP95Seconds 0.1."""
    series = OLD_BAD + _series("new", ok=10, err=0, ws=0, ws_err=0, slow=True)
    done = _check(tmp_path, series, {"p95": "round({p95} * 100) == bool 48", "errors": "{error_rate} == bool 0"})
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_traffic_yet_gives_nan_and_zero(tmp_path: Path) -> None:
    """Before the new pods have served anything: error rate NaN (0/0, which the successCondition passes),
    p95 0 (no buckets, `or vector(0)`)."""
    done = _check(tmp_path, OLD_BAD, {"nan": "{error_rate} != bool {error_rate}", "p95": "{p95} == bool 0"})
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A wrong expectation is reported by promtool (the harness above is not vacuous)."""
    series = OLD_BAD + _series("new", ok=3, err=1, ws=4, ws_err=1, slow=False)
    done = _check(tmp_path, series, {"rate": "{error_rate} == bool 0.5"})
    assert done.returncode != 0 and "FAILED" in done.stdout + done.stderr
