"""The alerting rules of deploy/prometheus/ under promtool: they load, and their unit tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

RULES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: Debian package prometheus (scripts/install-system-deps)"
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_rules_pass_promtool_check() -> None:
    """Every rule file is valid PromQL and YAML as Prometheus loads it."""
    files = sorted(str(p) for p in RULES_DIR.glob("*.yml"))
    assert files
    done = _promtool("check", "rules", *files, cwd=RULES_DIR)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_pass_their_unit_tests() -> None:
    """Each alert fires on a synthetic series that breaks it and stays quiet on one that does not."""
    tests = sorted(str(p.relative_to(RULES_DIR / "tests")) for p in (RULES_DIR / "tests").glob("*.test.yml"))
    assert tests
    done = _promtool("test", "rules", *tests, cwd=RULES_DIR / "tests")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_test_catches_a_broken_rule(tmp_path: Path) -> None:
    """The rule tests can fail: a rule whose threshold is raised past the test's errors is reported."""
    rules = (RULES_DIR / "chat-alerts.yml").read_text(encoding="utf-8")
    broken = rules.replace("> (14.4 * 0.001)", "> (14.4 * 0.1)")
    assert broken != rules
    (tmp_path / "chat-alerts.yml").write_text(broken, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    shutil.copy(RULES_DIR / "tests" / "chat-alerts.test.yml", tmp_path / "tests")
    done = _promtool("test", "rules", "chat-alerts.test.yml", cwd=tmp_path / "tests")
    assert done.returncode != 0
    assert "ChatErrorBudgetBurn" in done.stdout + done.stderr
