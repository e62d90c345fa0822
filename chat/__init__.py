"""The AGENT chat service: the system under test (REST + WebSocket, PostgreSQL, Redis fan-out).

Run one replica with ``python -m chat --port 8000``; configuration comes from ``CHAT_*`` environment
variables (see :mod:`chat.config` and the README).
"""

from chat.app import create_app
from chat.config import Settings

__all__ = ["Settings", "create_app"]
