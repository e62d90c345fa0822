"""``python -m chat [--host 127.0.0.1] [--port 8000]``: one replica (uvicorn, one process)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from chat.app import create_app
from chat.config import Settings, SettingsError
from chat.logs import configure_logging
from chat.shutdown import DrainingServer
from chat.wsserver import ChatWebSocketProtocol


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat", description="Run one chat replica.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"chat: {exc}", file=sys.stderr)
        return 3
    configure_logging(settings.log_level, settings.replica, settings.release)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        ws=ChatWebSocketProtocol,
        log_config=None,
        access_log=False,
        ws_per_message_deflate=False,
        ws_max_size=4 * settings.max_body_bytes + 4096,
        timeout_graceful_shutdown=max(1, round(settings.drain_timeout_s)),
        lifespan="on",
    )
    DrainingServer(config, app, delay_s=settings.shutdown_delay_s).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
