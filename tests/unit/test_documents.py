"""Documents mode: record -> Dust document upsert body (render.py + documents.py).

Golden files: tests/fixtures/golden/<document_id>.json (the body) and .md (the text Dust indexes) for every
record of examples/data/. Regenerate after an intended rendering change with
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_documents.py
and read the diff: it is what agents will see.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_dust.catalog import StreamConfig, StreamKey, parse_catalog
from destination_dust.config import DustConfig, parse_config
from destination_dust.documents import (
    MAX_TAGS,
    ROOT_PREFIX_MAX_BYTES,
    DocumentRenderer,
    DocumentUpsert,
    timestamp_ms,
    valid_source_url,
)
from destination_dust.render import MAX_SECTION_PREFIX_BYTES, section_length
from destination_dust.timestamps import iso_ms
from dust_emulator.source_url import standardize_source_url

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
CREDENTIALS: dict[str, Any] = {
    "api_key": "sk-test",
    "workspace_id": "w",
    "space_id": "s",
    "data_source_id": "d",
}


def make_config(**settings: Any) -> DustConfig:
    return DustConfig(**CREDENTIALS, **settings)


def make_stream(
    name: str = "tickets",
    *,
    namespace: str | None = None,
    primary_key: tuple[tuple[str, ...], ...] = (("id",),),
    cursor: tuple[str, ...] = (),
    properties: dict[str, Any] | None = None,
    generation_id: int | None = None,
) -> StreamConfig:
    return StreamConfig(
        key=StreamKey(namespace, name),
        json_schema={"properties": properties or {}},
        destination_sync_mode="append",
        primary_key=primary_key,
        cursor_field=cursor,
        generation_id=generation_id,
        properties=properties or {},
    )


def render(data: Mapping[str, Any], *, emitted_at: int | None = None, stream: StreamConfig | None = None,
           **settings: Any) -> DocumentUpsert:  # fmt: skip
    return DocumentRenderer(stream or make_stream(), make_config(**settings)).render(data, emitted_at)


def full_text(section: Mapping[str, Any]) -> str:
    """Dust's sectionFullText: prefixes and contents joined with nothing in between."""
    return (
        (section["prefix"] or "")
        + (section["content"] or "")
        + "".join(full_text(s) for s in section["sections"])
    )


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def assert_dust_accepts(document: DocumentUpsert, limit: int) -> None:
    """What Dust's front and core check, plus our own promises about prefixes."""
    body = document.body
    orjson.dumps(body)  # serialisable as is (no lone surrogates, no >64-bit ints)
    assert section_length(body["section"]) == utf16(full_text(body["section"])) <= limit
    assert body["title"].strip() and "\n" not in body["title"] and utf16(body["title"]) <= 512
    assert len(body["tags"]) <= MAX_TAGS
    assert isinstance(body.get("timestamp", 0), int) and body.get("timestamp", 0) >= 0
    stack = [(body["section"], 0)]
    while stack:
        section, depth = stack.pop()
        assert set(section) == {"prefix", "content", "sections"}
        if section["prefix"]:
            assert section["prefix"].endswith("\n")
            limit_bytes = ROOT_PREFIX_MAX_BYTES if depth == 0 else MAX_SECTION_PREFIX_BYTES
            assert len(section["prefix"].encode("utf-8")) <= limit_bytes
        stack += [(child, depth + 1) for child in section["sections"]]


TICKET: dict[str, Any] = {
    "id": 4521,
    "subject": "Cannot export invoices to PDF",
    "status": "open",
    "priority": "high",
    "url": "https://help.example.com/tickets/4521",
    "description": "Clicking Export does nothing. " * 12,
    "updated_at": "2024-05-01T10:00:00+02:00",
    "requester": {"name": "Ada", "org": {"name": "Acme", "plan": None}},
    "labels": ["billing", "export"],
    "comments": [{"author": "Ada", "body": "Still broken.\nSecond line"}, {"author": "Bob", "body": "On it"}],
    "cc": None,
    "attachments": [],
    "extra": {},
    "blank": "   ",
}


# --- the body


def test_body_shape_and_header() -> None:
    document = render(
        TICKET, stream=make_stream(cursor=("updated_at",)), url_field="url", tag_fields=("status",)
    )
    body = document.body
    assert list(body) == [
        "title",
        "section",
        "tags",
        "timestamp",
        "source_url",
        "mime_type",
        "light_document_output",
    ]
    assert body["title"] == "Cannot export invoices to PDF"
    assert body["mime_type"] == "text/markdown" and body["light_document_output"] is True
    assert body["timestamp"] == 1714550400000  # 10:00+02:00
    assert body["section"]["prefix"] == (
        "$title: Cannot export invoices to PDF\n"
        "$updatedAt: 2024-05-01T08:00:00.000Z\n"
        "$stream: tickets\n"
        "$id: 4521\n"
        "$status: open\n"
    )
    assert_dust_accepts(document, make_config().max_document_chars)


def test_scalars_nested_values_and_empty_values() -> None:
    content = render(TICKET).body["section"]["content"]
    assert content == (
        "id: 4521\n"
        "subject: Cannot export invoices to PDF\n"
        "status: open\n"
        "priority: high\n"
        "url: https://help.example.com/tickets/4521\n"
        "updated_at: 2024-05-01T10:00:00+02:00\n"
        "requester.name: Ada\n"
        "requester.org.name: Acme\n"
        "labels: billing, export\n"
        "comments:\n"
        "- author: Ada\n"
        "  body: Still broken.\n"
        "    Second line\n"
        "- author: Bob\n"
        "  body: On it\n"
    )
    assert "cc" not in content and "attachments" not in content and "blank" not in content


def test_long_text_becomes_a_section() -> None:
    sections = render(TICKET).body["section"]["sections"]
    assert [s["prefix"] for s in sections] == ["## description\n"]
    assert sections[0]["content"] == TICKET["description"].strip() + "\n"
    assert sections[0]["sections"] == []


def test_long_text_inside_an_object_keeps_its_dotted_label() -> None:
    sections = render({"id": 1, "meta": {"notes": "n" * 300}}).body["section"]["sections"]
    assert [s["prefix"] for s in sections] == ["## meta.notes\n"]


def test_big_array_of_objects_becomes_a_section_of_bullets() -> None:
    comments = [{"author": f"user {i}", "body": f"comment number {i}"} for i in range(10)]
    sections = render({"id": 1, "comments": comments}).body["section"]["sections"]
    assert sections[0]["prefix"] == "## comments\n"
    assert sections[0]["content"].startswith("- author: user 0\n  body: comment number 0\n- author: user 1\n")


def test_scalar_arrays_with_commas_are_bullets() -> None:
    content = render({"id": 1, "cities": ["Paris, France", "Lyon"]}).body["section"]["content"]
    assert "cities:\n- Paris, France\n- Lyon\n" in content


def test_values_are_spelled_like_json() -> None:
    data = {"id": 1, "ok": True, "no": False, "zero": 0, "ratio": 0.5, "nan": math.nan, "inf": -math.inf,
            "big": 10**30}  # fmt: skip
    content = render(data).body["section"]["content"]
    for line in (
        "ok: true",
        "no: false",
        "zero: 0",
        "ratio: 0.5",
        "nan: NaN",
        "inf: -Infinity",
        f"big: {10**30}",
    ):
        assert line + "\n" in content


def test_field_order_follows_the_catalog_then_the_record() -> None:
    stream = make_stream(properties={"b": {}, "a": {}, "missing": {}})
    content = render({"z": 1, "a": 2, "id": 3, "b": 4}, stream=stream).body["section"]["content"]
    assert content == "b: 4\na: 2\nz: 1\nid: 3\n"


def test_text_fields_choose_and_order_the_fields() -> None:
    data = {"id": 1, "subject": "Hello", "requester": {"name": "Ada"}, "secret": "x"}
    content = render(data, text_fields=("requester.name", "subject", "nope")).body["section"]["content"]
    assert content == "requester.name: Ada\nsubject: Hello\n"


def test_airbyte_columns_are_left_out() -> None:
    data = {"id": 1, "_ab_cdc_lsn": 42, "_airbyte_extracted_at": "x", "name": "n"}
    assert render(data).body["section"]["content"] == "id: 1\nname: n\n"


def test_deep_nesting_is_capped_into_compact_json() -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(1000):
        deep = {"x": deep}
    document = render({"id": 1, "deep": deep})
    text = full_text(document.body["section"])
    assert "deep.x.x.x.x.x.x.x.x: {" in text
    assert_dust_accepts(document, make_config().max_document_chars)


def test_odd_strings_and_keys_are_cleaned() -> None:
    odd: dict[Any, Any] = {
        "id": 1,
        "s": "a\ud800b\x00c",
        7: "int key",
        "multi\nline key": "v",
        "crlf": "a\r\nb",
    }
    document = render(odd)
    content = document.body["section"]["content"]
    assert "s: a\ufffdbc\n" in content and "7: int key\n" in content and "multi line key: v\n" in content
    assert "crlf: a\n  b\n" in content
    orjson.dumps(document.body)


def test_rendering_is_deterministic() -> None:
    first = render(TICKET, emitted_at=1)
    second = render(json.loads(json.dumps(TICKET)), emitted_at=1)
    assert orjson.dumps(first.body) == orjson.dumps(second.body)
    assert first.fingerprint == second.fingerprint


# --- title


@pytest.mark.parametrize(
    ("data", "settings", "title"),
    [
        ({"id": 1, "title": "Mr.", "name": "Ada Lovelace"}, {}, "Ada Lovelace"),  # an honorific is no title
        ({"id": 1, "title": "T"}, {}, "T"),
        ({"id": 1, "name": "N", "subject": "S"}, {}, "N"),
        ({"id": 1, "summary": "  multi\n line  "}, {}, "multi line"),
        ({"id": 1, "title": "", "name": None, "subject": "S"}, {}, "S"),
        ({"id": 1, "headline": "H", "name": "N"}, {"title_field": "headline"}, "H"),
        ({"id": 1, "meta": {"headline": "H"}}, {"title_field": "meta.headline"}, "H"),
        ({"id": 1, "headline": None, "name": "N"}, {"title_field": "headline"}, "N"),
        ({"id": 4521, "title": {"not": "a string"}}, {}, "tickets 4521"),
        ({"id": 4521}, {}, "tickets 4521"),
        (
            {"id": 106, "user_id": 7, "product_id": 42, "created_at": "2024-05-01T10:00:00Z", "flag": True},
            {},
            "tickets 106: user_id 7, product_id 42, 2024-05-01",
        ),
    ],
)
def test_title_fallbacks(data: dict[str, Any], settings: dict[str, Any], title: str) -> None:
    assert render(data, **settings).body["title"] == title


def test_title_of_composite_and_missing_keys() -> None:
    lines = make_stream("order_lines", primary_key=(("order_id",), ("line_no",)))
    assert (
        render({"order_id": 7, "line_no": 2}, stream=lines).body["title"]
        == "order_lines order_id=7 line_no=2"
    )
    events = make_stream("events", primary_key=())
    assert render({"type": "x", "occurred_at": "2024-05-01"}, stream=events).body["title"] == (
        "events at 2024-05-01T00:00:00.000Z"
    )
    assert render({"type": "x"}, stream=events).body["title"].startswith("events record ")


def test_long_titles_are_cut_to_512_utf16_units() -> None:
    for title in ("t" * 600, "🧮" * 400):
        cut = render({"id": 1, "title": title}).body["title"]
        assert utf16(cut) <= 512 and cut.endswith("…")


# --- source_url


@pytest.mark.parametrize(
    "url",
    ["https://help.example.com/tickets/1", "http://example.com", "https://example.com:8443/a/b?x=1//2#f//g",
     "https://bücher.example/a", "http://[::1]:8080/x"],
)  # fmt: skip
def test_valid_source_urls(url: str) -> None:
    assert valid_source_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "https://example.com//double", "/relative/path", "example.com/x", "https://",
     "https://exa mple.com", "javascript:alert(1)", "https://example.com:99999/", "https:example.com",
     "https://example.com/a\\b", "mailto:a@example.com", "https://ex%41mple.com/", "https://1.2.3.999/",
     "https://a..b/"],
)  # fmt: skip
def test_invalid_source_urls(url: str) -> None:
    assert valid_source_url(url) is None


URL_PIECES = st.sampled_from(
    [
        "/",
        "//",
        "\\",
        "?",
        "#",
        "@",
        ".",
        "..",
        "%2e",
        "%41",
        " ",
        "\t",
        ":",
        "-",
        "~",
        "é",
        "a",
        "x=1",
        "8080",
    ]
)
URLS = st.one_of(
    st.lists(
        st.one_of(URL_PIECES, st.sampled_from(["http", "https:", "ftp://", "example.com"])), max_size=10
    ).map("".join),
    st.tuples(
        st.sampled_from(["http://", "https://", "HTTPS://", "https:", "https:/", "https:///"]),
        st.sampled_from(["", "user:pw@", "@"]),
        st.sampled_from(
            ["example.com", "bücher.de", "[::1]", "1.2.3.4", "1.2.3.999", "0x7f.1", "a..b", "ex%41.com"]
        ),
        st.sampled_from(["", ":8080", ":0", ":99999", ":"]),
        st.lists(URL_PIECES, max_size=6).map("".join),
    ).map("".join),
)


@settings(max_examples=1000, deadline=None)
@given(URLS)
def test_urls_we_accept_are_urls_dust_accepts(url: str) -> None:
    """Cross-check with the emulator's port of Dust's WHATWG-based check: ours may refuse more, never less."""
    if valid_source_url(url) is not None:
        standardize_source_url(url)  # raises InvalidUrl when Dust would answer 400


def test_url_field_is_dropped_with_one_warning_per_stream() -> None:
    renderer = DocumentRenderer(make_stream(), make_config(url_field="url"))
    first = renderer.render({"id": 1, "url": "https://example.com//x"})
    second = renderer.render({"id": 2, "url": "not a url"})
    assert "source_url" not in first.body and "source_url" not in second.body
    assert len(first.warnings) == 1 and "tickets" in first.warnings[0] and "'tickets-1'" in first.warnings[0]
    assert "example.com" not in first.warnings[0]  # never the content
    assert second.warnings == ()
    assert (
        renderer.render({"id": 3, "url": "https://ok.example/3"}).body["source_url"] == "https://ok.example/3"
    )


# --- timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", 1714557600000),
        ("2024-05-01T10:00:00", 1714557600000),  # naive = UTC
        ("2024-05-01T12:00:00+02:00", 1714557600000),
        ("2024-05-01 10:00:00.250", 1714557600250),
        ("2024-05-01", 1714521600000),
        ("Wed, 01 May 2024 10:00:00 GMT", 1714557600000),
        (1714557600, 1714557600000),  # epoch seconds
        (1714557600.5, 1714557600500),
        (1714557600000, 1714557600000),  # epoch ms
        ("1714557600", 1714557600000),
        ("not a date", None),
        ("", None),
        (True, None),
        (None, None),
        (-5, None),  # before 1970: Dust would mangle it
        (math.nan, None),
        (10**30, None),
        ({"a": 1}, None),
    ],
)
def test_timestamp_ms(value: Any, expected: int | None) -> None:
    assert timestamp_ms(value) == expected


def test_iso_ms_matches_javascript() -> None:
    assert iso_ms(1714557600250) == "2024-05-01T10:00:00.250Z"
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"


def test_timestamp_candidates() -> None:
    data = {"id": 1, "created_at": "2024-01-01", "updatedAt": "2024-02-01", "synced": "2024-03-01"}
    jan, feb, mar = 1704067200000, 1706745600000, 1709251200000
    assert render(data, emitted_at=5).body["timestamp"] == feb  # updated-like first
    assert render({"id": 1, "created_at": "2024-01-01"}, emitted_at=5).body["timestamp"] == jan
    assert render(data, stream=make_stream(cursor=("synced",))).body["timestamp"] == mar
    assert render(data, timestamp_field="created_at").body["timestamp"] == jan
    assert render({"id": 1}, emitted_at=1714557600000).body["timestamp"] == 1714557600000
    assert "timestamp" not in render({"id": 1}).body


def test_header_labels_the_time_it_shows() -> None:
    created = render({"id": 1, "created_at": "2024-01-01"}).body["section"]["prefix"]
    assert "$createdAt: 2024-01-01T00:00:00.000Z\n" in created
    emitted = render({"id": 1}, emitted_at=1714557600000).body["section"]["prefix"]
    assert "$updatedAt" not in emitted and "$createdAt" not in emitted  # the read time is not an update time


def test_an_integer_cursor_is_not_a_time() -> None:
    stream = make_stream(cursor=("seq",))
    assert (
        render({"id": 1, "seq": 4521}, stream=stream, emitted_at=1714557600000).body["timestamp"]
        == 1714557600000
    )


def test_bad_configured_timestamp_falls_back_with_a_warning() -> None:
    document = render({"id": 1, "when": "soon", "updated_at": "2024-02-01"}, timestamp_field="when")
    assert document.body["timestamp"] == 1706745600000
    assert (
        len(document.warnings) == 1
        and "'when'" in document.warnings[0]
        and "soon" not in document.warnings[0]
    )


# --- tags


def test_tags() -> None:
    stream = make_stream(namespace="crm", generation_id=3)
    data = {"id": 1, "status": "open", "labels": ["a", "b", "a", None, {"x": 1}], "owner": {"team": "emea"},
            "long": "x" * 65, "ok": True}  # fmt: skip
    document = render(
        data, stream=stream, tag_fields=("status", "labels", "owner.team", "long", "ok", "missing")
    )
    assert document.body["tags"] == [
        "status:open",
        "labels:a",
        "labels:b",
        "owner.team:emea",
        "ok:true",
        "airbyte:stream:tickets",
        "airbyte:namespace:crm",
        "airbyte:generation:3",
        f"airbyte:fp:{document.fingerprint[:16]}",
    ]
    assert "title:" not in " ".join(document.body["tags"])  # Dust adds it server-side


def test_tags_are_capped_and_system_tags_always_fit() -> None:
    document = render({"id": 1, "labels": [f"l{i}" for i in range(100)]}, tag_fields=("labels",),
                      stream=make_stream(generation_id=1))  # fmt: skip
    tags = document.body["tags"]
    assert len(tags) == MAX_TAGS
    assert tags[-3:] == [
        "airbyte:stream:tickets",
        "airbyte:generation:1",
        f"airbyte:fp:{document.fingerprint[:16]}",
    ]


def test_fingerprint_ignores_generation_but_not_content() -> None:
    data = {"id": 1, "name": "n"}
    one = render(data, stream=make_stream(generation_id=1))
    two = render(data, stream=make_stream(generation_id=2))
    assert one.fingerprint == two.fingerprint and one.body["tags"] != two.body["tags"]
    assert render({"id": 1, "name": "m"}).fingerprint != render(data).fingerprint
    # the read time changes every sync: it must not make an unchanged record look changed; a record time must
    assert render(data, emitted_at=1).fingerprint == render(data, emitted_at=2).fingerprint
    dated = {**data, "updated_at": "2024-01-01"}
    assert (
        render(dated, emitted_at=1).fingerprint != render({**dated, "updated_at": "2024-01-02"}).fingerprint
    )


# --- size


def test_a_5mb_record_is_truncated_quickly_with_a_marker() -> None:
    config = make_config()
    data = {
        "id": 7,
        "name": "big",
        "body": "lorem ipsum\n" * 450_000,
        "notes": "é🧮" * 100_000,
        "tail": "t" * 300,
    }
    started = time.perf_counter()
    document = DocumentRenderer(make_stream(), config).render(data)
    elapsed = time.perf_counter() - started
    assert elapsed < 2
    assert document.truncated
    text = full_text(document.body["section"])
    assert utf16(text) <= config.max_document_chars
    assert text.rstrip().endswith(f"Dust's limit is {config.max_document_chars:,}]")
    assert "[truncated by Airbyte: the record was 5," in text
    assert [s["prefix"] for s in document.body["section"]["sections"]] == ["## body\n"]
    assert document.warnings == ()
    ((kind, detail),) = document.losses
    assert kind == "documents truncated to max_document_size_mb"
    assert detail.startswith("document 'tickets-7' was truncated from 5,")
    assert detail.endswith("the cut starts in field 'body'")
    assert document.size > 2_000_000
    assert_dust_accepts(document, config.max_document_chars)


def test_truncation_cuts_between_sections_when_possible() -> None:
    config = make_config(max_document_size_mb=0.001)  # 1,048 characters
    data = {"id": 1, "a": "a" * 300, "b": "b" * 300, "c": "c" * 900}
    document = DocumentRenderer(make_stream(), config).render(data)
    sections = document.body["section"]["sections"]
    assert [s["prefix"] for s in sections] == ["## a\n", "## b\n", "## c\n"]
    assert sections[0]["content"] == "a" * 300 + "\n" and sections[1]["content"] == "b" * 300 + "\n"
    assert sections[2]["content"].startswith("ccc") and "[truncated by Airbyte" in sections[2]["content"]
    assert_dust_accepts(document, config.max_document_chars)
    assert document.losses[0][1].endswith("the cut starts in field 'c'")


def test_text_that_cannot_be_encoded_is_replaced_and_its_fields_named() -> None:
    document = DocumentRenderer(make_stream(), make_config()).render(
        {"id": 1, "name": "a\ud800b", "ok": "fine", "nested": {"k": ["\udfff"]}}
    )
    assert "a\ufffdb" in full_text(document.body["section"])
    ((kind, detail),) = document.losses
    assert kind == "documents with text that cannot be encoded"
    assert detail == (
        "document 'tickets-1': text that cannot be encoded (a lone UTF-16 surrogate) was replaced by U+FFFD "
        "in fields 'name', 'nested'"
    )


def test_surrogate_pairs_are_never_split() -> None:
    config = make_config(max_document_size_mb=0.0005)
    document = DocumentRenderer(make_stream(), config).render({"id": 1, "t": "🧮" * 1000})
    assert_dust_accepts(document, config.max_document_chars)
    assert "\ufffd" not in full_text(document.body["section"])


@pytest.mark.parametrize("size_mb", [0.00001, 0.00005, 0.0001, 0.0002])
def test_tiny_limits_still_give_an_acceptable_body(size_mb: float) -> None:
    config = make_config(max_document_size_mb=size_mb)
    document = DocumentRenderer(make_stream(), config).render(TICKET)
    assert document.truncated
    assert_dust_accepts(document, config.max_document_chars)


def test_a_record_that_multiplies_when_flattened_stops_early() -> None:
    config = make_config(max_document_size_mb=0.5)
    inner: dict[str, Any] = {f"k{i}": i for i in range(300_000)}
    for level in range(6):
        inner = {f"{level}" * 120: inner}  # every leaf line would repeat a long path: ~40M characters in all
    started = time.perf_counter()
    document = DocumentRenderer(make_stream(), config).render({"id": 1, "tree": inner})
    assert time.perf_counter() - started < 3
    text = full_text(document.body["section"])
    assert document.truncated and "[truncated by Airbyte: the record was over " in text
    assert "truncated from over" in document.losses[0][1]
    assert_dust_accepts(document, config.max_document_chars)


def test_a_wide_record_renders_in_linear_time() -> None:
    def seconds(fields: int) -> float:
        data = {"id": 1, **{f"field_{i}": f"value {i}" for i in range(fields)}}
        started = time.perf_counter()
        document = render(data, max_document_size_mb=20)
        elapsed = time.perf_counter() - started
        assert f"field_{fields - 1}: value {fields - 1}\n" in document.body["section"]["content"]
        return elapsed

    small, large = seconds(25_000), seconds(200_000)
    assert large < 16 * small + 0.5  # 8x the fields: linear is ~8x, quadratic would be ~64x


def test_header_stays_small_whatever_the_script() -> None:
    stream = make_stream("流" * 100, namespace="ns" * 50)
    data = {"id": "鍵" * 100, "title": "題" * 300, "status": "状" * 60, "updated_at": "2024-01-01"}
    document = render(data, stream=stream, tag_fields=("status",))
    prefix = document.body["section"]["prefix"]
    assert len(prefix.encode("utf-8")) <= ROOT_PREFIX_MAX_BYTES
    assert prefix.startswith("$title: 題") and "$updatedAt: 2024-01-01T00:00:00.000Z\n" in prefix
    assert_dust_accepts(document, make_config().max_document_chars)


def test_small_records_are_not_truncated() -> None:
    document = render(TICKET)
    assert not document.truncated and document.warnings == () and document.losses == ()
    assert "[truncated" not in full_text(document.body["section"])


# --- any input


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0x1F9FF), max_size=50),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=40,
)
RECORDS = st.dictionaries(st.text(max_size=30), JSON_VALUES, max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record=RECORDS,
    size_mb=st.sampled_from([2.0, 0.002, 0.0003, 0.00005]),
    title_field=st.sampled_from([None, "title", "a.b"]),
    tag_fields=st.sampled_from([(), ("status", "", "a.b")]),
    pk=st.sampled_from([(("id",),), (), (("a",), ("b",))]),
)
def test_any_json_record_renders_within_limits(
    record: dict[str, Any], size_mb: float, title_field: str | None, tag_fields: tuple[str, ...],
    pk: tuple[tuple[str, ...], ...],
) -> None:  # fmt: skip
    config = make_config(max_document_size_mb=size_mb, title_field=title_field, tag_fields=tag_fields,
                         url_field="url", timestamp_field="t")  # fmt: skip
    renderer = DocumentRenderer(make_stream(primary_key=pk, generation_id=1), config)
    document = renderer.render(record, emitted_at=1714557600000)
    assert_dust_accepts(document, config.max_document_chars)
    has_marker = "[truncated by Airbyte" in full_text(document.body["section"])
    assert (
        has_marker <= document.truncated
    )  # a marker only when truncated (tiny limits may have no room for it)
    if document.truncated and config.max_document_chars >= 300:
        assert has_marker
    assert renderer.render(record, emitted_at=1714557600000).body == document.body


# --- golden files for the shared sample (examples/data)


def render_sample() -> dict[str, DocumentUpsert]:
    """The last document per id, as Dust holds it after syncing examples/data/records.jsonl."""
    settings = json.loads((EXAMPLES / "config.documents.json").read_text())
    config = parse_config({**settings, **CREDENTIALS})
    streams = parse_catalog(json.loads((EXAMPLES / "catalog.json").read_text()))
    renderers = {key: DocumentRenderer(stream, config) for key, stream in streams.items()}
    documents: dict[str, DocumentUpsert] = {}
    for line in (EXAMPLES / "records.jsonl").read_text().splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            record = message["record"]
            key = StreamKey(record.get("namespace") or None, record["stream"])
            document = renderers[key].render(record["data"], record.get("emitted_at"))
            documents[document.document_id] = document
    return documents


def golden_json(document: DocumentUpsert) -> str:
    payload = {"document_id": document.document_id, "truncated": document.truncated, "body": document.body}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def test_golden_documents() -> None:
    documents = render_sample()
    assert len(documents) == 27  # 28 records, one ticket sent twice
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for stale in GOLDEN.glob("*"):
            stale.unlink()
        for document_id, document in documents.items():
            (GOLDEN / f"{document_id}.json").write_text(golden_json(document))
            (GOLDEN / f"{document_id}.md").write_text(full_text(document.body["section"]))
    expected = {path.stem for path in GOLDEN.glob("*.json")}
    assert expected == set(documents), (
        "golden files out of date: UPDATE_GOLDEN=1 pytest tests/unit/test_documents.py"
    )
    for document_id, document in documents.items():
        assert golden_json(document) == (GOLDEN / f"{document_id}.json").read_text(), document_id
        assert full_text(document.body["section"]) == (GOLDEN / f"{document_id}.md").read_text(), document_id
        assert_dust_accepts(document, 2 * 1024 * 1024)
