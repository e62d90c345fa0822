"""Kubernetes label selectors (``app=chat-api,tier!=db,env in (a,b),!canary,release``), parsed and matched.

Same grammar as ``kubectl get -l``: equality (``=``, ``==``), inequality (``!=``), set-based (``in``,
``notin``), existence (``key``) and non-existence (``!key``). Requirements are ANDed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from resilience.errors import ConfigError

__all__ = ["Requirement", "Selector", "parse_selector"]

_KEY = r"[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


@dataclass(frozen=True)
class Requirement:
    """One requirement of a selector."""

    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement (Kubernetes semantics: notin matches a missing key)."""
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


@dataclass(frozen=True)
class Selector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()
    text: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every requirement holds for ``labels``."""
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return self.text


def _split(text: str) -> list[str]:
    """Split on commas that are not inside a parenthesised value set."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _parse_one(part: str, text: str) -> Requirement:
    if m := _SET_RE.match(part):
        values = [v.strip() for v in m["values"].split(",")]
        if not values or any(not _VALUE_RE.match(v) for v in values):
            raise ConfigError(f"invalid label selector {text!r}: bad value list in {part.strip()!r}")
        return Requirement(m["key"], m["op"], frozenset(values))
    if m := _CMP_RE.match(part):
        op = "notin" if m["op"] == "!=" else "in"
        return Requirement(m["key"], op, frozenset([m["value"]]))
    if m := _EXISTS_RE.match(part):
        return Requirement(m["key"], "!exists" if m["neg"] else "exists")
    raise ConfigError(f"invalid label selector {text!r}: cannot parse {part.strip()!r}")


def parse_selector(text: str | None) -> Selector:
    """Parse a Kubernetes label selector; raise ConfigError naming the bad part."""
    if text is None or not text.strip():
        return Selector((), "")
    if text.count("(") != text.count(")"):
        raise ConfigError(f"invalid label selector {text!r}: unbalanced parentheses")
    return Selector(tuple(_parse_one(p, text) for p in _split(text)), text.strip())
