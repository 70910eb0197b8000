"""How list routes read ``limit`` and ``offset`` (reference §1, "Query strings").

Dust's Hono validator turns a repeated key into an array and coerces with JavaScript ``Number()``
(``z.coerce.number().int().nonnegative()``), then passes the number on to core in a query string,
as JavaScript prints it. Core reads it as a ``usize`` (more than 2^64 - 1 fails its query parsing).
The documents list then casts it to Postgres' ``i64`` (2^63 or more turns negative and fails); the
rows list slices the table's rows in memory (any ``usize`` works). Dust: the list handlers in
``front-api/routes/v1/w/[wId]/spaces/[spaceId]/data_sources/[dsId]/`` (``documents/index.ts``,
``tables/[tId]/rows/index.ts``), ``front-api/middlewares/validator.ts``; core
``core/src/api/data_sources.rs``, ``core/src/stores/postgres.rs``, ``core/src/api/tables.rs``,
``core/src/databases_store/gcs.rs``.
"""

from __future__ import annotations

import httpx
import pytest

from .conftest import DustTarget, assert_error

# past what core reads as a usize (18446744073709551615 is 2^64 once read as a JavaScript number;
# from 1e21 on JavaScript prints an exponent)
PAST_USIZE = ["18446744073709551616", "18446744073709551615", "1e21", "1e300"]
# usize, but 2^63 or more (9223372036854775807 is 2^63 once read as a JavaScript number)
PAST_I64 = ["9223372036854775808", "9223372036854775807", "1e19", "18446744073709549568"]
# the largest JavaScript number below 2^63
LARGEST_ACCEPTED = "9223372036854774784"


def _rows_url(dust: DustTarget, client: httpx.Client) -> str:
    return f"{dust.ds_path}/tables/{dust.new_table(client)['table_id']}/rows"


@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("value", PAST_I64 + PAST_USIZE)
def test_documents_list_past_core_range_is_400_data_source_error(
    dust: DustTarget, name: str, value: str
) -> None:
    with dust.client() as client:
        response = client.get(f"{dust.ds_path}/documents?{name}={value}")
    error = assert_error(
        response, 400, "data_source_error", "There was an error retrieving the data source documents."
    )
    assert set(error["data_source_error"]) == {"code", "message"}


@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("value", PAST_USIZE)
def test_rows_list_past_core_range_is_500(dust: DustTarget, name: str, value: str) -> None:
    with dust.client() as client:
        response = client.get(f"{_rows_url(dust, client)}?{name}={value}")
    assert_error(response, 500, "internal_server_error", "Failed to list database rows.")


def test_rows_list_takes_any_usize(dust: DustTarget) -> None:
    with dust.client() as client:
        url = _rows_url(dust, client)
        client.post(url, json={"rows": [{"row_id": "1", "value": {"a": 1}}]}).raise_for_status()
        everything = client.get(f"{url}?limit=9223372036854775808")
        nothing = client.get(f"{url}?offset=1e19")
    assert everything.status_code == 200, everything.text
    assert (len(everything.json()["rows"]), everything.json()["limit"]) == (1, 9223372036854776000)
    assert nothing.status_code == 200, nothing.text
    assert (nothing.json()["rows"], nothing.json()["offset"], nothing.json()["total"]) == (
        [],
        10000000000000000000,
        1,
    )


def test_largest_number_below_2_63_is_accepted(dust: DustTarget) -> None:
    with dust.client() as client:
        documents = client.get(f"{dust.ds_path}/documents?offset={LARGEST_ACCEPTED}")
        rows = client.get(f"{_rows_url(dust, client)}?offset={LARGEST_ACCEPTED}&limit={LARGEST_ACCEPTED}")
    assert documents.status_code == 200, documents.text
    assert documents.json()["documents"] == []
    assert rows.status_code == 200, rows.text
    # front echoes the numbers as JSON.stringify prints them (shortest digits, then zeros)
    assert (rows.json()["rows"], rows.json()["offset"], rows.json()["limit"]) == (
        [],
        9223372036854775000,
        9223372036854775000,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0x2", 2), ("0X2", 2), ("0b10", 2), ("0o2", 2), ("", 0), ("%20%205%20", 5), ("+5", 5), ("5.", 5),
     ("5.0", 5), ("1e1", 10), (".2e1", 2), ("-0", 0), ("%EF%BB%BF3%E2%80%A8", 3)],
)  # fmt: skip
def test_limit_is_read_with_javascript_number(dust: DustTarget, raw: str, expected: int) -> None:
    with dust.client() as client:
        response = client.get(f"{_rows_url(dust, client)}?limit={raw}")
    assert response.status_code == 200, response.text
    assert response.json()["limit"] == expected


@pytest.mark.parametrize(
    ("query", "issues"),
    [
        ("limit=1_0", ['Expected number, received nan at "limit"']),
        ("limit=1e", ['Expected number, received nan at "limit"']),
        ("limit=infinity", ['Expected number, received nan at "limit"']),
        ("limit=%D9%A3", ['Expected number, received nan at "limit"']),  # an Arabic-Indic digit
        ("limit=-0x2", ['Expected number, received nan at "limit"']),
        ("limit=1&limit=2", ['Expected number, received nan at "limit"']),
        ("offset=0&offset=0", ['Expected number, received nan at "offset"']),
        ("limit=Infinity", ['Expected integer, received float at "limit"']),
        ("limit=2.5", ['Expected integer, received float at "limit"']),
        ("limit=-1", ['Number must be greater than or equal to 0 at "limit"']),
        (
            "limit=-1.5&offset=x",
            [
                'Expected integer, received float at "limit"',
                'Number must be greater than or equal to 0 at "limit"',
                'Expected number, received nan at "offset"',
            ],
        ),
    ],
)
@pytest.mark.parametrize("listing", ["documents", "rows"])
def test_invalid_limit_and_offset_are_400_with_zod_issues(
    dust: DustTarget, query: str, issues: list[str], listing: str
) -> None:
    with dust.client() as client:
        url = f"{dust.ds_path}/documents" if listing == "documents" else _rows_url(dust, client)
        response = client.get(f"{url}?{query}")
    assert_error(
        response,
        400,
        "invalid_request_error",
        "Invalid query parameters: Validation error: " + "; ".join(issues),
    )


def test_query_is_validated_before_the_data_source_lookup(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.get(
            f"/spaces/{dust.space_id}/data_sources/dts_doesNotExist/documents?limit=1&limit=2"
        )
    assert_error(response, 400, "invalid_request_error")


def test_repeated_document_ids_are_all_used(dust: DustTarget) -> None:
    ids = [dust.unique("qdoc") for _ in range(3)]
    with dust.client() as client:
        for document_id in ids:
            client.post(dust.doc_url(document_id), json={"text": "x"}).raise_for_status()
        listed = client.get(f"{dust.ds_path}/documents?document_ids={ids[0]}&document_ids={ids[2]}&limit=0x5")
    assert listed.status_code == 200, listed.text
    assert {doc["document_id"] for doc in listed.json()["documents"]} == {ids[0], ids[2]}


def test_spaces_kinds_is_a_comma_separated_enum(dust: DustTarget) -> None:
    # front-api/routes/v1/w/[wId]/spaces/index.ts: z.string().transform(split(",")).pipe(z.array(z.enum(...)))
    with dust.client() as client:
        only_global = client.get("/spaces?kinds=global")
        unknown = client.get("/spaces?kinds=global,vault")
        empty = client.get("/spaces?kinds=")
        repeated = client.get("/spaces?kinds=global&kinds=regular")
    assert only_global.status_code == 200, only_global.text
    assert {space["kind"] for space in only_global.json()["spaces"]} == {"global"}
    expected = "'system' | 'global' | 'regular' | 'project'"
    assert_error(
        unknown,
        400,
        "invalid_request_error",
        f"Invalid query parameters: Validation error: Invalid enum value. Expected {expected}, received 'vault' "
        'at "kinds[1]"',
    )
    assert_error(empty, 400, "invalid_request_error")
    assert_error(
        repeated,
        400,
        "invalid_request_error",
        'Invalid query parameters: Validation error: Expected string, received array at "kinds"',
    )
