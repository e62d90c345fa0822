"""Options of a Kubernetes target, as a scenario gives them (``targets.kind`` / ``targets.staging``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from resilience.errors import ConfigError

__all__ = ["DEFAULT_NODE_PORTS", "KubeOptions", "ReleaseNames", "parse_options"]

DEFAULT_NODE_PORTS: dict[str, int] = {
    "chat": 30080,
    "toxiproxy": 30474,
    "postgres": 30432,
    "redis": 30379,
}
"""NodePorts of deploy/values/kind.yaml, mapped to the same host ports by deploy/kind/cluster.yaml."""


class KubeOptions(pydantic.BaseModel):
    """Where the chat stack runs and what the harness may touch there."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    context: str | None = None
    """Kube context; default: the kubeconfig's current context (then checked by the safety guard)."""
    kubeconfig: str | None = None
    in_cluster: bool = False
    """Use the pod's ServiceAccount (the harness Job of deploy/chart); the context is then ``in-cluster``."""
    """Path of the kubeconfig; default: $KUBECONFIG, then ~/.kube/config."""
    namespace: str = "resilience"
    release: str = "resilience"
    """Helm release name of deploy/chart: objects are called ``<release>-chat``, ``<release>-pg``..."""
    allowed_contexts: tuple[str, ...] | None = None
    allowed_namespaces: tuple[str, ...] | None = None
    allow_production: bool = False
    endpoints: dict[str, str] | None = None
    """URLs of chat, toxiproxy, postgres, redis[, prometheus]; required for staging."""
    host: str = "127.0.0.1"
    """Where kind's extraPortMappings listen."""
    node_ports: dict[str, int] = pydantic.Field(default_factory=lambda: dict(DEFAULT_NODE_PORTS))
    values: str | None = None
    """The Helm values file the chart was installed with: its ``nodePorts`` override node_ports, and its
    ``chat.existingSecret`` / ``postgres.existingSecret`` are the secret names (unless given below)."""
    database: str = "chat"
    chat_secret: str | None = None
    """Secret with issuer-secret (default ``<release>-chat``; chart value chat.existingSecret)."""
    db_secret: str | None = None
    """basic-auth Secret of the database owner (default ``<release>-db-app``; postgres.existingSecret)."""
    chat_container: str = "chat"
    seed: int | None = None
    """Seed of the victim choice, so ``--dry-run`` and the real run pick the same pods."""
    state_dir: Path | str | None = None
    """Accepted for the runner's sake (it passes the local state dir to every target); unused here."""
    request_timeout_s: float = pydantic.Field(default=10.0, gt=0)
    poll_interval_s: float = pydantic.Field(default=0.5, gt=0)
    up_timeout_s: float = pydantic.Field(default=120.0, gt=0)


@dataclass(frozen=True)
class ReleaseNames:
    """Names of the chart's objects the target works on (deploy/chart templates; a unit test renders both)."""

    chat_deployment: str
    chat_container: str
    pg_cluster: str
    chat_secret: str
    db_secret: str

    @classmethod
    def of(cls, options: KubeOptions) -> ReleaseNames:
        """The names for ``options.release`` (secrets may be overridden: chart's existingSecret values)."""
        release = options.release
        return cls(
            chat_deployment=f"{release}-chat",
            chat_container=options.chat_container,
            pg_cluster=f"{release}-pg",
            chat_secret=options.chat_secret or f"{release}-chat",
            db_secret=options.db_secret or f"{release}-db-app",
        )


def _from_values(path: str, where: str) -> tuple[dict[str, int], dict[str, str]]:
    """(nodePorts, secret names from chat/postgres.existingSecret) of a Helm values file."""
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where}.values: cannot read {path}: {exc}") from exc
    loaded = loaded if isinstance(loaded, dict) else {}
    ports = loaded.get("nodePorts", {})
    if not isinstance(ports, dict) or not all(isinstance(v, int) for v in ports.values()):
        raise ConfigError(f"{where}.values: {path}: nodePorts must map names to port numbers")
    secrets = {}
    for section, option in (("chat", "chat_secret"), ("postgres", "db_secret")):
        existing = (loaded.get(section) or {}).get("existingSecret") if isinstance(loaded.get(section), dict) else None
        if existing:
            secrets[option] = str(existing)
    return {str(k): int(v) for k, v in ports.items()}, secrets


def parse_options(target: str, options: dict[str, Any]) -> KubeOptions:
    """Validate ``options``; raise ConfigError naming the first bad field (``targets.kind.namespace: ...``)."""
    where = f"targets.{target}"
    try:
        parsed = KubeOptions(**options)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "?"
        raise ConfigError(f"{where}.{field}: {first['msg']} (got {first.get('input')!r})") from exc
    if parsed.values:
        ports, secrets = _from_values(parsed.values, where)
        update: dict[str, Any] = {"node_ports": {**parsed.node_ports, **ports}}
        update.update({k: v for k, v in secrets.items() if getattr(parsed, k) is None})
        parsed = parsed.model_copy(update=update)
    missing = sorted(set(DEFAULT_NODE_PORTS) - set(parsed.node_ports))
    if target != "staging" and parsed.endpoints is None and missing:
        raise ConfigError(f"{where}.node_ports: missing {', '.join(missing)}")
    if target == "staging" and not parsed.endpoints:
        raise ConfigError(f"{where}.endpoints: required for staging (chat, toxiproxy, postgres, redis URLs)")
    return parsed
