"""Per-stream settings (`streams`): each stream renders with its own fields, the deprecated `stream_formats` is
still read, and a malformed entry is a ConfigError that names the entry and the fix."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from destination_dust.catalog import StreamConfig, StreamKey
from destination_dust.config import DustConfig, connection_schema, parse_config
from destination_dust.documents import DocumentRenderer
from destination_dust.errors import ConfigError
from destination_dust.stream_settings import OWN_SETTINGS, not_in_catalog
from tests.helpers import FAKE_KEY

BASE: dict[str, Any] = {"api_key": FAKE_KEY, "workspace_id": "w1", "space_id": "vlt_1", "data_source_id": "f"}

TICKET = {"id": 7, "subject": "Export fails", "description": "The PDF export times out", "status": "open",
          "priority": "high", "email": "ada@example.com", "html_url": "https://help.example.com/t/7"}  # fmt: skip
USER = {"id": 42, "name": "Ada Lovelace", "title": "Mrs.", "email": "ada@example.com", "role": "admin",
        "subject": "not a user field"}  # fmt: skip


def stream(name: str, namespace: str | None = None) -> StreamConfig:
    return StreamConfig(StreamKey(namespace, name), {}, "append", primary_key=(("id",),))


def test_two_streams_render_with_their_own_title_text_and_tag_fields() -> None:
    config = parse_config(
        {
            **BASE,
            "text_fields": ["subject", "description"],  # the connection-wide default: right for tickets only
            "tag_fields": ["status"],
            "streams": [
                {"name": "tickets", "tag_fields": ["status", "priority"], "url_field": "html_url"},
                {
                    "name": "users",
                    "title_field": "email",
                    "text_fields": ["name", "role"],
                    "tag_fields": ["role"],
                },
            ],
        }
    )
    ticket = DocumentRenderer(stream("tickets"), config).render(TICKET).body
    user = DocumentRenderer(stream("users"), config).render(USER).body
    assert ticket["title"] == "Export fails"
    assert ticket["section"]["content"] == "subject: Export fails\ndescription: The PDF export times out\n"
    assert ticket["tags"][:2] == ["status:open", "priority:high"]
    assert ticket["source_url"] == "https://help.example.com/t/7"
    assert user["title"] == "ada@example.com"
    assert user["section"]["content"] == "name: Ada Lovelace\nrole: admin\n"  # not two empty ticket fields
    assert user["tags"][0] == "role:admin" and "status:open" not in user["tags"]
    assert "source_url" not in user


def test_a_stream_without_an_entry_keeps_the_connection_defaults_and_namespaced_entries_win() -> None:
    config = parse_config(
        {
            **BASE,
            "title_field": "subject",
            "streams": [
                {"name": "users", "title_field": "email"},
                {"name": "crm.users", "title_field": "name"},
            ],
        }
    )
    assert DocumentRenderer(stream("other"), config).render(TICKET).body["title"] == "Export fails"
    assert DocumentRenderer(stream("users"), config).render(USER).body["title"] == "ada@example.com"
    assert DocumentRenderer(stream("users", "crm"), config).render(USER).body["title"] == "Ada Lovelace"


def test_data_format_per_stream_and_the_deprecated_stream_formats() -> None:
    config = parse_config(
        {
            **BASE,
            "stream_formats": {"users": "tables", "events": "tables"},
            "streams": [
                {"name": "events", "data_format": "documents"},
                {"name": "ns.x", "data_format": "tables"},
            ],
        }
    )
    assert config.format_for(None, "users") == "tables"  # from stream_formats
    assert config.format_for(None, "events") == "documents"  # streams wins over stream_formats
    assert config.format_for("ns", "x") == "tables"
    assert config.format_for(None, "tickets") == "documents"


def test_composed_streams_and_their_parents_are_documents_even_when_the_default_is_tables() -> None:
    config = parse_config(
        {
            **BASE,
            "data_format": "tables",
            "streams": [{"name": "comments", "parent_stream": "tickets", "parent_key": ["ticket_id"]}],
        }
    )
    assert config.format_for(None, "comments") == "documents"
    assert config.format_for(None, "tickets") == "documents"
    assert config.format_for(None, "users") == "tables"


@pytest.mark.parametrize(
    ("streams", "named", "fix"),
    [
        ({"streams": {"users": {}}}, "'streams' must be a list", "[{"),
        ({"streams": ["users"]}, "#1", '{"name"'),
        ({"streams": [{"title_field": "x"}]}, "#1", "Add the stream's name"),
        ({"streams": [{"name": "users", "titel_field": "x"}]}, "'users'", "'titel_field'"),
        ({"streams": [{"name": "users", "tag_fields": "status"}]}, "'users'", '"tag_fields": ['),
        ({"streams": [{"name": "users", "title_field": ""}]}, "'users'", "dot path"),
        ({"streams": [{"name": "users", "data_format": "csv"}]}, "'users'", "'documents' or 'tables'"),
        ({"streams": [{"name": "users"}, {"name": "users"}]}, "'users'", "Merge"),
        ({"streams": [{"name": "c", "parent_stream": "t"}]}, "'c'", '"parent_key"'),
        ({"streams": [{"name": "c", "parent_key": ["t_id"]}]}, "'c'", '"parent_stream"'),
        ({"streams": [{"name": "c", "parent_stream": "c", "parent_key": ["id"]}]}, "'c'", "another stream"),
        (
            {"streams": [{"name": "c", "parent_stream": "t", "parent_key": ["t"], "data_format": "tables"}]},
            "'c'",
            "Remove data_format",
        ),
        (
            {
                "streams": [
                    {"name": "a", "parent_stream": "b", "parent_key": ["b_id"]},
                    {"name": "b", "parent_stream": "c", "parent_key": ["c_id"]},
                ]
            },
            "'a'",
            "same top-level parent",
        ),
        ({"streams": [{"name": "u", "tag_fields": [f"f{i}" for i in range(17)]}]}, "'u'", "at most 16"),
        ({"streams": [{"name": "u", "tag_fields": ["status", " "]}]}, "'u'", "list of field paths"),
        ({"streams": [{"name": "u", "url_field": "  "}]}, "'u'", "dot path"),
        ({"streams": [{"name": "u", "group_by": ["c"], "group_period": "hour"}]}, "'u'", "'day', 'week' or"),
    ],
)
def test_a_malformed_entry_names_itself_and_the_fix(streams: dict[str, Any], named: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, **streams})
    assert named in info.value.message and fix in info.value.message, info.value.message
    assert FAKE_KEY not in info.value.message


def test_entries_that_match_no_catalog_stream_are_listed() -> None:
    config = parse_config({**BASE, "streams": [{"name": "users"}, {"name": "tickts"}, {"name": "crm.deals"}]})
    assert not_in_catalog(config.streams, [(None, "users"), ("crm", "deals")]) == ["tickts"]


@pytest.mark.parametrize(
    ("entry", "fix"),
    [
        ({"name": "m", "group_by": ["channel"], "group_period": "hour"}, "'day', 'week' or 'month'"),
        ({"name": "m", "group_period": "day"}, '"group_by"'),
        ({"name": "m", "group_by": ["c"], "parent_stream": "t", "parent_key": ["t"]}, "keep one"),
        ({"name": "m", "group_by": ["c"], "parent_key": ["t"]}, '"parent_stream"'),
    ],
)
def test_a_malformed_group_names_the_entry(entry: dict[str, Any], fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "streams": [entry]})
    assert "'m'" in info.value.message and fix in info.value.message, info.value.message


def test_a_grouped_stream_is_documents_and_may_order_its_sections() -> None:
    config = parse_config(
        {**BASE, "data_format": "tables", "streams": [{"name": "m", "group_by": ["c"], "order_by": "ts"}]}
    )
    assert config.format_for(None, "m") == "documents"


ENTRY = connection_schema()["properties"]["streams"]["items"]["properties"]
OVERRIDABLE = sorted(set(ENTRY) - {"name", *OWN_SETTINGS})


def test_every_entry_property_is_a_composition_setting_or_a_config_field_of_the_same_type() -> None:
    config_fields = {f.name for f in fields(DustConfig)}
    connection = connection_schema()["properties"]
    assert set(OWN_SETTINGS) <= set(ENTRY)
    assert OVERRIDABLE and set(OVERRIDABLE) <= config_fields
    for name in OVERRIDABLE:
        assert ENTRY[name]["type"] == connection[name]["type"], name


def _value(name: str) -> Any:
    prop = ENTRY[name]
    if "enum" in prop:
        return prop["enum"][-1]
    return ["status", "author.name"] if prop["type"] == "array" else "author.name"


@pytest.mark.parametrize("name", OVERRIDABLE)
def test_each_overridable_field_set_in_an_entry_applies_to_that_stream_only(name: str) -> None:
    config = parse_config({**BASE, "streams": [{"name": "users", name: _value(name)}]})
    want = _value(name)
    got = getattr(config.for_stream(None, "users"), name)
    assert (list(got) if isinstance(got, tuple) else got) == want
    assert getattr(config.for_stream(None, "tickets"), name) == getattr(config, name) != got


def test_the_tag_fields_limit_of_an_entry_is_the_spec_limit() -> None:
    limit = ENTRY["tag_fields"]["maxItems"]
    assert limit == connection_schema()["properties"]["tag_fields"]["maxItems"]
    paths = [f"f{i}" for i in range(limit + 1)]
    config = parse_config({**BASE, "streams": [{"name": "u", "tag_fields": paths[:limit]}]})
    assert config.for_stream(None, "u").tag_fields == tuple(paths[:limit])
    with pytest.raises(ConfigError, match=f"{limit + 1} tag_fields. Keep at most {limit}"):
        parse_config({**BASE, "streams": [{"name": "u", "tag_fields": paths}]})


def test_paths_in_an_entry_lose_surrounding_spaces_and_null_is_refused_by_the_entry_name() -> None:
    config = parse_config({**BASE, "streams": [{"name": "u", "url_field": " url ", "tag_fields": [" a "]}]})
    assert config.for_stream(None, "u").url_field == "url"
    assert config.for_stream(None, "u").tag_fields == ("a",)
    with pytest.raises(ConfigError, match="streams entry 'u': 'title_field' must be a non-empty string"):
        parse_config({**BASE, "streams": [{"name": "u", "title_field": None}]})
