"""Every pin of each image's lock resolves to a wheel for x86_64 and aarch64 (kind on Apple Silicon).

Needs PyPI (the one integration test that leaves 127.0.0.0/8: it only downloads wheels, into a temp dir);
skipped with the reason when PyPI cannot be reached. Takes ~10 s per image and architecture.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE_LOCKS = {"chat": ROOT / "deploy" / "chat-requirements.lock"}
"""Each image built from a lock (deploy/*.Dockerfile); the image's base is python:3.11-slim-bookworm (glibc 2.36)."""
GLIBC_MINOR = 36


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("image", sorted(IMAGE_LOCKS))
def test_every_pin_has_a_wheel_for_the_image_platform(image: str, arch: str, tmp_path: Path) -> None:
    """pip download --only-binary=:all: for CPython 3.11 on manylinux (glibc <= the base image's), hash-checked."""
    if not _pypi_reachable():
        pytest.skip("pypi.org:443 unreachable: the wheel check needs the package index")
    platforms = [f"manylinux2014_{arch}"] + [f"manylinux_2_{m}_{arch}" for m in range(17, GLIBC_MINOR + 1)]
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
    argv += ["--only-binary=:all:", "--require-hashes", "--python-version", "3.11", "--implementation", "cp"]
    argv += ["--abi", "cp311", "--abi", "abi3", "--abi", "none", "--dest", str(tmp_path)]
    argv += [a for p in platforms for a in ("--platform", p)]
    argv += ["-r", str(IMAGE_LOCKS[image])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=280)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: Location")]
    assert done.returncode == 0, "\n".join(errors[-15:])
    wheels = list(tmp_path.glob("*.whl"))
    assert wheels and not list(tmp_path.glob("*.tar.gz")) and not list(tmp_path.glob("*.zip"))
