"""Patroni's runtime: the distribution closure copied out of the venv into a directory postgres can read."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from resilience.targets.local.runtime import base_python, closure, patroni_runtime

pytestmark = pytest.mark.unit


def test_closure_holds_patroni_and_what_its_extras_need() -> None:
    """patroni[etcd3,psycopg3]: the etcd client, psycopg with its binary build, and their own needs."""
    names = {d.metadata["Name"].lower() for d in closure()}
    assert {"patroni", "python-etcd", "psycopg", "psycopg-binary", "pyyaml", "psutil", "urllib3", "ydiff"} <= names
    assert "boto3" not in names and "kazoo" not in names  # extras that were not asked for


def test_runtime_is_copied_once_readable_by_everyone(tmp_path: Path) -> None:
    """A second call reuses the copy; every directory is 0755 and every file 0644, the interpreter is the
    real one behind the venv, and egg-info installs (python-etcd, ydiff) are copied too."""
    first = patroni_runtime(tmp_path)
    again = patroni_runtime(tmp_path)
    assert first == again and first.python == base_python()
    assert [p.name for p in tmp_path.iterdir()] == [first.site.parent.name]  # no temp dir left behind
    for name in ("patroni/__main__.py", "etcd/__init__.py", "ydiff.py", "psycopg/__init__.py"):
        assert (first.site / name).is_file(), name
    for path in [first.site, *first.site.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
    assert first.env() == {"PYTHONPATH": str(first.site), "PYTHONNOUSERSITE": "1"}
