"""Reference §2.3, §2.4 and §3: tables, rows and schema inference."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import DustTarget, assert_error

TABLE_KEYS = {
    "name",
    "table_id",
    "description",
    "schema",
    "timestamp",
    "tags",
    "parents",
    "mime_type",
    "title",
}


def rows_url(dust: DustTarget, table_id: str) -> str:
    return f"{dust.ds_path}/tables/{table_id}/rows"


def upsert_rows(
    client: httpx.Client,
    dust: DustTarget,
    table_id: str,
    rows: list[dict[str, Any]],
    truncate: bool | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"rows": rows}
    if truncate is not None:
        body["truncate"] = truncate
    return client.post(rows_url(dust, table_id), json=body)


def schema_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    schema: list[dict[str, Any]] = response.json()["table"]["schema"]
    return schema


def test_upsert_table_shape(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client, tags=["k:v"], timestamp=1700000000000)
    assert set(table) == TABLE_KEYS  # no parent_id in the upsert answer
    assert table["schema"] is None
    assert table["mime_type"] == "application/vnd.dust.table"
    assert table["parents"] == [table["table_id"]]
    assert table["tags"] == ["k:v"] and table["timestamp"] == 1700000000000


@pytest.mark.parametrize("missing", ["name", "description", "title"])
def test_name_description_title_are_required(dust: DustTarget, missing: str) -> None:
    body = {"name": dust.unique("t").replace("-", "_"), "description": "d", "title": "T"}
    body.pop(missing)
    with dust.client() as client:
        error = assert_error(client.post(f"{dust.ds_path}/tables", json=body), 400, "invalid_request_error")
    assert error["message"].startswith("Invalid request body")


def test_table_id_is_optional_and_generated(dust: DustTarget) -> None:
    name = dust.unique("t").replace("-", "_")
    with dust.client() as client:
        response = client.post(f"{dust.ds_path}/tables", json={"name": name, "description": "d", "title": ""})
        assert response.status_code == 200
        table = response.json()["table"]
        dust.created_tables.append(table["table_id"])
    assert table["table_id"]
    assert table["title"] == name  # empty title falls back to the name


def test_duplicate_name_with_another_table_id_is_500(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        dust.created_tables.append("other-id")
        response = client.post(
            f"{dust.ds_path}/tables",
            json={"name": table["name"], "description": "d", "title": "t", "table_id": dust.unique("other")},
        )
        error = assert_error(
            response, 500, "internal_server_error", "Failed to upsert table (table names must be unique)."
        )
        assert "data_source_error" in error
        # the same table_id with the same name is an update
        again = client.post(
            f"{dust.ds_path}/tables",
            json={"name": table["name"], "description": "new", "title": "t", "table_id": table["table_id"]},
        )
    assert again.status_code == 200 and again.json()["table"]["description"] == "new"


def test_regular_key_cannot_set_mime_type(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.post(
            f"{dust.ds_path}/tables",
            json={"name": "x", "description": "d", "title": "t", "mime_type": "text/csv"},
        )
    assert_error(
        response, 400, "invalid_request_error", "Invalid request body: mimeType must not be provided."
    )


def test_regular_key_cannot_set_table_parents(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.post(
            f"{dust.ds_path}/tables", json={"name": "x", "description": "d", "title": "t", "parents": ["x"]}
        )
    assert_error(response, 400, "invalid_request_error")


def test_get_list_and_delete_table(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        got = client.get(f"{dust.ds_path}/tables/{table['table_id']}")
        assert got.status_code == 200
        assert set(got.json()["table"]) == TABLE_KEYS | {"parent_id"}
        listed = client.get(f"{dust.ds_path}/tables").json()["tables"]
        assert table["table_id"] in {t["table_id"] for t in listed}
        deleted = client.delete(f"{dust.ds_path}/tables/{table['table_id']}")
        assert deleted.status_code == 200 and deleted.content == b""
        assert_error(
            client.get(f"{dust.ds_path}/tables/{table['table_id']}"),
            404,
            "table_not_found",
            "Failed to get table.",
        )


def test_delete_missing_table_is_404(dust: DustTarget) -> None:
    dust.stage_only_in_emulator("the reference infers (does not confirm) this answer")
    with dust.client() as client:
        assert_error(client.delete(f"{dust.ds_path}/tables/nope"), 404, "table_not_found")


def test_rows_upsert_infers_the_schema(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        response = upsert_rows(
            client,
            dust,
            table["table_id"],
            [
                {
                    "row_id": "1",
                    "value": {
                        "id": 1,
                        "score": 1.5,
                        "name": "ann",
                        "ok": True,
                        "n": None,
                        "at": {"type": "datetime", "epoch": 1700000000000},
                    },
                },
                {
                    "row_id": "2",
                    "value": {
                        "id": 2,
                        "score": 2,
                        "name": "bob",
                        "ok": False,
                        "n": None,
                        "at": {"type": "datetime", "epoch": 1700000001000},
                    },
                },
            ],
        )
    assert set(response.json()["table"]) == {"name", "table_id", "description", "schema"}
    assert schema_of(response) == [
        {"name": "id", "value_type": "int", "possible_values": ["1", "2"]},
        {"name": "score", "value_type": "float", "possible_values": ["1.5", "2"]},
        {"name": "name", "value_type": "text", "possible_values": ['"ann"', '"bob"']},
        {"name": "ok", "value_type": "bool", "possible_values": ["TRUE", "FALSE"]},
        {
            "name": "at",
            "value_type": "datetime",
            "possible_values": ["2023-11-14 22:13:20", "2023-11-14 22:13:21"],
        },
    ]


def test_mixed_types_widen_to_text_and_merge_across_upserts(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        first = upsert_rows(client, dust, table["table_id"], [{"row_id": "1", "value": {"a": 1, "b": True}}])
        assert [c["value_type"] for c in schema_of(first)] == ["int", "bool"]
        second = upsert_rows(
            client, dust, table["table_id"], [{"row_id": "2", "value": {"a": "x", "c": 2.5}}]
        )
    assert [(c["name"], c["value_type"]) for c in schema_of(second)] == [
        ("a", "text"),
        ("b", "bool"),
        ("c", "float"),
    ]


def test_truncate_replaces_rows_and_rebuilds_the_schema(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        upsert_rows(
            client, dust, table["table_id"], [{"row_id": str(i), "value": {"a": "x"}} for i in range(3)]
        )
        response = upsert_rows(
            client, dust, table["table_id"], [{"row_id": "new", "value": {"b": 1}}], truncate=True
        )
        assert schema_of(response) == [{"name": "b", "value_type": "int", "possible_values": ["1"]}]
        rows = client.get(rows_url(dust, table["table_id"])).json()
    assert rows["total"] == 1 and rows["rows"] == [{"row_id": "new", "value": {"b": 1}}]


def test_possible_values_give_up_past_16_values_or_32_bytes(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        response = upsert_rows(
            client,
            dust,
            table["table_id"],
            [{"row_id": str(i), "value": {"many": i, "long": "x" * 40, "few": "y"}} for i in range(17)],
        )
    assert {c["name"]: c["possible_values"] for c in schema_of(response)} == {
        "many": None,
        "long": None,
        "few": ['"y"'],
    }


@pytest.mark.parametrize("key", ["Upper", "with-dash", "spa ce", "", "é"])
def test_row_keys_must_be_lowercase_alphanumeric(dust: DustTarget, key: str) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        response = upsert_rows(client, dust, table["table_id"], [{"row_id": "1", "value": {key: 1}}])
    assert_error(
        response, 400, "invalid_request_error", "Invalid request body: keys must be lowercase alphanumeric."
    )


@pytest.mark.parametrize("cell", [[1, 2], {"a": 1}, {"type": "date", "epoch": 1}, {"type": "datetime"}])
def test_arrays_and_other_objects_are_400(dust: DustTarget, cell: Any) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        response = upsert_rows(client, dust, table["table_id"], [{"row_id": "1", "value": {"c": cell}}])
    assert_error(response, 400, "invalid_request_error")


def test_non_integer_datetime_epoch_is_500(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        response = upsert_rows(
            client,
            dust,
            table["table_id"],
            [{"row_id": "1", "value": {"at": {"type": "datetime", "epoch": 1.5}}}],
        )
    assert_error(response, 500, "internal_server_error", "Failed to upsert database rows.")


def test_rows_on_an_unknown_table_are_500(dust: DustTarget) -> None:
    with dust.client() as client:
        response = upsert_rows(client, dust, dust.unique("nope"), [{"row_id": "1", "value": {"a": 1}}])
    assert_error(response, 500, "internal_server_error", "Failed to upsert database rows.")


def test_list_rows_pagination_and_defaults(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        upsert_rows(
            client, dust, table["table_id"], [{"row_id": f"r{i:02}", "value": {"i": i}} for i in range(12)]
        )
        default = client.get(rows_url(dust, table["table_id"])).json()
        page = client.get(rows_url(dust, table["table_id"]), params={"limit": 5, "offset": 10}).json()
    assert (len(default["rows"]), default["offset"], default["limit"], default["total"]) == (10, 0, 10, 12)
    assert (len(page["rows"]), page["offset"], page["limit"], page["total"]) == (2, 10, 5, 12)
    assert set(default["rows"][0]) == {"row_id", "value"}


def test_same_row_id_replaces_the_whole_value(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        upsert_rows(client, dust, table["table_id"], [{"row_id": "1", "value": {"a": 1, "b": 2}}])
        upsert_rows(client, dust, table["table_id"], [{"row_id": "1", "value": {"a": 3}}])
        row = client.get(f"{rows_url(dust, table['table_id'])}/1")
    assert row.status_code == 200
    assert row.json() == {"row": {"row_id": "1", "value": {"a": 3}}}


def test_get_missing_row_is_500(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        upsert_rows(client, dust, table["table_id"], [{"row_id": "1", "value": {"a": 1}}])
        response = client.get(f"{rows_url(dust, table['table_id'])}/missing")
    assert_error(response, 500, "internal_server_error", "Failed to get row.")


def test_delete_row(dust: DustTarget) -> None:
    with dust.client() as client:
        table = dust.new_table(client)
        upsert_rows(client, dust, table["table_id"], [{"row_id": "1", "value": {"a": 1}}])
        response = client.delete(f"{rows_url(dust, table['table_id'])}/1")
        assert response.status_code == 200 and response.json() == {"success": True}
        assert client.get(rows_url(dust, table["table_id"])).json()["total"] == 0


def test_delete_row_on_a_missing_table_is_404(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.delete(f"{rows_url(dust, dust.unique('nope'))}/1")
    assert_error(response, 404, "table_not_found")


def test_rows_body_over_1_mb_is_413(dust: DustTarget) -> None:
    rows = [{"row_id": str(i), "value": {"text": "x" * 1000}} for i in range(1100)]
    with dust.client() as client:
        table = dust.new_table(client)
        response = upsert_rows(client, dust, table["table_id"], rows)
    assert response.status_code == 413
    if dust.is_emulator:
        assert_error(response, 413, "content_too_large")


def test_csv_tables_are_for_system_keys_only(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.post(f"{dust.ds_path}/tables/csv", json={"name": "x"})
    assert_error(response, 403, "invalid_oauth_token_error", "Only system keys can perform this action.")
