"""Structured JSON logs (python-json-logger) carrying the request id and the replica on every line."""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

__all__ = ["configure_logging", "request_id"]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SECRET_QUERY = re.compile(r"((?:token|access_token)=)[^&\s\"']+")


class _ContextFilter(logging.Filter):
    def __init__(self, replica: str, release: str) -> None:
        super().__init__()
        self.replica = replica
        self.release = release

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn"):
            # uvicorn logs WebSocket request lines with their query string: never let a token through
            record.msg, record.args = _SECRET_QUERY.sub(r"\1<redacted>", record.getMessage()), ()
            record.__dict__.pop("color_message", None)
        record.request_id = request_id.get()
        record.replica = self.replica
        record.release = self.release
        return True


def configure_logging(level: str, replica: str, release: str) -> None:
    """One JSON object per line on stderr for the chat, uvicorn and psycopg loggers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(name)s %(message)s %(request_id)s %(replica)s %(release)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    )
    handler.addFilter(_ContextFilter(replica, release))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
