"""The run document model: its committed JSON Schema is current, and what a runner writes the reports read."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from resilience.capacity.result import capacity_schema
from resilience.report.model import load_run
from resilience.rundoc import RunDoc, run_schema, write_run

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "run.schema.json"


def test_committed_schema_is_generated_from_the_model() -> None:
    """docs/run.schema.json is exactly ``python -m resilience.rundoc`` (`make schema` after changing the model)."""
    assert json.loads(SCHEMA.read_text()) == run_schema()


def test_written_document_validates_and_reads_back(tmp_path: Path) -> None:
    """A runner's document is validated on write, matches the schema, keeps extra keys and reads back."""
    document = {
        "run_id": "r1",
        "kind": "gameday",
        "verdict": "passed",
        "started": 1.0,
        "ended": 9,
        "experiments": [
            {
                "name": "pod-kill",
                "verdict": "passed",
                "hypothesis": {"before": True, "after": True},
                "integrity": {"acked": 5, "lost": 0, "duplicated": 0, "out_of_order": 0, "lost_ids": []},
                "phases": [{"name": "fault", "at": 2.0}],
                "steady_wait": {"held": True},
            }
        ],
        "load": {"users": 3, "requests": 10, "messages_acked": 5, "workers": 0},
    }
    write_run(tmp_path, document)
    written = json.loads((tmp_path / "run.json").read_text())
    jsonschema.validate(written, run_schema())
    assert written["experiments"][0]["integrity"]["lost_ids"] == []  # extra keys are kept
    assert "reproduce" not in written  # unset keys are not invented
    run = load_run(tmp_path)
    assert run.experiments[0].integrity is not None and run.experiments[0].integrity.ok is True
    assert run.load["workers"] == 0


def test_a_wrong_type_is_refused_on_write(tmp_path: Path) -> None:
    """The model guards the writers too: a verdict that is not one of the known words never reaches disk."""
    with pytest.raises(ValueError, match="verdict"):
        write_run(tmp_path, {"run_id": "r1", "verdict": "great"})
    assert not (tmp_path / "run.json").exists()
    assert RunDoc.model_validate({"run_id": "r1"}).experiments is None


def test_committed_capacity_schema_is_generated_from_the_model() -> None:
    """docs/capacity.schema.json is exactly ``python -m resilience.capacity.result`` (``make schema``)."""
    assert json.loads((ROOT / "docs" / "capacity.schema.json").read_text()) == capacity_schema()
