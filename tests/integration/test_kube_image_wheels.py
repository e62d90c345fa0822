"""Every pin of each image's lock resolves to a wheel for x86_64 and aarch64 (kind on Apple Silicon).

Needs PyPI (the one integration test that leaves 127.0.0.0/8: it only downloads wheels, into a temp dir);
skipped with the reason when PyPI cannot be reached. ~10 s for the chat image, longer for the harness's
whole lock.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    "chat": (ROOT / "deploy" / "chat-requirements.lock", ("x86_64", "aarch64")),
    "harness": (ROOT / "requirements.lock", ("x86_64",)),
    "netfault": (ROOT / "deploy" / "netfault-requirements.lock", ("x86_64", "aarch64")),
}
PURE_PYTHON_SDISTS = {"harness": {"python-etcd", "ydiff"}}
"""Pins with no wheel on PyPI at all, pure Python (no compiler needed): the Dockerfile lets exactly these
build from source (--no-binary), so the check leaves them out."""
"""Each image built from a lock (deploy/*.Dockerfile) and the architectures it must build on. The harness
image (the in-cluster staging Job) is x86_64 only: hdrhistogram publishes no aarch64 wheel. The base of
both is python:3.11-slim-bookworm (glibc 2.36)."""
CASES = [(image, arch) for image, (_lock, archs) in sorted(IMAGES.items()) for arch in archs]
GLIBC_MINOR = 36


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


def _without(lock: str, names: set[str]) -> str:
    """The lock text minus the requirement blocks (pin line and its continuation lines) of ``names``."""
    out, skipping = [], False
    for line in lock.splitlines():
        if line and not line[0].isspace():
            skipping = line.split("==")[0].strip().lower() in names
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


def test_dockerfiles_allow_exactly_the_listed_sdists() -> None:
    """The harness Dockerfile's --no-binary names the pure-Python sdists the check leaves out, nothing else."""
    text = (ROOT / "deploy" / "harness.Dockerfile").read_text()
    assert f"--no-binary={','.join(sorted(PURE_PYTHON_SDISTS['harness']))}" in text
    assert "--no-binary" not in (ROOT / "deploy" / "chat.Dockerfile").read_text()


@pytest.mark.parametrize(("image", "arch"), CASES, ids=[f"{i}-{a}" for i, a in CASES])
def test_every_pin_has_a_wheel_for_the_image_platform(image: str, arch: str, tmp_path: Path) -> None:
    """pip download --only-binary=:all: for CPython 3.11 on manylinux (glibc <= the base image's), hash-checked."""
    if not _pypi_reachable():
        pytest.skip("pypi.org:443 unreachable: the wheel check needs the package index")
    platforms = [f"manylinux2014_{arch}"] + [f"manylinux_2_{m}_{arch}" for m in range(17, GLIBC_MINOR + 1)]
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
    argv += ["--only-binary=:all:", "--require-hashes", "--python-version", "3.11", "--implementation", "cp"]
    argv += ["--abi", "cp311", "--abi", "abi3", "--abi", "none", "--dest", str(tmp_path / "wheels")]
    argv += [a for p in platforms for a in ("--platform", p)]
    lock = tmp_path / "image.lock"
    lock.write_text(_without(IMAGES[image][0].read_text(), PURE_PYTHON_SDISTS.get(image, set())))
    argv += ["-r", str(lock)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=880)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: Location")]
    assert done.returncode == 0, "\n".join(errors[-15:])
    wheels = list((tmp_path / "wheels").glob("*.whl"))
    assert wheels and not [p for p in (tmp_path / "wheels").iterdir() if p.suffix != ".whl"]
