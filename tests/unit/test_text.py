"""text.py: the text rules documents and tables share, and the one place they differ (lone surrogates)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from destination_dust.catalog import StreamConfig, StreamKey
from destination_dust.cells import to_text
from destination_dust.config import DustConfig
from destination_dust.documents import DocumentRenderer
from destination_dust.text import REPLACEMENT, clean_text, number_in_text, scalar_text, single_line


def test_lone_surrogates_are_dropped_from_cells_and_replaced_in_documents() -> None:
    assert clean_text("a\ud800b\x00c") == "abc"
    assert clean_text("a\ud800b\x00c", REPLACEMENT) == "a\ufffdbc"
    assert clean_text("ascii\x00", REPLACEMENT) == "ascii"
    assert clean_text("é🙂", REPLACEMENT) == "é🙂"
    # the two modes through their real paths
    assert to_text("x\udc00y") == "xy"
    stream = StreamConfig(StreamKey(None, "notes"), {}, "append", primary_key=(("id",),))
    config = DustConfig(api_key="k" * 40, workspace_id="w", space_id="s", data_source_id="d")
    body = DocumentRenderer(stream, config).render({"id": 1, "title": "x\udc00y", "note": "a\ud800"}).body
    assert body["title"] == "x\ufffdy"
    assert "note: a\ufffd" in body["section"]["content"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (2**70, str(2**70)),
        (1.5, "1.5"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        (dt.date(2024, 5, 1), "2024-05-01"),
        (Decimal("1.10"), "1.10"),
        ({"a": [1, None]}, '{"a":[1,null]}'),
    ],
)
def test_scalar_text(value: object, text: str) -> None:
    assert scalar_text(value) == text


def test_scalar_text_of_an_integer_past_pythons_digit_limit() -> None:
    assert scalar_text(10**5000) == "(an integer of about 5000 digits)"


def test_single_line() -> None:
    assert single_line("  a\n\tb  \ud800 ") == "a b \ufffd"


@pytest.mark.parametrize(
    ("text", "number"),
    [(" 42 ", 42), ("-1.5e3", -1500.0), (str(2**70), 2**70), ("nan", None), ("1e999", None), ("x", None)],
)
def test_number_in_text(text: str, number: float | None) -> None:
    assert number_in_text(text) == number
