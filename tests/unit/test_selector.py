"""Kubernetes label selector parsing and matching."""

from __future__ import annotations

import pytest

from resilience.errors import ConfigError
from resilience.targets.selector import parse_selector

pytestmark = pytest.mark.unit

LABELS = {"app": "postgres", "role": "primary", "zone": "a"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=postgres", True),
        ("app==postgres", True),
        ("app=chat-api", False),
        ("app!=chat-api", True),
        ("role in (primary, replica)", True),
        ("role notin (primary)", False),
        ("canary notin (yes)", True),
        ("zone", True),
        ("!zone", False),
        ("!canary", True),
        ("app=postgres,role=replica", False),
        ("app=postgres, role in (primary,replica), zone", True),
    ],
)
def test_selector_matches_like_kubernetes(text: str, expected: bool) -> None:
    """Each operator of the kubectl -l grammar matches as Kubernetes does."""
    assert parse_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize("text", ["role in (a", "a b", "=x", "role in (a b)"])
def test_selector_rejects_malformed_text_naming_it(text: str) -> None:
    """A malformed selector is a ConfigError that quotes the selector."""
    with pytest.raises(ConfigError, match="invalid label selector"):
        parse_selector(text)


def test_empty_value_is_allowed() -> None:
    """``key=`` selects an empty label value, as in Kubernetes."""
    assert parse_selector("app=").matches({"app": ""})
