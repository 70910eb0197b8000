"""ids.document_id / row_id: deterministic, injective, readable for simple keys, robust to odd values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust import ids
from destination_dust.catalog import StreamKey

# Characters that stress the escaping: both separators, the escape character itself, the marker letters,
# characters kept as is (`_` `.`), and non-ASCII (including astral-plane and lone surrogates).
TRICKY = st.sampled_from([*"-~_.%ehncx ", "%2D", "~e", "~n", "é", "日", "🧮", "\ud800", "\x00", "/"])
KEY_TEXT = st.one_of(
    st.text(max_size=8),
    st.lists(st.one_of(TRICKY, st.text(max_size=2)), max_size=6).map("".join),
    st.text(min_size=150, max_size=400),  # past MAX_ID_LENGTH: the hash suffix
)
KEY_VALUE = st.one_of(st.none(), KEY_TEXT, st.integers(), st.integers(min_value=10**18, max_value=10**40))
NAME = st.one_of(st.text(min_size=1, max_size=10), st.lists(TRICKY, min_size=1, max_size=4).map("".join))
STREAM = st.builds(StreamKey, st.one_of(st.none(), NAME), NAME)


def same_key(value: Any) -> tuple[str, ...]:
    """The documented equivalence: key values are compared by their text (42 == "42"); null is its own."""
    return ("null",) if value is None else ("text", str(value))


def logical(stream: StreamKey, key: tuple[Any, ...]) -> tuple[Any, ...]:
    return (stream.namespace or None, stream.name, tuple(same_key(v) for v in key))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(STREAM, st.lists(KEY_VALUE, min_size=1, max_size=3).map(tuple)), max_size=40))
def test_document_ids_are_injective(entries: list[tuple[StreamKey, tuple[Any, ...]]]) -> None:
    seen: dict[str, tuple[Any, ...]] = {}
    for stream, key in entries:
        document_id = ids.document_id(stream, key, {})
        expected = logical(stream, key)
        assert seen.setdefault(document_id, expected) == expected, f"collision on {document_id!r}"
        assert len(document_id) <= ids.MAX_ID_LENGTH


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(KEY_VALUE, min_size=1, max_size=3).map(tuple), max_size=40))
def test_row_ids_are_injective(keys: list[tuple[Any, ...]]) -> None:
    seen: dict[str, tuple[Any, ...]] = {}
    for key in keys:
        row_id = ids.row_id(key, {})
        expected = tuple(same_key(v) for v in key)
        assert seen.setdefault(row_id, expected) == expected


@settings(max_examples=200, deadline=None)
@given(STREAM, st.lists(KEY_VALUE, min_size=1, max_size=3).map(tuple))
def test_ids_are_deterministic(stream: StreamKey, key: tuple[Any, ...]) -> None:
    assert ids.document_id(stream, key, {}) == ids.document_id(stream, list(key), {"other": 1})


def test_long_keys_that_share_a_head_stay_distinct() -> None:
    stream = StreamKey(None, "s")
    head = "k" * 300
    first, second = (ids.document_id(stream, [head + tail], {}) for tail in ("a", "b"))
    assert first != second
    assert "~h" in first and len(first) == ids.MAX_ID_LENGTH


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ((None, "s", ("a_b", "c")), (None, "s", ("a", "b_c"))),
        ((None, "s", ("a.b",)), (None, "s", ("a-b",))),
        ((None, "s", ("a-b",)), (None, "s", ("a_b",))),
        ((None, "s", ("a", "b")), (None, "s", ("a-b",))),
        ((None, "s", ("",)), (None, "s", (None,))),
        ((None, "s", ("~n",)), (None, "s", (None,))),
        ((None, "s", ("",)), (None, "s", ("~e",))),
        (("ns", "s", ("1",)), (None, "ns~s", ("1",))),
        ((None, "a-b", ("c",)), (None, "a", ("b-c",))),
        ((None, "s", ("%2D",)), (None, "s", ("-",))),
        ((None, "s", (-5,)), (None, "s", ("%2D5",))),
    ],
)
def test_issue_examples_differ(left: tuple[Any, ...], right: tuple[Any, ...]) -> None:
    def make(ns: str | None, name: str, key: tuple[Any, ...]) -> str:
        return ids.document_id(StreamKey(ns, name), key, {})

    assert make(*left) != make(*right)


@pytest.mark.parametrize(("left", "right"), [(42, "42"), (42.0, 42), (True, "true"), ({"a": 1}, '{"a":1}')])
def test_documented_equivalences(left: Any, right: Any) -> None:
    stream = StreamKey(None, "s")
    assert ids.document_id(stream, [left], {}) == ids.document_id(stream, [right], {})


def test_simple_keys_stay_readable() -> None:
    assert ids.document_id(StreamKey(None, "users"), [42], {}) == "users-42"
    assert ids.document_id(StreamKey("public", "orders"), [7, 2], {}) == "public~orders-7-2"
    assert ids.document_id(StreamKey(None, "order_lines"), ["A.1", 2], {}) == "order_lines-A.1-2"


def test_without_primary_key_the_content_decides() -> None:
    stream = StreamKey(None, "events")
    record = {"type": "login", "at": "2024-05-01"}
    first = ids.document_id(stream, None, record)
    assert first == ids.document_id(stream, None, dict(reversed(list(record.items()))))
    assert first != ids.document_id(stream, None, {**record, "type": "logout"})
    assert first.startswith("events-~c")


def _deep(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["x"] = {}
        node = node["x"]
    return root


@pytest.mark.parametrize(
    "record",
    [{"a": "\ud800"}, {"a": 10**30}, {"a": -(10**30)}, _deep(1000), {1: "non-string key"}, {"a": [10**5000]}],
    ids=["lone-surrogate", "big-int", "big-negative-int", "deep", "int-key", "huge-int"],
)
def test_odd_records_hash_without_crashing(record: dict[Any, Any]) -> None:
    stream = StreamKey(None, "events")
    first = ids.document_id(stream, None, record)
    assert first == ids.document_id(stream, None, record)
    assert first != ids.document_id(stream, None, {"other": True})


def test_odd_key_values_do_not_crash() -> None:
    stream = StreamKey(None, "s")
    keys = [10**5000, -(10**5000), "\ud800", {"a": ["\udfff"]}, float("nan"), 1e300]
    produced = {ids.document_id(stream, [key], {}) for key in keys}
    assert len(produced) == len(keys)


@settings(max_examples=500, deadline=None)
@given(st.one_of(KEY_VALUE, st.booleans(), st.floats(), st.integers(min_value=-5, max_value=10**19)))
def test_plain_key_part_is_the_general_row_id_when_it_answers(value: Any) -> None:
    plain = ids.plain_key_part(value)
    assert plain is None or plain == ids.row_id([value], {})


def test_plain_key_part_answers_for_the_common_keys() -> None:
    assert ids.plain_key_part(42) == "42" and ids.plain_key_part("abc123") == "abc123"
    assert ids.plain_key_part(-1) is None and ids.plain_key_part("a-b") is None
    assert ids.plain_key_part(True) is None and ids.plain_key_part("") is None
