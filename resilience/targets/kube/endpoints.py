"""Endpoints of a Kubernetes target: the URLs a scenario gives (staging) or kind's NodePorts, with the
database credentials from the CloudNativePG app Secret (registered as secrets: masked in logs and results)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlsplit, urlunsplit

from resilience.errors import ConfigError
from resilience.safety.redact import register_secrets
from resilience.targets.base import Endpoints
from resilience.targets.kube.options import KubeOptions

__all__ = ["configured", "kind"]

_KEYS = ("chat", "toxiproxy", "postgres", "redis")
Secret = Callable[[], dict[str, str]]
"""Reads the database Secret (user, password) when called."""


def configured(name: str, options: KubeOptions, db_secret: Secret) -> Endpoints:
    """The scenario's ``targets.<name>.endpoints``; the PostgreSQL URL gets the Secret's credentials if it has none."""
    given = dict(options.endpoints or {})
    missing = [k for k in _KEYS if not given.get(k)]
    if missing:
        raise ConfigError(f"targets.{name}.endpoints: missing {', '.join(missing)}")
    return Endpoints(
        chat=given["chat"],
        toxiproxy=given["toxiproxy"],
        postgres=_with_db_credentials(given["postgres"], db_secret),
        redis=given["redis"],
        prometheus=given.get("prometheus"),
    )


def _with_db_credentials(url: str, db_secret: Secret) -> str:
    """``url`` as given when it has a password, else with the user and password of the db Secret."""
    parts = urlsplit(url)
    if parts.password is not None or not parts.hostname:
        return url
    creds = db_secret()
    user = quote(parts.username or creds.get("username", "chat"), safe="")
    netloc = f"{user}:{quote(creds.get('password', ''), safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def kind(options: KubeOptions, db_secret: Secret) -> Endpoints:
    """kind's NodePorts on ``host`` (deploy/kind/cluster.yaml maps them to the same host ports)."""
    host, ports = options.host, options.node_ports
    creds = db_secret()
    register_secrets([creds.get("password", "")])
    user, password = quote(creds.get("username", "chat"), safe=""), quote(creds.get("password", ""), safe="")
    return Endpoints(
        chat=f"http://{host}:{ports['chat']}",
        toxiproxy=f"http://{host}:{ports['toxiproxy']}",
        postgres=f"postgresql://{user}:{password}@{host}:{ports['postgres']}/{options.database}",
        redis=f"redis://{host}:{ports['redis']}/0",
    )
