"""Where faults land: the Target protocol (``base``) and its implementations (``local``, ``kubernetes``)."""

from __future__ import annotations

import importlib
from typing import Any

from resilience.errors import ConfigError
from resilience.targets.base import Target

__all__ = ["TARGETS", "get_target"]

TARGETS: dict[str, str] = {
    "local": "resilience.targets.local:LocalTarget",
    "kind": "resilience.targets.kubernetes:KubernetesTarget",
    "staging": "resilience.targets.kubernetes:KubernetesTarget",
}
"""Target name -> ``module:class``; the class is called with ``name=`` and the options."""


def get_target(name: str, **options: Any) -> Target:
    """The target called ``name`` (``local``, ``kind``, ``staging``), built with ``options``."""
    if name not in TARGETS:
        raise ConfigError(f"unknown target {name!r} (choose from {', '.join(sorted(TARGETS))})")
    module_name, cls_name = TARGETS[name].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    target: Target = cls(name=name, **options)
    return target
