"""Result files written whole: through a temporary file in the same folder and a rename, so a reader (a report,
``resilience cleanup``, a test) never sees half a file, also when the writer is killed mid-write."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) in one rename; return ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
