"""Hypothesis strategies for fuzzing: junk JSON-like values and mutations of a valid document."""

from __future__ import annotations

import copy
import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["CASES", "HOSTILE_JSON", "fast", "junk", "mutated"]

CASES: Counter[str] = Counter()
"""Examples run per fuzz target in this session (the tests print it)."""

SUPPRESSED = [HealthCheck.too_slow]
"""The one health check turned off. ``too_slow`` times data generation by the wall clock; on a shared 2-core box
running the suite in parallel with real servers that time measures the scheduler, not the strategies (the
same reason ``deadline`` is off). The other checks (filter_too_much, data_too_large, large_base_example,
function_scoped_fixture, ...) judge the strategies and fixtures themselves and stay on."""


def fast(n: int) -> settings:
    """``n`` examples (``$RESILIENCE_FUZZ_EXAMPLES`` overrides it: benchmarks/fuzz_apis.py runs 10,000), no
    deadline (a loaded CI box), no example database written into the repo."""
    n = int(os.environ.get("RESILIENCE_FUZZ_EXAMPLES") or n)
    return settings(max_examples=n, deadline=None, suppress_health_check=SUPPRESSED, database=None)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=24)
)
junk = st.recursive(
    scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4), max_leaves=8
)
"""Any JSON/YAML-like value."""


def _slots(doc: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((doc, key))
            _slots(value, out)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.append((doc, i))
            _slots(value, out)
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any, *, max_edits: int = 3) -> Any:
    """``base`` with 1..max_edits random edits: a value replaced by junk, a key deleted, a junk key added."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=max_edits))):
        slots = _slots(doc, [])
        if not slots:
            return draw(junk)
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            container[key] = draw(junk)
        elif op == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.text(max_size=12))] = draw(junk)
        else:
            container.append(draw(junk))
    return doc


HOSTILE_JSON = st.sampled_from(
    [
        b"[" * 5000,
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b'{"toxicity": NaN}',
        b'{"toxicity": Infinity, "type": "noop"}',
        b'{"toxicity": -Infinity}',
        b'{"toxicity": 1e999, "type": "noop"}',
        b'{"type": "latency", "attributes": {"latency": ' + b"9" * 5000 + b"}}",
        b'{"type": "latency", "attributes": {"latency": 1e29}}',
        b'{"type": "latency", "attributes": {"latency": 9223372036854775808}}',
        b'{"type": "slicer", "attributes": {"average_size": 0}}',
        b'{"type": "slicer", "attributes": {"average_size": -1, "size_variation": -5}}',
        b'{"name": "q", "upstream": "127.0.0.1:abc"}',
        b'{"client_id": "' + b"9" * 5000 + b'", "body": 1e999}',
        b'"\\ud800"',
        b"\xff\xfe{}",
    ]
) | st.integers(min_value=1, max_value=6000).map(lambda n: b'{"n": ' + b"7" * n + b"}")
"""Bodies that once crashed a parser: deep nesting, huge integers, NaN/Infinity, values that cannot work."""
