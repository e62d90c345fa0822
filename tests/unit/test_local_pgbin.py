"""The per-node PostgreSQL bin dir: symlinks to the real binaries, ``postgres`` replaced by the wrapper."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resilience.targets.local.pgbin import WRAPPER_MARK, prepare_bin_dir, wrapper_script

pytestmark = pytest.mark.unit


def test_bin_dir_links_every_binary_and_wraps_postgres(tmp_path: Path) -> None:
    """Every binary but postgres is a symlink to the real one; postgres is the executable wrapper, and a
    second prepare (a new ``up``) replaces what was there."""
    real = tmp_path / "real"
    real.mkdir()
    for name in ("postgres", "pg_ctl", "pg_rewind", "initdb"):
        (real / name).write_text("#!/bin/sh\n")
    bin_dir = tmp_path / "bin"
    for _ in range(2):
        prepare_bin_dir(bin_dir, str(real))
    assert sorted(p.name for p in bin_dir.iterdir()) == ["initdb", "pg_ctl", "pg_rewind", "postgres"]
    assert os.readlink(bin_dir / "pg_rewind") == str(real / "pg_rewind")
    wrapper = bin_dir / "postgres"
    assert not wrapper.is_symlink() and os.access(wrapper, os.X_OK)
    text = wrapper.read_text()
    assert WRAPPER_MARK in text and f"real={real / 'postgres'}" in text
    assert text.rstrip().endswith('exec "$real" "$@"')


def test_wrapper_quotes_the_real_path() -> None:
    """A path with a space stays one word in the script."""
    assert "real='/opt/pg 15/bin/postgres'" in wrapper_script("/opt/pg 15/bin/postgres")
