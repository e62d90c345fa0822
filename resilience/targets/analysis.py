"""Deploy analysis with Argo Rollouts' AnalysisTemplate semantics, on Prometheus.

A template has metrics; each metric is measured every ``interval`` (``count`` times, or until the deploy
ends when ``count`` is 0) with a PromQL query whose first sample is ``result[0]`` in ``successCondition``.
As in Argo Rollouts: a measurement that breaks the condition is *failed*; the metric fails when more than
``failureLimit`` measurements failed; a query that errors counts towards ``consecutiveErrorLimit``, and
more errors in a row than that fail the metric too. A failed metric fails the run: the deploy rolls back.

``{{args.selector}}`` in a query is replaced with the PromQL label matchers of the new release's replicas.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from resilience.errors import ConfigError

__all__ = [
    "DEFAULT_TEMPLATE",
    "AnalysisRun",
    "AnalysisTemplate",
    "Measurement",
    "Metric",
    "evaluate",
    "parse_duration",
    "parse_template",
]

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$")


def parse_duration(value: str | float) -> float:
    """``"2s"``, ``"500ms"``, ``"1m"`` or a number of seconds -> seconds."""
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError(f"expected a duration like 2s, 500ms or 1m, got {value!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]


_OPS: Mapping[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _value(node: ast.expr, result: list[float]) -> Any:  # noqa: PLR0911 - a branch per node of the grammar
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand, result)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "result":
        index = node.slice
        if isinstance(index, ast.Constant) and isinstance(index.value, int):
            return result[index.value]
    if isinstance(node, ast.Compare):
        left = _value(node.left, result)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _value(right_node, result)
            if type(op) not in _OPS or not _OPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        values = (_value(v, result) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _value(node.operand, result)
    raise ValueError(f"unsupported expression {ast.unparse(node)!r}")


def evaluate(condition: str, result: list[float]) -> bool:
    """``successCondition`` (comparisons of ``result[i]`` and numbers, ``and``/``or``/``not``) on ``result``."""
    expr = condition.replace("&&", " and ").replace("||", " or ")
    tree = ast.parse(expr, mode="eval")
    return bool(_value(tree.body, result))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Metric(_Model):
    """One measured metric (Argo's ``metrics[]`` with the ``prometheus`` provider)."""

    name: str
    query: str
    """PromQL; ``{{args.selector}}`` is the new release's replicas."""
    interval: float = 2.0
    count: int = Field(default=0, ge=0)
    """Measurements to take; 0: until the deploy ends (Argo: unset count with an interval)."""
    failure_limit: int = Field(default=1, ge=0, alias="failureLimit")
    consecutive_error_limit: int = Field(default=4, ge=0, alias="consecutiveErrorLimit")
    success_condition: str = Field(alias="successCondition")
    initial_delay: float = Field(default=0.0, alias="initialDelay")

    @field_validator("interval", "initial_delay", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("success_condition")
    @classmethod
    def _condition(cls, value: str) -> str:
        try:
            evaluate(value, [0.0] * 8)
        except (SyntaxError, ValueError, IndexError) as exc:
            raise ValueError(f"successCondition {value!r}: {exc}") from None
        return value


class AnalysisTemplate(_Model):
    """Argo Rollouts' AnalysisTemplate ``spec`` (its metrics)."""

    metrics: tuple[Metric, ...] = Field(min_length=1)


P95_MIN_REQUESTS = 20
"""The default p95 is judged over at least this many sends by the new release in its 10 s window (fewer: no
result, an *Inconclusive* measurement): the p95 of a handful of requests is the slowest of them, and one
cold-start send of a fresh replica then rolls back a good release."""

DEFAULT_TEMPLATE = AnalysisTemplate(
    metrics=(
        Metric(
            name="error-rate",
            query=(
                '(sum(rate(chat_send_rejected_total{ {{args.selector}}, status=~"5.." }[10s])) or vector(0))'
                " / sum(rate(chat_messages_sent_total{ {{args.selector}} }[10s]))"
            ),
            interval=2.0,
            count=5,
            failureLimit=1,
            successCondition="result[0] <= 0.01",
        ),
        Metric(
            name="p95-latency",
            query=(
                "histogram_quantile(0.95, sum by (le) (rate(chat_request_duration_seconds_bucket"
                '{ {{args.selector}}, route="/rooms/{room}/messages", method="POST" }[10s])))'
                " and on() (sum(increase(chat_request_duration_seconds_count"
                '{ {{args.selector}}, route="/rooms/{room}/messages", method="POST" }[10s]))'
                f" >= {P95_MIN_REQUESTS})"
            ),
            interval=2.0,
            count=5,
            failureLimit=2,
            successCondition="result[0] < 1.0",
        ),
    )
)
"""The new release's server-side send error rate (<= 1 %: two failed measurements roll back) and REST send
p95 (< 1 s over at least ``P95_MIN_REQUESTS`` sends: three failed measurements roll back), every 2 s, for 10 s
after the last step. The p95 bound is loose on purpose: on a busy 2-core box a freshly started replica answers
its first sends in 0.4-2 s (imports, connection pool), and a 250 ms bound rolled back 7 of 10 good deploys
(docs/deploys.md)."""


def parse_template(raw: Mapping[str, Any] | None, where: str) -> AnalysisTemplate:
    """An AnalysisTemplate spec from an experiment (``None``: the default); ConfigError naming the field."""
    if raw is None:
        return DEFAULT_TEMPLATE
    try:
        return AnalysisTemplate.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{where}: analysis.{field}: {err['msg']}") from None


Phase = Literal["Running", "Successful", "Failed", "Error"]


class Measurement(_Model):
    """One measurement: when, of which metric, the value, its phase (Argo's names)."""

    metric: str
    at: float
    value: float | None
    phase: Literal["Successful", "Failed", "Inconclusive", "Error"]
    """``Inconclusive``: the query had no result (no traffic on the new release yet, or fewer requests than the
    query demands): neither a success nor a failure of the release, as in Argo Rollouts."""


class AnalysisRun:
    """Measures a template's metrics in a thread until every metric completes, one fails, or ``stop()``.

    ``selector()`` gives the PromQL label matchers of the replicas under analysis (it changes as a rolling
    deploy moves on); ``failed`` is set the moment a metric fails."""

    def __init__(self, template: AnalysisTemplate, prometheus: str, selector: Callable[[], str]) -> None:
        self.template = template
        self.prometheus = prometheus.rstrip("/")
        self.selector = selector
        self.measurements: list[Measurement] = []
        self.failed = threading.Event()
        self.reason = ""
        self._stop = threading.Event()
        self._finishing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="analysis", daemon=True)
        self._client = httpx.Client(timeout=2.0, trust_env=False)

    def start(self, *, finishing: bool = False) -> AnalysisRun:
        """Start measuring; ``finishing``: the run may end after ``count`` measurements (see ``finish``)."""
        if finishing:
            self._finishing.set()
        self._thread.start()
        return self

    def finish(self) -> None:
        """Let the run end once each metric took ``count`` measurements; until then it measures on (a
        rolling deploy's background analysis runs for the whole deploy, then ``count`` more at least)."""
        self._finishing.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._client.close()

    def wait(self, timeout: float) -> bool:
        """Wait until every counted metric completed or one failed; True when it ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def judged_since(self, t: float, n: int, *, no_data_after_s: float = 10.0) -> bool:
        """Whether every metric has ``n`` successful measurements *with data* taken after ``t`` (epoch s).
        After ``no_data_after_s`` a metric with less data (REST latency under a mostly WebSocket load: none,
        or one point in 12 s) is not waited for, as long as another one has ``n``."""
        done = [m for m in self.measurements if m.at > t and m.phase == "Successful"]
        with_data = {metric.name: sum(1 for m in done if m.metric == metric.name and m.value is not None)
                     for metric in self.template.metrics}  # fmt: skip
        if max(with_data.values(), default=0) < n:
            return False
        late = time.time() - t > no_data_after_s
        return all(count >= n or late for count in with_data.values())

    def phase(self) -> Phase:
        if self.failed.is_set():
            return "Failed"
        return "Running" if self._thread.is_alive() else "Successful"

    def _query(self, query: str) -> float:
        r = self._client.get(f"{self.prometheus}/api/v1/query", params={"query": query})
        body = r.json()
        if body.get("status") != "success":
            raise ValueError(body.get("error", f"HTTP {r.status_code}"))
        series = body["data"]["result"]
        return float(series[0]["value"][1]) if series else math.nan

    def _measure(self, metric: Metric) -> Measurement:
        query = metric.query.replace("{{args.selector}}", self.selector())
        now = time.time()
        try:
            value = self._query(query)
        except (httpx.HTTPError, ValueError, KeyError, IndexError):
            return Measurement(metric=metric.name, at=now, value=None, phase="Error")
        if math.isnan(value):  # no traffic on the new release yet, or too little: nothing to judge
            return Measurement(metric=metric.name, at=now, value=None, phase="Inconclusive")
        ok = evaluate(metric.success_condition, [value])
        return Measurement(metric=metric.name, at=now, value=value, phase="Successful" if ok else "Failed")

    def _run(self) -> None:
        t0 = time.monotonic()
        state = {
            m.name: {"taken": 0, "failed": 0, "errors": 0, "next": t0 + m.initial_delay} for m in self.template.metrics
        }
        while not self._stop.is_set():
            now = time.monotonic()
            finishing = self._finishing.is_set()
            pending = [
                m for m in self.template.metrics if m.count == 0 or not finishing or state[m.name]["taken"] < m.count
            ]
            if not pending:
                return
            for metric in pending:
                st = state[metric.name]
                if now < st["next"]:
                    continue
                st["next"] = now + metric.interval
                m = self._measure(metric)
                self.measurements.append(m)
                st["taken"] += 1
                st["failed"] += m.phase == "Failed"
                st["errors"] = st["errors"] + 1 if m.phase == "Error" else 0
                if st["failed"] > metric.failure_limit or st["errors"] > metric.consecutive_error_limit:
                    self.reason = (
                        f"{metric.name}: {st['failed']} failed measurement(s) (failureLimit {metric.failure_limit}), "
                        f"last {m.value!r} against {metric.success_condition!r}"
                    )
                    self.failed.set()
                    return
            wake = min(state[m.name]["next"] for m in pending)
            self._stop.wait(max(0.05, wake - time.monotonic()))
