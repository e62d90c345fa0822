"""The chat image installs the chat service's dependencies only, from its own lock at the main lock's versions."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CHAT_PROJECT = ROOT / "chat" / "pyproject.toml"
CHAT_LOCK = ROOT / "deploy" / "chat-requirements.lock"
MAIN_LOCK = ROOT / "requirements.lock"
DOCKERFILE = ROOT / "deploy" / "chat.Dockerfile"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)", re.MULTILINE)


def _pins(lock: Path) -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in PIN.findall(lock.read_text())}


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    return {canonicalize_name(r.name): r for r in reqs}


def _chat_imports() -> set[str]:
    """Top-level modules the chat package imports that are neither stdlib nor chat itself."""
    found: set[str] = set()
    for path in (ROOT / "chat").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in {"chat", "__future__"}}


def test_chat_requirements_match_pyproject() -> None:
    """Every chat requirement is declared in pyproject.toml with the same specifier and extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirements(project["dependencies"])
    chat = tomllib.loads(CHAT_PROJECT.read_text())["project"]
    for name, req in _requirements(chat["dependencies"]).items():
        assert name in declared, f"{name} is in chat/pyproject.toml but not in pyproject.toml"
        assert (req.specifier, req.extras) == (declared[name].specifier, declared[name].extras), name


def test_every_third_party_import_of_chat_is_in_the_chat_lock() -> None:
    """The image installs a distribution for each module chat imports (mapped by importlib.metadata)."""
    owners = importlib.metadata.packages_distributions()
    pins = _pins(CHAT_LOCK)
    imports = _chat_imports()
    assert "resilience" not in imports, "the chat service must not import the harness (the image lacks it)"
    for module in sorted(imports):
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        assert dists & set(pins), f"chat imports {module} ({dists or 'no installed distribution'}), not in lock"


def test_chat_lock_pins_the_main_locks_versions_and_nothing_of_the_harness() -> None:
    """Same versions as requirements.lock (the tests ran against those); no harness-only package."""
    chat, main = _pins(CHAT_LOCK), _pins(MAIN_LOCK)
    assert {n: main.get(n) for n in chat} == chat
    assert not {"patroni", "scipy", "matplotlib", "locust", "hdrhistogram", "kubernetes"} & set(chat)
    assert "--hash=sha256:" in CHAT_LOCK.read_text()


def test_dockerfile_installs_wheels_from_the_chat_lock_and_copies_only_chat() -> None:
    """Hash-checked, binary-only install (no compiler in the slim image), and no harness source in the image."""
    text = DOCKERFILE.read_text()
    install = next(line for line in text.splitlines() if "pip install" in line)
    for flag in ("--require-hashes", "--only-binary=:all:", "--no-deps", "chat-requirements.lock"):
        assert flag in install
    copies = [line.split()[1] for line in text.splitlines() if line.startswith("COPY")]
    assert copies == ["deploy/chat-requirements.lock", "chat"]
    ignore = (ROOT / "deploy" / "chat.Dockerfile.dockerignore").read_text().splitlines()
    assert {"!deploy/chat-requirements.lock", "!chat/"} <= set(ignore)
