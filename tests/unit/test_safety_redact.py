"""Secrets are masked in text, log records and run folders, by value and by shape."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from resilience.safety.redact import MASK, RedactingFilter, redact, register_secrets_file, scrub_folder

pytestmark = pytest.mark.unit

SECRET = "s3cr3t-value-Zq9xWv"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("postgresql://chat:pa55word-x@127.0.0.1:5432/chat", "pa55word-x"),
        ("Authorization: Bearer abcdefghijklmnop.qrs", "abcdefghijklmnop.qrs"),
        ('{"X-Issuer-Secret": "iss-uer-secret"}', "iss-uer-secret"),
        ("token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXZhbHVl", "eyJzdWIiOiJ1MSJ9"),
        ('{"password": "hunter2hunter2"}', "hunter2hunter2"),
        ("api_key: abcd1234efgh", "abcd1234efgh"),
    ],
)
def test_secret_shapes_are_masked(text: str, hidden: str) -> None:
    """A password in a URL, a bearer token, the issuer header, a JWT and key=value secrets are masked."""
    out = redact(text)
    assert hidden not in out and MASK in out


def test_ordinary_text_is_left_alone() -> None:
    """Words, numbers, URLs without passwords and timelines pass unchanged."""
    for text in (
        "http://127.0.0.1:8000/healthz",
        "t,throughput,error_rate\n1.0,20,0.0",
        "tokens: 5",
        "redis://127.0.0.1:6379/0",
        "the secret of a good run is rest",
    ):
        assert redact(text) == text


def test_known_values_from_the_secrets_file_are_masked_anywhere(tmp_path: Path) -> None:
    """Values registered from secrets.json are masked even with no tell-tale shape; a later file is picked up."""
    path = tmp_path / "secrets.json"
    assert register_secrets_file(path) == 0
    path.write_text(json.dumps({"jwt": SECRET, "short": "abc"}))
    assert redact(f"chat started with {SECRET}!") == f"chat started with {MASK}!"
    assert redact("abc") == "abc"


def test_log_records_and_folders_are_redacted(tmp_path: Path) -> None:
    """The logging filter masks the formatted message; scrub_folder rewrites only files that held secrets."""
    register_secrets_file(_secrets(tmp_path))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "dsn %s", (f"postgresql://u:{SECRET}@h/db",), None)
    assert RedactingFilter().filter(record) is True
    assert SECRET not in record.getMessage()
    run = tmp_path / "run"
    (run / "exp").mkdir(parents=True)
    (run / "exp" / "journal.json").write_text(json.dumps({"output": f"pw {SECRET}"}))
    (run / "timeline.csv").write_text("t,throughput\n1,2\n")
    assert scrub_folder(run) == [run / "exp" / "journal.json"]
    assert SECRET not in (run / "exp" / "journal.json").read_text()


def _secrets(tmp_path: Path) -> Path:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"chat_db": SECRET}))
    return path
