"""junit.xml: one test suite per experiment with a test case per check, for CI test reporters.

Checks: steady-state hypothesis before, hypothesis after, recovery target, integrity. A check that was
not measured is ``<error>`` when the experiment aborted, otherwise ``<skipped>`` with the reason.
Written with the standard library's ElementTree (the schema is tiny; no dependency needed).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from resilience.report.build import ReportData
from resilience.report.model import Experiment, Run

__all__ = ["Check", "experiment_checks", "render_junit"]


@dataclass(frozen=True)
class Check:
    """One test case: its name and outcome (passed, failed, error, skipped) with a message."""

    name: str
    outcome: str
    message: str = ""


def _unmeasured(exp: Experiment, name: str, what: str) -> Check:
    if exp.verdict == "aborted":
        return Check(name, "error", f"{what} not measured: the experiment aborted")
    reason = "the run was interrupted" if exp.verdict == "interrupted" else "not recorded in run.json"
    return Check(name, "skipped", f"{what} not measured: {reason}")


def _hypothesis(exp: Experiment, when: str, held: bool | None) -> Check:
    name = f"steady-state hypothesis {when}"
    if held is None:
        return _unmeasured(exp, name, f"hypothesis {when} the fault")
    if held:
        return Check(name, "passed")
    return Check(name, "failed", f"steady-state hypothesis deviated {when} the fault")


def _recovery(exp: Experiment) -> Check:
    name = "recovery target"
    met = exp.recovery_met
    if met is None:
        return _unmeasured(exp, name, "recovery")
    if met:
        return Check(name, "passed", f"recovered in {exp.recovery_s:.1f} s (target {exp.recovery_target_s:g} s)")
    if exp.recovery_s is None:
        return Check(name, "failed", f"did not recover (target {exp.recovery_target_s:g} s)")
    return Check(name, "failed", f"recovered in {exp.recovery_s:.1f} s, over the target of {exp.recovery_target_s:g} s")


def _integrity(exp: Experiment) -> Check:
    name = "message integrity"
    i = exp.integrity
    if i is None or i.ok is None:
        return _unmeasured(exp, name, "integrity")
    if i.ok:
        return Check(name, "passed", f"{i.acked} acknowledged messages, none lost, duplicated, reordered or skipped")
    return Check(
        name,
        "failed",
        f"{i.lost} lost, {i.duplicated} duplicated, {i.out_of_order} out of order, {i.delivery_out_of_order or 0}"
        f" pushed out of order, {i.delivery_gaps or 0} skipped of {i.acked} acknowledged",
    )


_RUN_OUTCOMES = {"passed": "passed", "failed": "failed", "interrupted": "skipped"}


def _run_checks(run: Run) -> list[Check]:
    """A run without experiments (load alone, capacity, or stopped early): its verdict and integrity."""
    outcome = _RUN_OUTCOMES.get(run.verdict, "error")
    why = "; ".join(run.errors) or (f"interrupted by {run.interrupted_by}" if run.interrupted_by else "")
    if run.kind == "gameday":
        why = why or "no experiment was recorded"
    checks = [Check(f"{run.kind} run verdict", outcome, f"{run.verdict}{': ' + why if why else ''}")]
    if run.integrity is not None:
        whole = Experiment(name="run", verdict=run.verdict, integrity=run.integrity)
        checks.append(_integrity(whole))
    return checks


def experiment_checks(exp: Experiment) -> list[Check]:
    """The four checks of one experiment, in a fixed order (one skipped check when it is not applicable)."""
    if exp.verdict == "not_applicable":
        return [Check("applicable to the target", "skipped", "NOT APPLICABLE: " + "; ".join(exp.reasons))]
    return [
        _hypothesis(exp, "before", exp.hypothesis_before),
        _hypothesis(exp, "after", exp.hypothesis_after),
        _recovery(exp),
        _integrity(exp),
    ]


def _case(suite: ET.Element, classname: str, check: Check) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=check.name, time="0")
    if check.outcome == "passed":
        if check.message:
            ET.SubElement(case, "system-out").text = check.message
        return
    tag = {"failed": "failure", "error": "error", "skipped": "skipped"}[check.outcome]
    element = ET.SubElement(case, tag, message=check.message)
    if tag != "skipped":
        element.set("type", check.name)
        element.text = check.message


def _suite(parent: ET.Element, run: Run, name: str, checks: list[Check], seconds: float | None) -> None:
    counts = {o: sum(c.outcome == o for c in checks) for o in ("failed", "error", "skipped")}
    stamp = dt.datetime.fromtimestamp(run.started or 0, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    suite = ET.SubElement(
        parent,
        "testsuite",
        name=name,
        tests=str(len(checks)),
        failures=str(counts["failed"]),
        errors=str(counts["error"]),
        skipped=str(counts["skipped"]),
        time=f"{seconds or 0:.3f}",
        timestamp=stamp,
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", run.run_id), ("scenario", run.scenario), ("target", run.target)):
        ET.SubElement(props, "property", name=key, value=value or "")
    for check in checks:
        _case(suite, f"resilience.{name}", check)


def render_junit(data: ReportData) -> str:
    """The JUnit XML document as a string (UTF-8 declaration included)."""
    run = data.run
    root = ET.Element("testsuites", name=f"resilience {run.run_id}")
    all_checks: list[Check] = []
    for item in data.experiments:
        exp = item.experiment
        checks = experiment_checks(exp)
        length = None if exp.fault_start is None or exp.fault_end is None else exp.fault_end - exp.fault_start
        _suite(root, run, exp.name, checks, length)
        all_checks += checks
    if not data.experiments:
        checks = _run_checks(run)
        _suite(root, run, "run", checks, run.duration_s)
        all_checks += checks
    root.set("tests", str(len(all_checks)))
    root.set("failures", str(sum(c.outcome == "failed" for c in all_checks)))
    root.set("errors", str(sum(c.outcome == "error" for c in all_checks)))
    root.set("skipped", str(sum(c.outcome == "skipped" for c in all_checks)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ['<?xml version="1.0" encoding="UTF-8"?>\n', "\n"]
    )
