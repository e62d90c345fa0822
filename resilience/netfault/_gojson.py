"""Decode request bodies the way Go's ``encoding/json`` does, so error strings match Toxiproxy's.

Go's ``json.Decoder.Decode`` reads the first JSON value and ignores whatever follows, matches object keys
to struct fields case-insensitively (an exact match wins), ignores unknown keys, leaves a field untouched
when its value is ``null``, and reports type mismatches as ``json: cannot unmarshal <kind> into Go struct
field <Struct>.<field> of type <type>``. Only the subset Toxiproxy's structs need is modelled here.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["GoJSONError", "as_bool", "as_float", "as_int", "as_string", "decode_first", "field", "go_kind"]


class GoJSONError(ValueError):
    """A body Go's decoder would reject; ``str()`` is Go's error text."""


_DECODER = json.JSONDecoder()


def decode_first(body: bytes) -> Any:
    """The first JSON value of ``body`` (trailing bytes ignored), or GoJSONError with Go's message."""
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise GoJSONError("EOF")
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise GoJSONError(_syntax_message(text, exc)) from None
    return value


def _syntax_message(text: str, exc: json.JSONDecodeError) -> str:
    pos = exc.pos
    rest = text[pos:].lstrip(" \t\r\n")
    if not rest:
        return "unexpected EOF"
    char = rest[0]
    if exc.msg.startswith("Expecting value"):
        return f"invalid character {_quote(char)} looking for beginning of value"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {_quote(char)} looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character {_quote(char)} after object key"
    if exc.msg.startswith("Expecting ',' delimiter"):
        where = "object key:value pair" if _in_object(text, pos) else "array element"
        return f"invalid character {_quote(char)} after {where}"
    return f"invalid character {_quote(char)} in string literal"


def _in_object(text: str, pos: int) -> bool:
    depth_obj = text.rfind("{", 0, pos)
    depth_arr = text.rfind("[", 0, pos)
    return depth_obj > depth_arr


def _quote(char: str) -> str:
    return "'\\''" if char == "'" else f"'{char}'"


def go_kind(value: Any) -> str:
    """Go's name for the JSON kind of ``value`` in unmarshal errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def field(obj: dict[str, Any], name: str) -> tuple[bool, Any]:
    """``(present, value)`` of struct field ``name`` in ``obj``: exact key first, then case-insensitive."""
    if name in obj:
        return True, obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return True, value
    return False, None


def _mismatch(value: Any, struct: str, name: str, gotype: str) -> GoJSONError:
    return GoJSONError(f"json: cannot unmarshal {go_kind(value)} into Go struct field {struct}.{name} of type {gotype}")


def as_string(value: Any, struct: str, name: str) -> str:
    """A Go ``string`` field."""
    if not isinstance(value, str):
        raise _mismatch(value, struct, name, "string")
    return value


def as_bool(value: Any, struct: str, name: str) -> bool:
    """A Go ``bool`` field."""
    if not isinstance(value, bool):
        raise _mismatch(value, struct, name, "bool")
    return value


def as_int(value: Any, struct: str, name: str, gotype: str = "int64") -> int:
    """A Go integer field: a JSON number without fraction or exponent."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float):
            raise GoJSONError(
                f"json: cannot unmarshal number {_num(value)} into Go struct field {struct}.{name} of type {gotype}"
            )
        raise _mismatch(value, struct, name, gotype)
    return value


def as_float(value: Any, struct: str, name: str) -> float:
    """A Go ``float32`` field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(value, struct, name, "float32")
    return float(value)


def _num(value: float) -> str:
    return repr(value).replace("e+", "e")
