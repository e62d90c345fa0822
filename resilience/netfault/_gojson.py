"""Decode request bodies the way Go's ``encoding/json`` does, so error strings match Toxiproxy's.

Go's ``json.Decoder.Decode`` reads the first JSON value and ignores whatever follows, matches object keys
to struct fields case-insensitively (an exact match wins), ignores unknown keys, leaves a field untouched
when its value is ``null``, and reports type mismatches as ``json: cannot unmarshal <kind> into Go struct
field <Struct>.<field> of type <type>``. Only the subset Toxiproxy's structs need is modelled here.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["GoJSONError", "Number", "as_bool", "as_float", "as_int", "as_string", "decode_first", "field", "go_kind"]


class GoJSONError(ValueError):
    """A body Go's decoder would reject; ``str()`` is Go's error text."""


class Number(str):
    """A JSON number literal too big for Python's fast paths (or not finite as a float): kept as its text,
    so a Go integer or float field can answer Go's ``cannot unmarshal number ...`` for it."""


_INT64 = (-(2**63), 2**63 - 1)
_FLOAT32_MAX = 3.4028234663852886e38
_MAX_DEPTH = 500
"""Nesting deeper than this is refused (Go allows 10,000; Python's recursive decoder stops near 1,000)."""


def _parse_int(text: str) -> int | Number:
    return int(text) if len(text) <= 20 else Number(text)


def _parse_float(text: str) -> float | Number:
    value = float(text)
    return value if math.isfinite(value) else Number(text)


def _no_constant(name: str) -> Any:
    raise _Constant(name)


class _Constant(ValueError):
    """``NaN``, ``Infinity``, ``-Infinity``: Python's extension of JSON, which Go refuses."""


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant)


def _too_deep(text: str, start: int) -> bool:
    """Whether brackets nest deeper than ``_MAX_DEPTH`` (outside strings), without recursion."""
    depth, in_string, escaped = 0, False, False
    for char in text[start:]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return False
    return False


def decode_first(body: bytes) -> Any:
    """The first JSON value of ``body`` (trailing bytes ignored), or GoJSONError with Go's message."""
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise GoJSONError("EOF")
    if _too_deep(text, start):
        raise GoJSONError(f"exceeded max depth (more than {_MAX_DEPTH} nested arrays or objects)")
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except _Constant as exc:
        raise GoJSONError(f"invalid character {_quote(str(exc)[0])} looking for beginning of value") from None
    except json.JSONDecodeError as exc:
        raise GoJSONError(_syntax_message(text, exc)) from None
    except (ValueError, RecursionError) as exc:  # defensive: a literal Python's decoder cannot take
        raise GoJSONError(f"invalid JSON: {type(exc).__name__}") from None
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
    if isinstance(value, int | float | Number):
        return "number"
    if isinstance(value, str) and not isinstance(value, Number):
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
    if not isinstance(value, str) or isinstance(value, Number):
        raise _mismatch(value, struct, name, "string")
    return value


def as_bool(value: Any, struct: str, name: str) -> bool:
    """A Go ``bool`` field."""
    if not isinstance(value, bool):
        raise _mismatch(value, struct, name, "bool")
    return value


def _bad_number(text: str, struct: str, name: str, gotype: str) -> GoJSONError:
    shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"
    return GoJSONError(f"json: cannot unmarshal number {shown} into Go struct field {struct}.{name} of type {gotype}")


def as_int(value: Any, struct: str, name: str, gotype: str = "int64") -> int:
    """A Go integer field (64-bit, as ``int`` is on amd64): a JSON number without fraction or exponent."""
    if isinstance(value, Number):
        raise _bad_number(value, struct, name, gotype)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float):
            raise _bad_number(_num(value), struct, name, gotype)
        raise _mismatch(value, struct, name, gotype)
    if not _INT64[0] <= value <= _INT64[1]:
        raise _bad_number(str(value), struct, name, gotype)
    return value


def as_float(value: Any, struct: str, name: str) -> float:
    """A Go ``float32`` field: a finite number within float32's range."""
    if isinstance(value, Number):
        raise _bad_number(value, struct, name, "float32")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(value, struct, name, "float32")
    number = float(value)
    if not abs(number) <= _FLOAT32_MAX:
        raise _bad_number(str(value), struct, name, "float32")
    return number


def _num(value: float) -> str:
    return repr(value).replace("e+", "e")
