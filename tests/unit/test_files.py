"""``resilience.files.write_atomic``: a result file is replaced whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience import files
from resilience.files import write_atomic

pytestmark = pytest.mark.unit


def test_a_write_cut_before_its_rename_leaves_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text goes to a temporary file first: a writer stopped before the rename (here: the rename fails)
    leaves the previous content, never an empty or half file; the next write replaces it."""
    path = tmp_path / "run.json"
    write_atomic(path, '{"old": true}\n')

    def cut(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", cut)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, '{"new": true}\n')
    assert path.read_text() == '{"old": true}\n'
    monkeypatch.undo()
    assert write_atomic(path, '{"new": true}\n') == path
    assert path.read_text() == '{"new": true}\n'
    assert not list(tmp_path.glob(".*.tmp"))
