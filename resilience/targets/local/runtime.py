"""Patroni's runtime, in a place the ``postgres`` user can read wherever the checkout is.

Patroni runs as ``postgres``. A checkout under a mode-0700 home (root's is, so ``git clone`` into ``~``)
hides the project's venv from that user. The venv is not needed whole: Patroni needs the interpreter the
venv was built from (``/usr/bin/python3.11``, readable by everyone) and its own distributions. So ``up``
copies Patroni's distribution closure -- ``patroni[etcd3,psycopg3]`` and what those require, resolved from
the installed metadata with ``packaging`` -- out of the venv that ``make setup`` filled from
``requirements.lock`` into ``/var/lib/resilience/runtime/<key>/site-packages`` (root-owned, 0755), and
runs ``<base python> -m patroni`` with ``PYTHONPATH`` set to it. The key hashes the interpreter and every
copied ``name==version``, so the copy (about 30 MB, under a second) is made once per lock and reused; it
is built in a temporary directory and renamed into place, so concurrent ``up``s never see half a copy.
Nothing is installed from the network and nothing differs from what the venv holds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from resilience.errors import TargetError

__all__ = ["RUNTIME_ROOT", "PatroniRuntime", "base_python", "closure", "patroni_runtime"]

RUNTIME_ROOT = Path(os.environ.get("RESILIENCE_RUNTIME_DIR", "/var/lib/resilience/runtime"))
"""Where runtimes are kept (``$RESILIENCE_RUNTIME_DIR`` overrides, e.g. for tests)."""

_TOP = ("patroni", frozenset({"etcd3", "psycopg3"}))


@dataclass(frozen=True)
class PatroniRuntime:
    """How to run Patroni as ``postgres``: an interpreter and the directory to put on ``PYTHONPATH``."""

    python: str
    site: Path

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.site), "PYTHONNOUSERSITE": "1"}


def base_python() -> str:
    """The real interpreter behind this (venv's) ``python``: readable by every user on Debian."""
    return os.path.realpath(sys.executable)


def closure(name: str = _TOP[0], extras: frozenset[str] = _TOP[1]) -> list[Distribution]:
    """The installed distributions ``name[extras]`` needs, itself included, sorted by name."""
    found: dict[str, Distribution] = {}
    todo: list[tuple[str, frozenset[str]]] = [(name, extras)]
    while todo:
        dist_name, dist_extras = todo.pop()
        key = canonicalize_name(dist_name)
        try:
            dist = distribution(dist_name)
        except PackageNotFoundError:
            raise TargetError(
                f"Python package {dist_name} (needed by Patroni) is not installed: run 'make setup'"
            ) from None
        if key in found:
            continue
        found[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in sorted(dist_extras)] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, frozenset(req.extras)))
    return [found[k] for k in sorted(found)]


def _key(python: str, dists: list[Distribution]) -> str:
    text = "\n".join([python, *(f"{d.metadata['Name']}=={d.version}" for d in dists)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _copy_legacy(dist: Distribution, top: Path, site: Path) -> None:
    """An egg-info install (``setup.py install``: python-etcd, ydiff) has no RECORD, and Python 3.11 lists
    its *source* files (SOURCES.txt), not the installed ones: copy its top-level packages or modules."""
    for name in (dist.read_text("top_level.txt") or "").split():
        for src in (top / name, top / f"{name}.py"):
            if src.is_dir():
                shutil.copytree(src, site / name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            elif src.is_file():
                shutil.copy2(src, site / src.name)


def _copy(dists: list[Distribution], site: Path) -> None:
    site.mkdir(parents=True, exist_ok=True)
    for dist in dists:
        top = Path(str(dist.locate_file(""))).resolve()
        if dist.read_text("RECORD") is None:
            _copy_legacy(dist, top, site)
            continue
        for rel in dist.files or []:
            src = Path(os.path.normpath(Path(str(dist.locate_file(rel))).absolute()))
            if "__pycache__" in rel.parts or not src.is_file() or not src.is_relative_to(top):
                continue  # scripts in ../../bin are not needed: Patroni runs as ``python -m patroni``
            dest = site / src.relative_to(top)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


def patroni_runtime(root: Path | None = None) -> PatroniRuntime:
    """The runtime for this venv's Patroni, made under ``root`` (default ``RUNTIME_ROOT``) if missing."""
    root = root or RUNTIME_ROOT
    python = base_python()
    dists = closure()
    home = root / _key(python, dists)
    if not (home / "site-packages").is_dir():
        root.mkdir(parents=True, exist_ok=True, mode=0o755)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        try:
            _copy(dists, tmp / "site-packages")
            for d, dirs, files in os.walk(tmp):
                for n in dirs:
                    os.chmod(Path(d) / n, 0o755)  # noqa: S103 - postgres reads it
                for n in files:
                    os.chmod(Path(d) / n, 0o644)
            os.chmod(tmp, 0o755)  # noqa: S103 - postgres reads it
            try:
                tmp.rename(home)
            except OSError:
                if not (home / "site-packages").is_dir():
                    raise  # not a lost race with another up: a real error
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return PatroniRuntime(python, home / "site-packages")
