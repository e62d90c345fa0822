"""Chaos Toolkit experiment files: loading and validation with file:line:field errors.

``validate_experiment`` runs chaoslib's own checks activity by activity (so an error points at the
activity's line) and then adds ours: providers in ``resilience.*`` must be public (listed in ``__all__``),
control modules must import, and chaoslib's whole-experiment check must pass.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chaoslib.activity import ensure_activity_is_valid
from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid

from resilience.scenario import Key, Located, load_yaml

__all__ = ["validate_experiment"]

_SECTIONS: tuple[tuple[Key, ...], ...] = (("steady-state-hypothesis", "probes"), ("method",), ("rollbacks",))


def _activities(data: dict[str, Any]) -> Iterator[tuple[tuple[Key, ...], Any]]:
    for section in _SECTIONS:
        node: Any = data
        for part in section:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        for i, activity in enumerate(node if isinstance(node, list) else []):
            yield (*section, i), activity


def _check_public(located: Located, loc: tuple[Key, ...], provider: dict[str, Any]) -> None:
    module, func = provider.get("module", ""), provider.get("func", "")
    if not str(module).startswith("resilience."):
        return
    try:
        mod = importlib.import_module(module)
    except (ImportError, ValueError, TypeError):
        raise located.error((*loc, "provider", "module"), f"cannot import module {module!r}") from None
    public = getattr(mod, "__all__", None)
    if public is not None and func not in public:
        raise located.error(
            (*loc, "provider", "func"), f"{module}.{func} is not a public extension function (not in __all__)"
        )


def _check_activity(located: Located, loc: tuple[Key, ...], activity: Any) -> None:
    if not isinstance(activity, dict):
        raise located.error(loc, "an activity must be a mapping")
    if "ref" in activity:
        return
    try:
        ensure_activity_is_valid(activity)
        if loc[0] == "steady-state-hypothesis":
            if "tolerance" not in activity:
                raise located.error(loc, "a hypothesis probe needs a tolerance")
            ensure_hypothesis_tolerance_is_valid(activity["tolerance"])
    except ChaosException as exc:
        raise located.error((*loc, _field_of(str(exc))), str(exc)) from None
    except (AttributeError, TypeError, KeyError, ValueError) as exc:  # chaoslib trips over odd shapes
        raise located.error(loc, f"invalid activity ({exc.__class__.__name__}: {exc})") from None
    provider = activity.get("provider") or {}
    if provider.get("type") == "python":
        _check_public(located, loc, provider)


def _field_of(message: str) -> str:
    lowered = message.lower()
    for word, field in (
        ("tolerance", "tolerance"),
        ("argument", "provider"),
        ("module", "provider"),
        ("function", "provider"),
    ):
        if word in lowered:
            return field
    return "name" if "name" in lowered else "type"


def _check_controls(located: Located, data: dict[str, Any]) -> None:
    for i, control in enumerate(data.get("controls") or []):
        provider = control.get("provider") if isinstance(control, dict) else None
        if not isinstance(provider, dict) or provider.get("type") != "python":
            continue
        module = str(provider.get("module", ""))
        try:
            importlib.import_module(module)
        except (ImportError, ValueError, TypeError):
            raise located.error(
                ("controls", i, "provider", "module"), f"cannot import control module {module!r}"
            ) from None


_SHAPES: dict[str, type] = {
    "steady-state-hypothesis": dict,
    "configuration": dict,
    "secrets": dict,
    "controls": list,
    "rollbacks": list,
}
"""Top-level sections and the shape chaoslib assumes without checking."""


def validate_experiment(path: Path | str) -> dict[str, Any]:
    """Load and validate a Chaos Toolkit experiment; the experiment as a dict, or ConfigError file:line:field."""
    located = load_yaml(path)
    data = located.data
    if not isinstance(data, dict):
        raise located.error((), "an experiment must be a YAML mapping")
    for key in ("title", "description"):
        if not data.get(key):
            raise located.error((key,), "required field is missing")
    if not isinstance(data.get("method"), list):
        raise located.error(("method",), "an experiment needs a method (a list of activities)")
    for key, kind in _SHAPES.items():
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise located.error((key,), f"must be a {'mapping' if kind is dict else 'list'}")
    for loc, activity in _activities(data):
        _check_activity(located, loc, activity)
    _check_controls(located, data)
    logging.getLogger("chaostoolkit").disabled = True
    try:
        ensure_experiment_is_valid(data)
    except ChaosException as exc:
        raise located.error((), str(exc)) from None
    except (AttributeError, TypeError, KeyError, ValueError) as exc:  # chaoslib trips over odd shapes
        raise located.error((), f"invalid experiment ({exc.__class__.__name__}: {exc})") from None
    finally:
        logging.getLogger("chaostoolkit").disabled = False
    return data
