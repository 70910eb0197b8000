"""Pure logic of the emulator: schema inference, JS/Rust value quirks, URL standardisation."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dust_emulator import rowbatch, schema
from dust_emulator.errors import DustApiError, InvalidCell
from dust_emulator.jsvalues import clean_timestamp, js_key_order, js_number, rust_number_text, utf16_len
from dust_emulator.source_url import InvalidUrl, standardize_source_url
from dust_emulator.validation import rows_body


def test_types_widen_like_core() -> None:
    columns = schema.from_values(
        [
            {"i": 1, "f": 1, "t": 1, "b": True, "d": {"type": "datetime", "epoch": 0}, "n": None},
            {"i": 2, "f": 2.5, "t": "x", "b": False, "d": {"type": "datetime", "epoch": 1000}, "n": None},
        ]
    )
    assert [(c["name"], c["value_type"]) for c in columns] == [
        ("i", "int"),
        ("f", "float"),
        ("t", "text"),
        ("b", "bool"),
        ("d", "datetime"),
    ]
    by_name = {c["name"]: c for c in columns}
    assert by_name["t"]["possible_values"] == ["1", '"x"']
    assert by_name["b"]["possible_values"] == ["TRUE", "FALSE"]
    assert by_name["d"]["possible_values"] == ["1970-01-01 00:00:00", "1970-01-01 00:00:01"]


def test_possible_values_limits() -> None:
    many = schema.from_values([{"c": i} for i in range(17)])
    assert many[0]["possible_values"] is None
    sixteen = schema.from_values([{"c": i} for i in range(16)])
    assert sixteen[0]["possible_values"] == [str(i) for i in range(16)]
    long_text = schema.from_values([{"c": "x" * 30}, {"c": "y"}])  # quoted: 32 bytes is still fine
    assert long_text[0]["possible_values"] == ['"' + "x" * 30 + '"', '"y"']
    too_long = schema.from_values([{"c": "x" * 31}])
    assert too_long[0]["possible_values"] is None
    multibyte = schema.from_values([{"c": "é" * 16}])  # 32 bytes of UTF-8 + quotes
    assert multibyte[0]["possible_values"] is None


def test_merge_widens_and_appends_and_resurrects_given_up_values() -> None:
    old = schema.from_values([{"a": 1, "b": "x"}])
    new = schema.merge(old, schema.from_values([{"a": 1.5, "c": True}]))
    assert [(c["name"], c["value_type"]) for c in new] == [("a", "float"), ("b", "text"), ("c", "bool")]
    assert new[0]["possible_values"] == ["1", "1.5"]
    # core's merge treats a given-up (null) list as empty, so values come back
    gave_up = schema.from_values([{"a": i} for i in range(20)])
    assert schema.merge(gave_up, schema.from_values([{"a": 1}]))[0]["possible_values"] == ["1"]


def test_truncate_rebuilds_from_the_batch() -> None:
    cached = schema.from_values([{"a": "x", "b": 1}])
    assert schema.next_schema(cached, schema.from_values([{"a": 1}]), truncate=True) == schema.from_values(
        [{"a": 1}]
    )
    assert [
        c["value_type"] for c in schema.next_schema(cached, schema.from_values([{"a": 1}]), truncate=False)
    ] == [
        "text",
        "int",
    ]


@pytest.mark.parametrize("epoch", [1.5, "1", None, True, 10**20])
def test_invalid_datetime_epochs_fail_like_core(epoch: object) -> None:
    with pytest.raises(InvalidCell):
        schema.from_values([{"d": {"type": "datetime", "epoch": epoch}}])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (1.5, "1.5"),
        (1e20, "1e20"),
        (0.0001, "0.0001"),
        (0.00001, "0.00001"),
        (1e-6, "1e-6"),
        (-2.5e-7, "-2.5e-7"),
        (123456.789, "123456.789"),
        (1e16, "1e16"),
        (1.2345e15, "1234500000000000.0"),
    ],
)
def test_rust_number_text(value: float, text: str) -> None:
    assert rust_number_text(value) == text


def test_js_number_round_trip() -> None:
    assert js_number(1.0) == 1 and isinstance(js_number(1.0), int)
    assert js_number(2**53 + 1) == 2**53  # a JS double cannot hold it
    assert isinstance(js_number(1e300), float)
    assert isinstance(js_number(1.5), float)


@given(
    st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False, allow_infinity=False)
    )
)
def test_js_number_is_what_a_double_holds(value: float) -> None:
    normalised = js_number(value)
    assert float(normalised) == float(value)
    if isinstance(normalised, int):
        assert -(2**63) <= normalised <= 2**63 - 1


def test_js_key_order_puts_array_indices_first() -> None:
    assert list(js_key_order({"b": 1, "10": 2, "a": 3, "2": 4, "01": 5})) == ["2", "10", "b", "a", "01"]


def test_utf16_length() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("é") == 1
    assert utf16_len("🚀") == 2


def test_clean_timestamp_reference_quirk() -> None:
    assert clean_timestamp(1700000000123.9) == 1700000000123
    assert clean_timestamp(1700000000) == 1700000000  # seconds are NOT converted (XOR bug)
    assert clean_timestamp(-5) == -5000
    assert clean_timestamp(None) is None
    assert clean_timestamp(math.nan) is None


@pytest.mark.parametrize(
    ("raw", "href"),
    [
        ("https://Example.COM", "https://example.com/"),
        ("http://a.com:80/x/../y?q=a b#f", "http://a.com/y?q=a%20b#f"),
        ("https://a.com:8443/p", "https://a.com:8443/p"),
        ("  https://a.com/é  ", "https://a.com/%C3%A9"),
        ("HTTPS://a.com/a\\b", "https://a.com/a/b"),
    ],
)
def test_source_url_standardisation(raw: str, href: str) -> None:
    assert standardize_source_url(raw) == href


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://a.com/x",
        "not a url",
        "https://a.com//x",
        "https://a.com/a//b",
        "https://",
        "mailto:someone@a.com",
        "https://a.com:99999/",
        "javascript:alert(1)",
    ],
)
def test_invalid_source_urls(raw: str) -> None:
    with pytest.raises(InvalidUrl):
        standardize_source_url(raw)


def test_rows_validation() -> None:
    rows, truncate = rows_body(
        {
            "rows": [
                {
                    "row_id": "1",
                    "value": {"a": 1.0, "d": {"type": "datetime", "epoch": 5, "extra": "dropped"}},
                }
            ]
        }
    )
    assert rows == [("1", {"a": 1, "d": {"type": "datetime", "epoch": 5}})] and truncate is False
    for bad in (
        {"rows": [{"row_id": "1", "value": {"a": [1]}}]},
        {"rows": [{"row_id": "1", "value": {"a": {}}}]},
        {"rows": [{"row_id": "1", "value": {"A": 1}}]},
        {"rows": [{"row_id": "1", "value": {"": 1}}]},
        {"rows": [{"row_id": 1, "value": {}}]},
        {"rows": "x"},
        {},
        {"rows": [], "truncate": "yes"},
    ):
        with pytest.raises(DustApiError) as error:
            rows_body(bad)
        assert error.value.status == 400


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**60), 2**60),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=40),
        ),
        max_size=8,
    )
)
def test_any_valid_row_infers_a_schema(value: dict[str, object]) -> None:
    rows, _ = rows_body({"rows": [{"row_id": "r", "value": value}]})
    columns = schema.from_values([v for _, v in rows])
    assert {c["name"] for c in columns} == {k for k, v in value.items() if v is not None}
    for column in columns:
        assert column["value_type"] in ("int", "float", "text", "bool")


def _naive_from_rows(rows: list[dict[str, object]]) -> list[schema.Column]:
    """Core's from_rows transcribed cell by cell, to check the optimised version against."""
    columns: dict[str, schema.Column] = {}
    for value in rows:
        for key, cell in value.items():
            if cell is None:
                continue
            kind = schema.TYPE_NAMES[type(cell)]
            text = schema.render(cell, kind)
            if key not in columns:
                columns[key] = {"name": key, "value_type": kind, "possible_values": []}
            else:
                columns[key]["value_type"] = schema.widen(columns[key]["value_type"], kind)
            schema.accumulate(columns[key], text)
    return list(columns.values())


_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.sampled_from([0.5, 1.25, -2.5, 1e20]),
    st.text(alphabet="abcé", max_size=12),
    st.builds(lambda s: {"type": "datetime", "epoch": s}, st.integers(0, 40_000)),
)


@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _cells, max_size=4), max_size=60))
def test_optimised_inference_matches_cell_by_cell_core(rows: list[dict[str, object]]) -> None:
    assert schema.from_values(rows) == _naive_from_rows(rows)


# ---- the rows fast path (rowbatch) against the reference (rows_body + from_values) ---------------

_KEYS = ["a", "b", "c_1", "d"]
_fast_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.sampled_from([2**53, 2**53 + 1, -(2**60), 2**63, 2**70]),
    st.sampled_from([0.5, 1.25, -2.5, 1e20, 3.0, -0.0, 0.0, 1e300, 2.0**63]),
    st.text(alphabet="abcé\"'", max_size=12),
    st.text(alphabet="xy", min_size=30, max_size=34),
    st.builds(lambda s: {"type": "datetime", "epoch": s}, st.integers(0, 40_000_000)),
    st.sampled_from(
        [
            {"type": "datetime", "epoch": 1.5},
            {"type": "datetime", "epoch": 2.0},
            {"type": "datetime", "epoch": 10**20},
            {"type": "datetime", "epoch": -(2**60)},
            {"type": "datetime", "epoch": 5, "extra": 1},
            {"epoch": 5, "type": "datetime"},
            {"type": "date", "epoch": 5},
            {"type": ["datetime"], "epoch": 5},
            {"type": "datetime", "epoch": True},
            {"type": "datetime"},
            {},
            [1],
        ]
    ),
)


@st.composite
def _rows_bodies(draw: st.DrawFn) -> object:
    """Mostly batches the fast path takes (same keys in every row), some it must hand back."""
    clean = draw(st.integers(0, 9)) < 6  # no malformed row, key or cell anywhere
    keys = draw(st.lists(st.sampled_from([*_KEYS, "B", "7", ""]), min_size=1, max_size=4, unique=True))
    if clean or draw(st.integers(0, 4)):
        keys = [key for key in keys if key in _KEYS] or ["a"]
    kinds = ["int", "float", "text", "datetime", "mixed", "mixed"] + ([] if clean else ["odd"])
    column_cells = {key: draw(st.sampled_from(kinds)) for key in keys}
    epochs = st.one_of(
        st.integers(0, 40_000_000),
        st.sampled_from([schema.MIN_EPOCH_MS, schema.MAX_EPOCH_MS, schema.MAX_EPOCH_MS + 1, -(2**53)]),
    )
    by_kind = {
        "int": st.one_of(st.none(), st.integers(-(2**54), 2**54), st.integers(0, 20)),
        "float": st.one_of(st.none(), st.sampled_from([0.5, 1.0, -0.0, 2.25, 1e16, 1e300])),
        "text": st.one_of(st.none(), st.sampled_from(["x", "y", "z" * 40]), st.text(max_size=5)),
        "datetime": st.one_of(st.none(), st.builds(lambda s: {"type": "datetime", "epoch": s}, epochs)),
        "mixed": st.one_of(
            st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, 1.0]), st.text("ab")
        ),
        "odd": _fast_cells,
    }
    rows = []
    for index in range(draw(st.integers(0, 40))):
        row_keys = list(keys)
        if draw(st.integers(0, 30)) == 0:
            row_keys = draw(st.permutations(keys))
        if not clean and draw(st.integers(0, 40)) == 0:
            row_keys = row_keys[:-1]
        value = {key: draw(by_kind[column_cells[key]]) for key in row_keys}
        row: object = {"row_id": str(draw(st.integers(0, 20))) if index % 7 else f"r{index}", "value": value}
        if not clean and draw(st.integers(0, 60)) == 0:
            row = draw(st.sampled_from([{"row_id": 1, "value": {}}, {"value": {}}, {"row_id": "x"}, [], "x"]))
        rows.append(row)
    body: dict[str, object] = {"rows": rows}
    truncate = draw(st.sampled_from([True, False, "missing"] + ([] if clean else [None, "yes"])))
    if truncate != "missing":
        body["truncate"] = truncate
    return body


def _outcome(
    parse: Callable[[object], tuple[list[str], list[dict[str, object]], bool, Callable[[], object]]],
    body: object,
) -> object:
    try:
        row_ids, values, truncate, infer = parse(copy.deepcopy(body))
    except DustApiError as error:
        return ("error", error.status, error.body())
    try:
        inferred = infer()
    except InvalidCell:
        inferred = "InvalidCell"
    # orjson bytes: 1 and 1.0 compare equal in Python but not once stored.
    return (row_ids, orjson.dumps(values), truncate, inferred)


def _reference(body: object) -> tuple[list[str], list[dict[str, object]], bool, Callable[[], object]]:
    rows, truncate = rows_body(body)
    values = [value for _, value in rows]
    return [row_id for row_id, _ in rows], values, truncate, lambda: schema.from_values(values)


def _fast(body: object) -> tuple[list[str], list[dict[str, object]], bool, Callable[[], object]]:
    batch = rowbatch.parse(body)
    return batch.row_ids, batch.values, batch.truncate, batch.infer


@settings(max_examples=400, deadline=None)
@given(_rows_bodies())
def test_rows_fast_path_matches_the_reference(body: object) -> None:
    assert _outcome(_fast, body) == _outcome(_reference, body)


def test_a_typical_batch_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dust_emulator.validation.rows_body", lambda raw: pytest.fail("reference path used"))
    rows: list[dict[str, Any]] = [
        {
            "row_id": str(n),
            "value": {
                "id": n,
                "score": n * 0.5,
                "name": f"user {n}" if n % 3 else None,
                "ok": n % 2 == 0,
                "at": {"type": "datetime", "epoch": 1_700_000_000_000 + n * 1000},
            },
        }
        for n in range(40)
    ]
    batch = rowbatch.parse({"rows": rows, "truncate": True})
    assert batch.truncate is True and batch.row_ids[:2] == ["0", "1"]
    assert batch.values[2] == {
        "id": 2,
        "score": 1,
        "name": "user 2",
        "ok": True,
        "at": rows[2]["value"]["at"],
    }
    assert type(batch.values[2]["score"]) is int
    assert [(c["name"], c["value_type"]) for c in batch.infer()] == [
        ("id", "int"),
        ("score", "float"),
        ("ok", "bool"),
        ("at", "datetime"),
        ("name", "text"),
    ]


@pytest.mark.parametrize(
    "rows",
    [
        # a and b first appear in the second row, whose key order (b, a) decides their order
        [{"a": None, "b": None, "c": 1}, {"b": 1, "a": 2, "c": 3}],
        # more than 16 distinct values settled from the first cells; an epoch past year 9999
        [{"a": n, "d": {"type": "datetime", "epoch": n * 1000}} for n in range(100)],
        [{"a": n, "d": {"type": "datetime", "epoch": schema.MAX_EPOCH_MS + n}} for n in range(40)],
        [{"a": 1.0, "b": 2**60}, {"a": 1.5, "b": 3}],
    ],
)
def test_rows_fast_path_matches_the_reference_on(rows: list[dict[str, object]]) -> None:
    body = {"rows": [{"row_id": str(n), "value": value} for n, value in enumerate(rows)]}
    assert _outcome(_fast, body) == _outcome(_reference, body)
