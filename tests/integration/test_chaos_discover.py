"""``chaos discover resilience`` lists every fault, probe and control of the extension (Chaos Toolkit's CLI)."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from resilience.discovery import CONTROL_MODULES, FAULT_MODULES, PROBE_MODULES

pytestmark = pytest.mark.integration


def test_chaos_discover_lists_every_activity(tmp_path: Path) -> None:
    """Every public function of every fault, probe and control module is in the discovery, with its type."""
    chaos = Path(sys.executable).with_name("chaos")
    out = tmp_path / "discovery.json"
    r = subprocess.run(
        [str(chaos), "discover", "--no-system-info", "--no-install", "--discovery-path", str(out), "resilience"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    found = {(a["type"], a["mod"], a["name"]) for a in json.loads(out.read_text())["activities"]}
    expected = {
        (kind, module, name)
        for kind, modules in (("action", FAULT_MODULES), ("probe", PROBE_MODULES), ("control", CONTROL_MODULES))
        for module in modules
        for name in importlib.import_module(module).__all__
        if inspect.isfunction(getattr(importlib.import_module(module), name))  # chaoslib lists functions only
    }
    assert expected <= found
    assert ("action", "resilience.faults.network", "add_latency") in found
    assert ("probe", "resilience.probes.slo", "slo_holds") in found
