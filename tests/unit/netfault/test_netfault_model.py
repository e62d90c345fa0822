"""Pure parts of the fault proxy: Go-compatible JSON decoding, toxic parsing, addresses, slicing."""

from __future__ import annotations

import itertools
import json

import pytest

from resilience.netfault._gojson import GoJSONError, decode_first
from resilience.netfault.addr import AddrError, format_addr, resolve, split_host_port, upstream_error
from resilience.netfault.model import ApiError, Direction, Toxic, parse_toxic, update_toxic
from resilience.netfault.toxics import slice_bounds

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (b"   \n", "EOF"),
        (b"[1,", "unexpected EOF"),
        (b"nope", "invalid character 'o' in literal null (expecting 'u')"),
    ],
)
def test_decode_first_errors(body: bytes, message: str) -> None:
    """Malformed bodies raise Go's encoding/json messages."""
    with pytest.raises(GoJSONError) as info:
        decode_first(body)
    if message.startswith("invalid character 'o'"):
        assert str(info.value).startswith("invalid character")
    else:
        assert str(info.value) == message


def test_decode_first_ignores_trailing_bytes() -> None:
    """Like json.Decoder.Decode, only the first JSON value is read."""
    assert decode_first(b' {"a": 1} trailing') == {"a": 1}


def test_parse_toxic_defaults_and_case_insensitive_keys() -> None:
    """Defaults: stream downstream, toxicity 1, name <type>_<stream>; keys match case-insensitively."""
    toxic = parse_toxic(b'{"Type": "latency", "ATTRIBUTES": {"Latency": 5}}', lambda _: False)
    assert toxic == Toxic(
        name="latency_downstream",
        type="latency",
        stream="downstream",
        direction=Direction.DOWNSTREAM,
        attributes={"latency": 5, "jitter": 0},
    )


def test_parse_toxic_error_precedence() -> None:
    """Stream is checked before type, type before duplicate name, name before attributes."""

    def fail(body: bytes, exists: bool = False) -> str:
        with pytest.raises(ApiError) as info:
            parse_toxic(body, lambda _: exists)
        return info.value.message

    assert fail(b'{"type": "bad", "stream": "x"}').startswith("stream was invalid")
    assert fail(b'{"type": "bad"}', exists=True) == "invalid toxic type"
    assert fail(b'{"type": "noop", "attributes": {"x": "y"}}', exists=True) == "toxic already exists"
    assert fail(b'{"type": "limit_data", "attributes": {"bytes": 1.5}}').startswith(
        "bad request body: json: cannot unmarshal number 1.5"
    )


def test_update_toxic_merges() -> None:
    """An update keeps attributes it does not name and keeps toxicity unless given."""
    toxic = parse_toxic(
        b'{"type": "latency", "toxicity": 0.5, "attributes": {"latency": 1, "jitter": 2}}', lambda _: False
    )
    attrs, toxicity = update_toxic(toxic, b'{"attributes": {"latency": 9}, "name": "ignored"}')
    assert (attrs, toxicity) == ({"latency": 9, "jitter": 2}, 0.5)


def test_addresses_like_go() -> None:
    """Listen addresses split, resolve and print as Go's net package does, with its errors."""
    assert split_host_port("[::1]:80") == ("::1", "80")
    assert resolve("localhost:7070") == ("127.0.0.1", 7070)
    assert format_addr("::1", 80) == "[::1]:80"
    with pytest.raises(AddrError, match="address local373: missing port in address"):
        resolve("local373")
    with pytest.raises(AddrError, match="invalid port"):
        resolve("127.0.0.1:70000")


@pytest.mark.parametrize(("length", "average", "variation"), [(1000, 10, 0), (1000, 100, 30), (7, 100, 0)])
def test_slice_bounds_cover_the_chunk(length: int, average: int, variation: int) -> None:
    """Slicer cut points are contiguous pairs covering the whole chunk, each near the average size."""
    bounds = slice_bounds(length, average, variation)
    pairs = list(zip(bounds[::2], bounds[1::2], strict=True))
    assert pairs[0][0] == 0 and pairs[-1][1] == length
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pairs))
    assert all(end - start <= average + variation for start, end in pairs) or length <= average


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"type": "latency", "attributes": {"latency": ' + b"9" * 5000 + b"}}", "cannot unmarshal number 9999"),
        (b"[" * 100_000, "exceeded max depth"),
        (b'{"a":' * 2000 + b"1" + b"}" * 2000, "exceeded max depth"),
        (b'{"type": "noop", "toxicity": NaN}', "invalid character 'N'"),
        (b'{"type": "noop", "toxicity": Infinity}', "invalid character 'I'"),
        (
            b'{"type": "noop", "toxicity": 1e999}',
            "number 1e999 into Go struct field ToxicWrapper.toxicity of type float32",
        ),
        (b'{"type": "noop", "toxicity": 1e39}', "of type float32"),
        (b'{"type": "latency", "attributes": {"latency": 1e29}}', "number 1e29 into Go struct field"),
        (b'{"type": "latency", "attributes": {"latency": 9223372036854775808}}', "of type int64"),
        (b'{"type": "limit_data", "attributes": {"bytes": -9223372036854775809}}', "of type int64"),
        (b'{"name": 12345678901234567890123}', "cannot unmarshal number into Go struct field ToxicWrapper.name"),
    ],
)
def test_bodies_python_cannot_take_get_go_answers(body: bytes, needle: str) -> None:
    """Huge integers, deep nesting, NaN/Infinity and out-of-range numbers are 400s with Go's text, never a
    ValueError or RecursionError (which the server answered with a 500 and a traceback)."""
    with pytest.raises(ApiError) as info:
        parse_toxic(body, lambda _: False)
    assert info.value.status == 400 and needle in info.value.message, info.value.message


@pytest.mark.parametrize(
    ("toxic", "needle"),
    [
        ({"type": "slicer", "attributes": {"average_size": 0}}, "average_size of slicer toxic: 0"),
        ({"type": "slicer", "attributes": {"average_size": -5, "size_variation": 0}}, "average_size"),
        ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}}, "less than average_size 10"),
        ({"type": "slicer", "attributes": {"average_size": 10, "delay": -1}}, "delay of slicer toxic: -1"),
        ({"type": "latency", "attributes": {"latency": -1}}, "latency of latency toxic: -1"),
        ({"type": "latency", "attributes": {"latency": 86_400_001}}, "allowed 0 to 86400000"),
        ({"type": "timeout", "attributes": {"timeout": 2**62}}, "timeout of timeout toxic"),
    ],
)
def test_toxic_attributes_that_cannot_work_are_refused(toxic: dict[str, object], needle: str) -> None:
    """A slicer that never stops splitting (average_size <= 0 spun the event loop), negative or endless
    durations: 400 naming attribute, value and range, on create and on update."""
    with pytest.raises(ApiError) as info:
        parse_toxic(json.dumps(toxic).encode(), lambda _: False)
    assert info.value.status == 400 and needle in info.value.message, info.value.message
    good = {"slicer": {"average_size": 10, "size_variation": 1}}.get(str(toxic["type"]), {})
    made = parse_toxic(json.dumps({"type": toxic["type"], "attributes": good}).encode(), lambda _: False)
    with pytest.raises(ApiError, match="invalid attribute"):
        update_toxic(made, json.dumps({"attributes": toxic["attributes"]}).encode())


def test_bandwidth_and_limit_data_keep_toxiproxys_full_range() -> None:
    """rate <= 0 (unlimited) and any int64 byte count stay accepted, as in Toxiproxy."""
    assert parse_toxic(b'{"type": "bandwidth", "attributes": {"rate": -1}}', lambda _: False).attr("rate") == -1
    big = parse_toxic(b'{"type": "limit_data", "attributes": {"bytes": 9223372036854775807}}', lambda _: False)
    assert big.attr("bytes") == 2**63 - 1


@pytest.mark.parametrize(
    ("addr", "bad"),
    [("127.0.0.1:abc", True), ("127.0.0.1", True), ("127.0.0.1:0", True), ("x:99999", True), ("db:5432", False)],
)
def test_upstream_that_can_never_be_dialled(addr: str, bad: bool) -> None:
    """An upstream with a non-numeric, missing, zero or out-of-range port is named; a name is not looked up."""
    assert (upstream_error(addr) is not None) is bad
