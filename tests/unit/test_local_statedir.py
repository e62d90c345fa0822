"""The state-dir guard: only a folder `up` made (or an empty one) may be used, purged or chmodded."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.errors import ConfigError
from resilience.targets.local.statedir import MARKER, claim_state_dir, ensure_state_dir

pytestmark = pytest.mark.unit


def test_missing_or_empty_dir_is_claimed_with_a_marker(tmp_path: Path) -> None:
    """`up` on a missing or empty folder creates it and writes the marker; a second claim is a no-op."""
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "new" / "state", tmp_path / "empty"):
        claim_state_dir(root)
        assert (root / MARKER).is_file()
        claim_state_dir(root)


def test_a_foreign_non_empty_dir_is_refused(tmp_path: Path) -> None:
    """A non-empty folder without the marker is refused, naming a file in it."""
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"did not create .*'photo\.jpg'"):
        claim_state_dir(tmp_path)
    assert not (tmp_path / MARKER).exists()


def test_a_legacy_state_dir_holding_only_layout_names_is_accepted(tmp_path: Path) -> None:
    """A state dir made before the marker existed (only layout names) is still ours."""
    for name in ("conf", "data", "logs"):
        (tmp_path / name).mkdir()
    (tmp_path / "state.json").write_text("{}")
    assert ensure_state_dir(tmp_path) == tmp_path.resolve()


_CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("make", [lambda: Path("/"), Path.home, lambda: Path.home().parent, lambda: _CHECKOUT])
def test_root_home_and_their_parents_are_refused_even_when_marked(make: object) -> None:
    """`/`, $HOME, the checkout root and any folder above them are refused whatever they hold."""
    assert callable(make)
    with pytest.raises(ConfigError, match="refusing to use"):
        ensure_state_dir(make())


def test_a_symlink_to_home_is_refused(tmp_path: Path) -> None:
    """The guard compares resolved paths: a link to $HOME is $HOME."""
    link = tmp_path / "state"
    link.symlink_to(Path.home())
    with pytest.raises(ConfigError, match="refusing to use"):
        ensure_state_dir(link)


def test_a_file_is_refused(tmp_path: Path) -> None:
    """A state dir path that is a file is refused."""
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        ensure_state_dir(tmp_path / "f")
