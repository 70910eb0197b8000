"""Config validation: one source of truth (spec.json), messages that name the field and never the key."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from typing import Any, get_type_hints

import jsonschema
import pytest

from destination_dust.config import (
    FROM_SPEC,
    DustConfig,
    connection_schema,
    fields_from_spec,
    load_spec,
    parse_config,
)
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


def test_the_config_has_one_typed_field_per_spec_property_in_the_spec_order() -> None:
    props = connection_schema()["properties"]
    assert [f.name for f in fields(DustConfig)] == list(props)
    required = set(connection_schema()["required"])
    for attribute in fields(DustConfig):
        has_default = attribute.default is not MISSING or attribute.default_factory is not MISSING
        assert has_default == (attribute.name not in required), attribute.name


JSON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": tuple, "object": dict}


def test_every_default_is_the_spec_default_whether_parsed_or_built_directly() -> None:
    props = connection_schema()["properties"]
    parsed = parse_config(BASE)
    assert parsed == DustConfig(**BASE)
    for name, prop in props.items():
        if name in BASE:
            continue
        got = getattr(parsed, name)
        if "default" not in prop:
            assert got is None, name  # not set: the code decides (e.g. title_field's fallbacks)
        elif name == "streams":
            assert got == {} and prop["default"] == []  # entries by name
        else:
            want = prop["default"]
            assert (list(got) if isinstance(got, tuple) else got) == want, name
            assert type(got) is JSON_TYPES[prop["type"]], name


NO_DEFAULT = object()


def _candidate(name: str, value: Any) -> type:
    """A class declared like DustConfig, with `name` declared as `value` (NO_DEFAULT: a bare annotation)."""
    hints = {**get_type_hints(DustConfig), name: get_type_hints(DustConfig).get(name, int)}
    required = set(connection_schema()["required"])
    attributes = {field: FROM_SPEC for field in hints if field not in required}
    attributes.pop(name, None)
    if value is not NO_DEFAULT:
        attributes[name] = value
    return type("Candidate", (), {"__annotations__": hints, **attributes})


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("table_batch_max_bytes", 900_000, "write its default in spec.json"),
        ("table_batch_max_bytes", NO_DEFAULT, "write its default in spec.json"),
        ("api_key", FROM_SPEC, "required by the spec"),
        ("table_batch_max_kilobytes", FROM_SPEC, "not in the spec: ['table_batch_max_kilobytes']"),
    ],
)
def test_a_literal_default_or_a_field_the_spec_lacks_is_refused_when_the_class_is_built(
    name: str, value: Any, problem: str
) -> None:
    fields_from_spec(_candidate("table_batch_max_bytes", FROM_SPEC))  # declared like DustConfig: accepted
    with pytest.raises(TypeError, match=re.escape(problem)):
        fields_from_spec(_candidate(name, value))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"api_key": None}, "api_key"),
        ({"workspace_id": ""}, "workspace_id"),
        ({"data_format": "parquet"}, "'data_format' is invalid: it must be 'documents' or 'tables'"),
        ({"table_batch_max_rows": 0}, "'table_batch_max_rows' is invalid: it must be at least 1"),
        ({"max_document_size_mb": 0}, "'max_document_size_mb' is invalid: it must be greater than 0"),
        ({"tag_fields": ["status"] * 17}, "'tag_fields' is invalid: it must be a list of at most 16 items"),
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
