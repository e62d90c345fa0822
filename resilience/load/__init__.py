"""Chat load: Locust users, load profiles, the event recorder and the integrity ledger.

The harness side (this package's public API) never imports locust: ``start_load`` runs
``resilience/load/locustfile.py`` in Locust's own processes.
"""

from __future__ import annotations

from resilience.load.launcher import LoadProcess, preflight, start_load
from resilience.load.params import PROFILES, LoadParams, load_params

__all__ = ["PROFILES", "LoadParams", "LoadProcess", "load_params", "preflight", "start_load"]
