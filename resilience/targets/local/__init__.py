"""The embedded local target: etcd, Patroni x3, HAProxy, Redis, the fault proxy, Prometheus and the chat
replicas on loopback, supervised by supervisord (as a child subreaper) from a state directory of its own.
"""

from __future__ import annotations

from resilience.targets.local.target import LocalTarget

__all__ = ["LocalTarget"]
