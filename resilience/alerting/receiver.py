"""An Alertmanager webhook receiver that records every alert's firing and resolved notices on the run clock.

    Alertmanager ──POST /alerts (webhook v4)──► receiver ──append──► record file (JSON lines)
    runner ──GET /alerts?since=<epoch s>──► the notices received since then, oldest first

Each notice is one record: ``{"t": <epoch s received>, "name", "status": "firing"|"resolved", "labels",
"starts_at", "ends_at" (epoch s or null), "fingerprint"}``. The record file survives a restart of the
receiver (it reloads it); the server is the standard library's, one thread per request.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["AlertLog", "main", "make_server", "notices"]

log = logging.getLogger(__name__)

_MAX_BODY = 4 * 1024 * 1024


def _epoch(value: Any) -> float | None:
    """An RFC 3339 time of Alertmanager's as epoch seconds; None for its zero time or anything unparsable."""
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def notices(payload: Any, received: float) -> list[dict[str, Any]]:
    """The records of one webhook body (a ValueError naming what is wrong when it is not one)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise ValueError("not an Alertmanager webhook body: no 'alerts' list")
    out = []
    for alert in payload["alerts"]:
        labels = alert.get("labels") if isinstance(alert, dict) else None
        if not isinstance(labels, dict) or "alertname" not in labels:
            raise ValueError("an alert without labels.alertname")
        out.append(
            {
                "t": received,
                "name": str(labels["alertname"]),
                "status": "resolved" if alert.get("status") == "resolved" else "firing",
                "labels": {str(k): str(v) for k, v in labels.items()},
                "starts_at": _epoch(alert.get("startsAt")),
                "ends_at": _epoch(alert.get("endsAt")) if alert.get("status") == "resolved" else None,
                "fingerprint": str(alert.get("fingerprint", "")),
            }
        )
    return out


class AlertLog:
    """Every notice received, in memory and appended to ``path`` (reloaded from it on start)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    self._records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line

    def add(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self._records.extend(records)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r, sort_keys=True) + "\n" for r in records)

    def since(self, t: float) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._records if r["t"] >= t]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _answer(self, status: HTTPStatus, body: Any) -> None:
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._answer(HTTPStatus.OK, {"ok": True})
        elif url.path == "/alerts":
            raw = parse_qs(url.query).get("since", ["0"])[-1]
            try:
                since = float(raw)
            except ValueError:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": f"since={raw!r}: expected epoch seconds"})
                return
            self._answer(HTTPStatus.OK, self.server.alert_log.since(since))
        else:
            self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        received = time.time()
        if urlsplit(self.path).path != "/alerts":
            self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= _MAX_BODY:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"Content-Length must be 1..{_MAX_BODY}"})
            return
        try:
            records = notices(json.loads(self.rfile.read(length)), received)
        except (ValueError, UnicodeDecodeError) as exc:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self.server.alert_log.add(records)
        for r in records:
            log.info("alert %s %s %s", r["name"], r["status"], r["labels"])
        self._answer(HTTPStatus.OK, {"recorded": len(records)})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], alert_log: AlertLog) -> None:
        super().__init__(address, _Handler)
        self.alert_log = alert_log


def make_server(host: str, port: int, record: Path) -> ThreadingHTTPServer:
    """A receiver bound to ``host:port`` (0: any free port) recording into ``record``; call serve_forever()."""
    return _Server((host, port), AlertLog(record))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resilience.alerting", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True, help="JSON-lines file of every notice")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = make_server(args.host, args.port, args.record)
    log.info("alert receiver on %s:%d, recording to %s", args.host, server.server_address[1], args.record)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
