"""tags.py: the connector's own tags, as documents and tables write them and the clean-ups read them back."""

from __future__ import annotations

from destination_dust.catalog import StreamKey
from destination_dust.tags import (
    clean_tag,
    fingerprint_tags,
    generation_of,
    is_system_tag,
    marker_tags,
    names_stream,
    stream_tags,
)


def test_stream_tags_of_documents_are_one_line_and_of_tables_as_named() -> None:
    key = StreamKey("shop\nEU", "orders  2024")
    assert stream_tags(key, one_line=True) == ["airbyte:stream:orders 2024", "airbyte:namespace:shop EU"]
    assert stream_tags(key, one_line=False) == ["airbyte:stream:orders  2024", "airbyte:namespace:shop\nEU"]
    assert stream_tags(StreamKey(None, "users"), one_line=True) == ["airbyte:stream:users"]


def test_names_stream_wants_the_stream_and_exactly_its_namespace() -> None:
    key = StreamKey("eu", "users")
    assert names_stream(["x:1", "airbyte:stream:users", "airbyte:namespace:eu"], key, one_line=True)
    assert not names_stream(["airbyte:stream:users"], key, one_line=True)
    assert not names_stream(
        ["airbyte:stream:users", "airbyte:namespace:eu", "airbyte:namespace:us"], key, one_line=True
    )
    assert names_stream(["airbyte:stream:users"], StreamKey(None, "users"), one_line=False)
    assert not names_stream(["airbyte:stream:users", "airbyte:namespace:eu"], StreamKey(None, "users"), True)
    assert not names_stream(None, key, one_line=True)


def test_marker_tags_round_trip() -> None:
    tags = marker_tags(7, "0123456789abcdef0123")
    assert tags == ["airbyte:generation:7", "airbyte:fp:0123456789abcdef"]
    assert generation_of(tags) == 7
    assert fingerprint_tags(["status:open", *tags]) == {"airbyte:fp:0123456789abcdef"}
    assert marker_tags(None, "ab") == ["airbyte:fp:ab"]
    assert all(is_system_tag(t) for t in tags) and not is_system_tag("status:open")


def test_clean_tag() -> None:
    assert clean_tag(" open\n now ") == "open now"
