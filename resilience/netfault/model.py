"""The data of the API: proxies' toxics and Toxiproxy's errors, parsed exactly as Toxiproxy parses them.

Pure: no sockets, no event loop. ``parse_toxic`` / ``update_toxic`` follow ``ToxicCollection.AddToxicJson``
and ``UpdateToxicJson`` step for step, so the error precedence (body, stream, type, duplicate name,
attributes) and the defaults (stream ``downstream``, toxicity 1, name ``<type>_<stream>``) match.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resilience.netfault._gojson import GoJSONError, as_float, as_int, as_string, decode_first, go_kind
from resilience.netfault._gojson import field as go_field

__all__ = [
    "TOXIC_ATTRIBUTES",
    "ApiError",
    "Direction",
    "Toxic",
    "bad_body",
    "check_attributes",
    "parse_direction",
    "parse_toxic",
    "update_toxic",
]


class ApiError(Exception):
    """An error answered as ``{"error": message, "status": status}`` (Toxiproxy's ``ApiError``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_body(exc: Exception) -> ApiError:
    """``bad request body: <decoder error>`` (400)."""
    return ApiError(f"bad request body: {exc}", 400)


PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_EXISTS = ApiError("proxy already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)
TOXIC_EXISTS = ApiError("toxic already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)


def missing_field(what: str) -> ApiError:
    return ApiError(f"missing required field: {what}", 400)


class Direction(enum.IntEnum):
    """``upstream`` is client -> server, ``downstream`` server -> client."""

    UPSTREAM = 0
    DOWNSTREAM = 1

    @property
    def label(self) -> str:
        return self.name.lower()


def parse_direction(stream: str) -> Direction:
    """Case-insensitive ``upstream`` / ``downstream``, else ``INVALID_STREAM``."""
    try:
        return Direction[stream.upper()]
    except KeyError:
        raise INVALID_STREAM from None


TOXIC_ATTRIBUTES: dict[str, dict[str, str]] = {
    "latency": {"latency": "int64", "jitter": "int64"},
    "bandwidth": {"rate": "int64"},
    "slow_close": {"delay": "int64"},
    "timeout": {"timeout": "int64"},
    "reset_peer": {"timeout": "int64"},
    "slicer": {"average_size": "int", "size_variation": "int", "delay": "int"},
    "limit_data": {"bytes": "int64"},
    "noop": {},
}
"""Toxic type -> attribute name -> Go type (every attribute is an integer, missing ones are 0)."""

_GO_STRUCT = {
    "latency": "LatencyToxic",
    "bandwidth": "BandwidthToxic",
    "slow_close": "SlowCloseToxic",
    "timeout": "TimeoutToxic",
    "reset_peer": "ResetToxic",
    "slicer": "SlicerToxic",
    "limit_data": "LimitDataToxic",
    "noop": "NoopToxic",
}


@dataclass
class Toxic:
    """One toxic of a proxy; ``attributes`` and ``toxicity`` change in place on update.

    ``expires_at`` (epoch seconds, or None) is when a leased toxic removes itself (dead-man switch).
    """

    name: str
    type: str
    stream: str
    direction: Direction
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)
    expires_at: float | None = None

    def attr(self, key: str) -> int:
        return self.attributes.get(key, 0)

    def to_json(self) -> dict[str, Any]:
        tox = self.toxicity
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": int(tox) if tox.is_integer() else tox,
        }


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = decode_first(body)
    except GoJSONError as exc:
        raise bad_body(exc) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_body(GoJSONError(f"json: cannot unmarshal {_kind(value)} into Go value of type toxics.ToxicWrapper"))
    return value


def _kind(value: Any) -> str:
    return go_kind(value)


def _decode(obj: dict[str, Any], key: str, struct: str, conv: Callable[[Any, str, str], Any], default: Any) -> Any:
    present, value = go_field(obj, key)
    if not present or value is None:
        return default
    try:
        return conv(value, struct, key)
    except GoJSONError as exc:
        raise bad_body(exc) from None


def _attributes(raw: Any, toxic_type: str, base: dict[str, int]) -> dict[str, int]:
    """Merge ``raw`` (the ``attributes`` value) into a copy of ``base`` the way Go decodes into a struct."""
    attrs = dict(base)
    if raw is None:
        return attrs
    if not isinstance(raw, dict):
        msg = (
            f"json: cannot unmarshal {_kind(raw)} into Go struct field .attributes of type "
            f"toxics.{_GO_STRUCT[toxic_type]}"
        )
        raise bad_body(GoJSONError(msg))
    for key, gotype in TOXIC_ATTRIBUTES[toxic_type].items():
        present, value = go_field(raw, key)
        if present and value is not None:
            try:
                attrs[key] = as_int(value, "", f"attributes.{key}", gotype)
            except GoJSONError as exc:
                raise bad_body(exc) from None
    return attrs


_DAY_MS = 86_400_000
_LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    "latency": {"latency": (0, _DAY_MS), "jitter": (0, _DAY_MS)},
    "slow_close": {"delay": (0, _DAY_MS)},
    "timeout": {"timeout": (0, _DAY_MS)},
    "reset_peer": {"timeout": (0, _DAY_MS)},
    "slicer": {"average_size": (1, 2**31 - 1), "size_variation": (0, 2**31 - 1), "delay": (0, _DAY_MS * 1000)},
}
"""Ranges (inclusive) where Toxiproxy has no rule of its own but other values cannot work: negative
durations, durations beyond a day (a connection stalled for ever), and a slicer that never stops
splitting (``average_size`` < 1). ``bandwidth.rate`` and ``limit_data.bytes`` take any int64, as in
Toxiproxy (``rate`` <= 0 is unlimited)."""


def check_attributes(toxic_type: str, attrs: dict[str, int]) -> None:
    """400 naming the attribute, its value and the allowed range when a value cannot work."""
    for key, (low, high) in _LIMITS.get(toxic_type, {}).items():
        value = attrs.get(key, 0)
        if not low <= value <= high:
            raise ApiError(f"invalid attribute {key} of {toxic_type} toxic: {value} (allowed {low} to {high})", 400)
    if toxic_type == "slicer" and attrs.get("size_variation", 0) >= attrs.get("average_size", 0):
        # Toxiproxy's SlicerToxic: size_variation "must be less than the average size"
        raise ApiError(
            f"invalid attribute size_variation of slicer toxic: {attrs.get('size_variation', 0)} "
            f"(must be less than average_size {attrs.get('average_size', 0)})",
            400,
        )


def parse_toxic(body: bytes, exists: Callable[[str], bool]) -> Toxic:
    """A new toxic from a POST body; ``exists(name)`` says whether the proxy already has that name."""
    obj = _object(body)
    name = _decode(obj, "name", "ToxicWrapper", as_string, "")
    toxic_type = _decode(obj, "type", "ToxicWrapper", as_string, "")
    stream = _decode(obj, "stream", "ToxicWrapper", as_string, "downstream")
    toxicity = _decode(obj, "toxicity", "ToxicWrapper", as_float, 1.0)
    _present, raw_attrs = go_field(obj, "attributes")
    if raw_attrs is not None and not isinstance(raw_attrs, dict):
        msg = (
            f"json: cannot unmarshal {_kind(raw_attrs)} into Go struct field ToxicWrapper.attributes "
            "of type toxics.NoopToxic"
        )
        raise bad_body(GoJSONError(msg))
    direction = parse_direction(stream)
    if not name:
        name = f"{toxic_type}_{stream}"
    if toxic_type not in TOXIC_ATTRIBUTES:
        raise INVALID_TOXIC_TYPE
    if exists(name):
        raise TOXIC_EXISTS
    attributes = _attributes(raw_attrs, toxic_type, dict.fromkeys(TOXIC_ATTRIBUTES[toxic_type], 0))
    check_attributes(toxic_type, attributes)
    return Toxic(
        name=name, type=toxic_type, stream=stream, direction=direction, toxicity=toxicity, attributes=attributes
    )


def update_toxic(toxic: Toxic, body: bytes) -> tuple[dict[str, int], float]:
    """The new ``(attributes, toxicity)`` of ``toxic`` from an update body (other keys are ignored)."""
    obj = _object(body)
    _present, raw_attrs = go_field(obj, "attributes")
    attributes = _attributes(raw_attrs, toxic.type, toxic.attributes)
    toxicity = _decode(obj, "toxicity", "", as_float, toxic.toxicity)
    check_attributes(toxic.type, attributes)
    return attributes, toxicity
