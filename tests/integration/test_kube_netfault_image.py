"""The fault proxy image's file set runs on its own: the files deploy/netfault.Dockerfile copies, started
with the image's entrypoint, serve the Toxiproxy API with leases (no other part of the harness needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.servers import free_port, wait_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "netfault.Dockerfile"


def _image_tree(dest: Path) -> None:
    """Copy what the Dockerfile's COPY lines put under /app (not the lock)."""
    for line in DOCKERFILE.read_text().splitlines():
        if not line.startswith("COPY ") or "requirements.lock" in line:
            continue
        *sources, target = line.split()[1:]
        for source in sources:
            src, out = ROOT / source, dest / target
            if src.is_dir():
                shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                out.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, out / src.name)


def test_fault_proxy_image_files_serve_the_api_with_leases(tmp_path: Path) -> None:
    """Entry point from the Dockerfile, the chart's args; a leased toxic disappears when the lease ends."""
    app = tmp_path / "app"
    _image_tree(app)
    entry = re.search(r'ENTRYPOINT \["python", "-c", "(.*)"\]', DOCKERFILE.read_text())
    assert entry is not None
    port, upstream = free_port(), free_port()
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps([{"name": "redis", "listen": f"127.0.0.1:{free_port()}", "upstream": f"127.0.0.1:{upstream}"}])
    )
    code = f"import sys; sys.path.insert(0, {str(app)!r}); sys.argv[0] = 'netfault'; " + entry.group(1)
    argv = [sys.executable, "-c", code, "--host", "127.0.0.1", "--port", str(port), "--config", str(config)]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_port(port, timeout=30)
        api = f"http://127.0.0.1:{port}"
        assert requests.get(f"{api}/proxies", timeout=5).json()["redis"]["enabled"] is True
        toxic = {"name": "t", "type": "latency", "stream": "downstream", "attributes": {"latency": 10}}
        headers = {"X-Netfault-Lease-Seconds": "1"}
        added = requests.post(f"{api}/proxies/redis/toxics", json=toxic, headers=headers, timeout=5)
        assert added.status_code == 200 and "X-Netfault-Lease-Expires" in added.headers
        deadline = time.monotonic() + 5  # lease 1 s + tolerance
        while requests.get(f"{api}/proxies/redis/toxics", timeout=5).json() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert requests.get(f"{api}/proxies/redis/toxics", timeout=5).json() == []
        modules = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(app)!r}); import resilience; print(resilience.__file__)",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=True,
        )
        assert modules.stdout.strip().startswith(str(app))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
