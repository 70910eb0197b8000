"""Config validation: one source of truth (spec.json), messages that name the field and never the key."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from destination_dust.config import connection_schema, load_spec, parse_config
from destination_dust.errors import ConfigError
from tests.helpers import FAKE_KEY

BASE: dict[str, Any] = {
    "api_key": FAKE_KEY,
    "workspace_id": "w1",
    "space_id": "vlt_1",
    "data_source_id": "folder",
}


def test_spec_is_a_valid_schema_with_ordered_documented_fields() -> None:
    spec = load_spec()
    jsonschema.Draft7Validator.check_schema(spec["connectionSpecification"])
    assert spec["supported_destination_sync_modes"] == ["append", "append_dedup", "overwrite"]
    props = connection_schema()["properties"]
    orders = [p["order"] for p in props.values()]
    assert sorted(orders) == list(range(len(props)))
    for name, prop in props.items():
        assert prop.get("title") and len(prop.get("description", "")) > 20, name
    assert props["api_key"]["airbyte_secret"] is True


def test_defaults_fill_in() -> None:
    config = parse_config(BASE)
    assert config.base_url == "https://dust.tt"
    assert config.data_format == "documents"
    assert config.table_id_prefix == "airbyte_"
    assert config.document_upserts_per_minute == 120
    assert config.max_document_chars == 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"api_key": None}, "api_key"),
        ({"workspace_id": ""}, "workspace_id"),
        ({"data_format": "parquet"}, "data_format"),
        ({"table_batch_max_rows": 0}, "table_batch_max_rows"),
        ({"base_url": "http://dust.tt"}, "https"),
        ({"base_url": "ftp://dust.tt"}, "base_url"),
        ({"base_url": "https://user:pw@dust.tt"}, "credentials"),
        ({"stream_formats": {"users": "csv"}}, "stream_formats"),
    ],
)
def test_bad_configs_name_the_field(change: dict[str, Any], expected: str) -> None:
    raw = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert expected in info.value.message
    assert FAKE_KEY not in info.value.message


def test_a_key_with_spaces_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "api_key": FAKE_KEY + " x"})
    assert "api_key" in info.value.message and FAKE_KEY not in info.value.message
    assert FAKE_KEY not in repr(parse_config(BASE))


@pytest.mark.parametrize("url", ["http://localhost:8080", "http://127.0.0.1:1/", "https://eu.dust.tt/"])
def test_local_http_and_https_are_allowed(url: str) -> None:
    assert parse_config({**BASE, "base_url": url}).base_url == url.rstrip("/")


def test_stream_format_override() -> None:
    config = parse_config(
        {**BASE, "data_format": "documents", "stream_formats": {"users": "tables", "ns.x": "tables"}}
    )
    assert config.format_for(None, "users") == "tables"
    assert config.format_for(None, "tickets") == "documents"
    assert config.format_for("ns", "x") == "tables"
