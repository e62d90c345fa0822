"""The kind scripts parse as bash and ``make kind-up``/``kind-down`` call them (``bash -n``, ``make -n``:
nothing is created)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_kind_scripts_parse_and_make_targets_call_them() -> None:
    """deploy/kind/up.sh and down.sh are valid bash; make kind-up / kind-down run them."""
    for script in ("up.sh", "down.sh"):
        assert subprocess.run(["bash", "-n", str(ROOT / "deploy" / "kind" / script)], check=False).returncode == 0
    for target, script in (("kind-up", "up.sh"), ("kind-down", "down.sh")):
        dry = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, check=False)
        assert dry.returncode == 0 and f"deploy/kind/{script}" in dry.stdout
