"""Secrets never reach journals, logs or reports: one redactor for text, log records and run folders.

Two nets: the secret *values* of the target (read from its state dir's ``secrets.json``: JWT secret,
issuer secret, database passwords) are replaced wherever they appear, and secret *shapes* are masked even
when the value is unknown (a password in a URL, a JWT, ``Authorization: Bearer``, ``X-Issuer-Secret``,
``password=...`` / ``token: ...`` pairs, kube bearer tokens).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path

from resilience.files import write_atomic

__all__ = [
    "MASK",
    "RedactingFilter",
    "install_logging_filter",
    "redact",
    "register_secrets",
    "register_secrets_file",
    "scrub_folder",
]

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host; the password may hold '/' and spaces, but not
    # start like a port followed by a path (http://host:8080/x@y is not a password)
    (
        re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"']*:)(?!\d+(?:/|\s|$))([^@\n\"']{1,128}?)(@)"),
        rf"\g<1>{MASK}\g<3>",
    ),
    # redis.conf / redis-server argv: requirepass <password>
    (re.compile(r"(?i)(\brequirepass\s+[\"']?)[^\s\"']+"), rf"\g<1>{MASK}"),
    # Authorization: Basic <base64 user:password>
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?basic\s+)[A-Za-z0-9+/=]+"), rf"\g<1>{MASK}"),
    # a JWT (header.payload.signature, base64url)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), MASK),
    # Authorization: Bearer <token> (kube tokens, chat tokens)
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1>{MASK}"),
    # X-Issuer-Secret: value / "x-issuer-secret": "value"
    (re.compile(r"(?i)(x-issuer-secret[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), rf"\g<1>{MASK}"),
    # password=..., secret: ..., "token": "..." (also inside JSON), and names ending so: issuer_secret,
    # CHAT_JWT_SECRET=, CHAT_ISSUER_SECRET=, PGPASSWORD=, REDIS_PASSWORD=, jwt-secret: ...
    (
        re.compile(
            r"(?i)(\b[\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)"
            r"(?!\*\*\*)[^\s\"',}&]{4,}"
        ),
        rf"\g<1>{MASK}",
    ),
)

_known: set[str] = set()
_pending: set[Path] = set()
_lock = threading.Lock()
_MIN_SECRET = 8
"""Shorter values are not treated as secrets (they would mask ordinary words)."""


def register_secrets(values: Iterable[str]) -> None:
    """Mask these exact values from now on (values shorter than 8 characters are ignored)."""
    with _lock:
        _known.update(v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET)


def register_secrets_file(path: Path) -> int:
    """Register every string value of a JSON secrets file (e.g. the local target's ``secrets.json``).

    A file that does not exist yet (the run brings the stack up) is read as soon as it appears."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        with _lock:
            _pending.add(path)
        return 0
    values = [v for v in (doc.values() if isinstance(doc, dict) else []) if isinstance(v, str)]
    register_secrets(values)
    with _lock:
        _pending.discard(path)
    return len(values)


def _load_pending() -> None:
    with _lock:
        ready = [p for p in _pending if p.exists()]
    for path in ready:
        register_secrets_file(path)


def redact(text: str) -> str:
    """``text`` with every known secret value and every secret-shaped substring masked."""
    if _pending:
        _load_pending()
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter: the formatted message and exception text of every record, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_logging_filter(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (default: the root logger), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


_TEXT_SUFFIXES = {
    ".json",
    ".jsonl",
    ".md",
    ".html",
    ".xml",
    ".csv",
    ".log",
    ".txt",
    ".yaml",
    ".yml",
    ".out",  # Locust's stdout/stderr
    ".err",
    ".conf",
    ".cfg",
}


def scrub_folder(folder: Path) -> list[Path]:
    """Redact every text file under ``folder`` in place (the last net after a run); the files changed."""
    changed: list[Path] = []
    if not folder.is_dir():
        return changed
    for path in folder.rglob("*"):
        if not path.is_file() or path.suffix not in _TEXT_SUFFIXES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        clean = redact(text)
        if clean != text:
            write_atomic(path, clean)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m resilience.safety.redact [--secrets-file F]... FOLDER...``: scrub folders in place (CI
    uses it on collected pod logs before uploading them); prints how many files changed."""
    import argparse  # noqa: PLC0415 - only for this small command-line entry

    parser = argparse.ArgumentParser(prog="python -m resilience.safety.redact", description=main.__doc__)
    parser.add_argument("--secrets-file", action="append", default=[], type=Path, help="JSON object of secrets")
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.secrets_file:
        register_secrets_file(path)
    changed = [p for folder in args.folders for p in scrub_folder(folder)]
    print(f"redacted {len(changed)} file(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
