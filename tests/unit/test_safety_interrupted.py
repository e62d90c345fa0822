"""What a killed run left on disk is marked interrupted; what it finished is left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resilience.errors import ConfigError
from resilience.safety.clean_check import proxy_problems
from resilience.safety.interrupted import mark_interrupted_runs
from resilience.safety.lease import LEASE_ENV, fault_lease_s

pytestmark = pytest.mark.unit


def test_dead_run_folder_gets_interrupted_journal_and_run_json(tmp_path: Path) -> None:
    """An experiment without journal gets one marked interrupted; run.json lists both experiments."""
    run = tmp_path / "20260101T000000Z-smoke-4242"
    (run / "done").mkdir(parents=True)
    (run / "done" / "journal.json").write_text(json.dumps({"status": "completed"}))
    (run / "cut").mkdir()
    (run / "load").mkdir()
    (tmp_path / "20260101T000000Z-smoke-4243").mkdir()
    written = mark_interrupted_runs(tmp_path, 4242, started=5.0)
    assert sorted(p.name for p in written) == ["journal.json", "run.json"]
    assert json.loads((run / "cut" / "journal.json").read_text())["status"] == "interrupted"
    doc = json.loads((run / "run.json").read_text())
    assert doc["verdict"] == "interrupted" and "4242" in doc["interrupted_by"]
    assert {e["name"]: e["verdict"] for e in doc["experiments"]} == {"done": "completed", "cut": "interrupted"}
    assert mark_interrupted_runs(tmp_path, 4242) == []


def test_existing_run_json_is_kept(tmp_path: Path) -> None:
    """A run killed while writing its reports keeps the run.json it wrote."""
    run = tmp_path / "r-7"
    run.mkdir()
    (run / "run.json").write_text('{"verdict": "passed"}')
    assert mark_interrupted_runs(tmp_path, 7) == []
    assert json.loads((run / "run.json").read_text()) == {"verdict": "passed"}


def test_proxy_problems_lists_toxics_and_disabled_proxies() -> None:
    """Toxics left and disabled proxies are each reported; a clean proxy list has no problem."""
    proxies = {
        "redis": {"enabled": False, "toxics": []},
        "postgres": {"enabled": True, "toxics": [{"name": "resilience_latency_downstream"}]},
    }
    assert proxy_problems(proxies) == ["postgres has toxics resilience_latency_downstream", "redis is disabled"]
    assert proxy_problems({"redis": {"enabled": True, "toxics": []}}) == []


@pytest.mark.parametrize(("raw", "want"), [("", 15.0), ("2.5", 2.5), ("0", None)])
def test_fault_lease_from_environment(monkeypatch: pytest.MonkeyPatch, raw: str, want: float | None) -> None:
    """The lease defaults to 15 s, follows RESILIENCE_FAULT_LEASE_S, and 0 turns it off."""
    monkeypatch.setenv(LEASE_ENV, raw)
    assert fault_lease_s() == want


@pytest.mark.parametrize("raw", ["-1", "soon", "inf"])
def test_bad_fault_lease_is_a_config_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    """A lease that is not a non-negative number of seconds is refused in one line naming the variable."""
    monkeypatch.setenv(LEASE_ENV, raw)
    with pytest.raises(ConfigError, match=LEASE_ENV):
        fault_lease_s()
