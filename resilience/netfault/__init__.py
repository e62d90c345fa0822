"""A fault-injecting TCP proxy that speaks Toxiproxy's HTTP API (``resilience netfault``).

toxiproxy-python, chaostoolkit-toxiproxy and the official clients drive it unmodified, so the same
experiments run against the real Toxiproxy image in a cluster.
"""

from __future__ import annotations

from resilience.netfault.api import VERSION, Api, build_app
from resilience.netfault.server import load_config, run, serve

__all__ = ["VERSION", "Api", "build_app", "load_config", "run", "serve"]
