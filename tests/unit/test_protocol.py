"""`protocol.parse_line` reads every input line: it must give what the stdlib's exact parser gives (big
integers to the last digit, NaN and Infinity, invalid UTF-8 as U+FFFD), only faster."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust.protocol import parse_line

NUMBERS = st.one_of(
    st.integers(),  # hypothesis reaches far past 64 bits
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**19, -(10**30)]),
    st.floats(allow_nan=False, allow_infinity=False),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 == 1.0 in Python; NaN != NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@settings(max_examples=500, deadline=None)
@given(JSON, st.booleans())
def test_parse_line_is_exact(value: Any, spaced: bool) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": ") if spaced else (",", ":"))
    assert _same(parse_line(text.encode() + b"\n"), json.loads(text))


def test_integers_past_64_bits_keep_every_digit() -> None:
    line = b'{"a":123456789012345678901234567890,"b":[-18446744073709551617,18446744073709551616]}'
    assert parse_line(line) == {
        "a": 123456789012345678901234567890,
        "b": [-18446744073709551617, 18446744073709551616],
    }


def test_what_json_allows_only_in_python_still_parses() -> None:
    value = parse_line(b'{"n": NaN, "i": Infinity, "m": -Infinity, "big": 1e400}')
    assert math.isnan(value["n"]) and value["i"] == value["big"] == math.inf and value["m"] == -math.inf
    assert parse_line(b'{"s": "\\ud800x"}') == {"s": "\ud800x"}  # a lone surrogate escape
    assert parse_line(b'{"s": "caf\xc3"}') == {"s": "caf\ufffd"}  # invalid UTF-8 is marked, not lost


def test_what_is_not_json_is_none() -> None:
    for line in (b"", b"  \n", b"{", b'{"a":1} trailing', b"[" * 5000 + b"]" * 5000):
        assert parse_line(line) is None


def test_deep_nesting_parses_as_far_as_it_did() -> None:
    deep = b'{"a":' * 1020 + b"1" + b"}" * 1020  # past msgspec's depth, within orjson's
    value = parse_line(deep)
    for _ in range(1020):
        value = value["a"]
    assert value == 1
