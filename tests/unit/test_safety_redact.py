"""Secrets are masked in text, log records and run folders, by value and by shape."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from resilience.safety.redact import (
    MASK,
    RedactingFilter,
    redact,
    register_secrets,
    register_secrets_file,
    scrub_folder,
)

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
        ('{"issuer_secret": "issuer-value-1"}', "issuer-value-1"),
        ("CHAT_JWT_SECRET=jwt-value-123456", "jwt-value-123456"),
        ("CHAT_ISSUER_SECRET=issuer-value-2", "issuer-value-2"),
        ("PGPASSWORD=pg-value-3", "pg-value-3"),
        ("postgresql://chat:pa/ss word@127.0.0.1:5432/chat", "pa/ss word"),
        ("Authorization: Basic Y2hhdDpodW50ZXIy", "Y2hhdDpodW50ZXIy"),
        ("requirepass redis-value-4", "redis-value-4"),
        ("redis://:redis-value-5@127.0.0.1:6379/0", "redis-value-5"),
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


def test_no_planted_secret_survives_in_any_channel_of_a_run_folder(tmp_path: Path) -> None:
    """Every secret of a run (the local stack's secrets.json, an --issuer-secret-file value, a Kubernetes
    Secret's values), planted raw and in every shape in every file kind a run writes (journal, run.json,
    events, Locust .out logs, chat logs, summary.md, report.html, configs), is gone after the scrub."""
    stack = {f: f"{f}-Secret-{i}xQ7" for i, f in enumerate(("superuser", "chat_db", "jwt", "issuer", "redis"))}
    (tmp_path / "secrets.json").write_text(json.dumps(stack))
    register_secrets_file(tmp_path / "secrets.json")
    extra = ["issuer-file-Value-77aa", "kube-db-Password-88bb"]
    register_secrets(extra)
    values = [*stack.values(), *extra]
    shapes = [
        "{v}",
        "postgresql://chat:{v}@127.0.0.1:5432/chat",
        "redis://:{v}@127.0.0.1:6379/0",
        "CHAT_JWT_SECRET={v}",
        '"issuer_secret": "{v}"',
        "PGPASSWORD={v}",
        "X-Issuer-Secret: {v}",
        "requirepass {v}",
    ]
    body = "\n".join(shape.format(v=v) for v in values for shape in shapes)
    run = tmp_path / "results" / "run-1"
    files = [
        "journal.json",
        "run.json",
        "events/chat.jsonl",
        "load/locust-master.out",
        "load/locust-worker-1.err",
        "logs/chat-1.log",
        "summary.md",
        "report.html",
        "conf/redis.conf",
        "kube/chat-0.log",
    ]
    for name in files:
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(body)
    scrub_folder(tmp_path / "results")
    leaks = [(name, v) for name in files for v in values if v in (run / name).read_text()]
    assert leaks == []
