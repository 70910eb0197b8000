"""Bad input gets Dust's error envelope (never a stack trace) and odd ids are stored as sent."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from dust_emulator.testing import EmulatorProcess


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str)
    assert "Traceback" not in response.text and 'File "' not in response.text


BAD_BODIES = [
    (b"{not json", "application/json"),
    (b"", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"just a string"', "application/json"),
    (b'{"text": 12}', "application/json"),
    (b'{"section": {"prefix": null}}', "application/json"),
    (b'{"text": "x", "tags": "not-a-list"}', "application/json"),
    (b'{"text": "x", "timestamp": "yesterday"}', "application/json"),
    (b'{"text": "x", "light_document_output": null}', "application/json"),
    (b'{"text": "x", "upsert_context": {"sync_type": "weekly"}}', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b'{"text": "x"' + b"]" * 10, "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
def test_bad_document_bodies_get_a_400_envelope(
    emulator: EmulatorProcess, body: bytes, content_type: str
) -> None:
    with emulator.api_client() as client:
        response = client.post(
            f"{emulator.ds_path}/documents/doc", content=body, headers={"content-type": content_type}
        )
    assert_envelope(response, 400, "invalid_request_error")


def test_deeply_nested_json_is_refused_not_crashing(emulator: EmulatorProcess) -> None:
    body = b'{"section": ' + b'{"prefix": null, "content": null, "sections": [' * 5000 + b"]}" * 5000 + b"}"
    with emulator.api_client() as client:
        response = client.post(
            f"{emulator.ds_path}/documents/deep", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code in (200, 400)
    assert "Traceback" not in response.text


def test_non_json_content_type_is_read_as_empty_object(emulator: EmulatorProcess) -> None:
    # Hono's json validator ignores bodies that are not declared as JSON.
    with emulator.api_client() as client:
        response = client.post(
            f"{emulator.ds_path}/documents/doc",
            content=b'{"text": "x"}',
            headers={"content-type": "text/plain"},
        )
    assert_envelope(response, 400, "invalid_request_error")
    assert "`text` or `section`" in response.json()["error"]["message"]


def test_ten_megabyte_body_is_413_not_a_dropped_connection(emulator: EmulatorProcess) -> None:
    body = b'{"text": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    with emulator.api_client(timeout=30) as client:
        response = client.post(
            f"{emulator.ds_path}/documents/big", content=body, headers={"content-type": "application/json"}
        )
        assert_envelope(response, 413, "content_too_large")
        # The connection stays usable afterwards.
        assert client.get("/spaces").status_code == 200


def test_rows_body_over_one_megabyte_is_413(emulator: EmulatorProcess) -> None:
    rows = [{"row_id": str(i), "value": {"text": "x" * 1000}} for i in range(1200)]
    with emulator.api_client(timeout=30) as client:
        client.post(
            f"{emulator.ds_path}/tables",
            json={"name": "t", "description": "d", "title": "t", "table_id": "t"},
        ).raise_for_status()
        response = client.post(f"{emulator.ds_path}/tables/t/rows", json={"rows": rows})
    assert_envelope(response, 413, "content_too_large")


ODD_IDS = [
    "../x",
    "a/b",
    "..",
    "%2F",
    "with space",
    "ünïcödé-文档-🚀",
    "x" * 2000,
    "?q=1#frag",
    "a\\b",
    "'; DROP TABLE documents; --",
]


@pytest.mark.parametrize("document_id", ODD_IDS)
def test_odd_document_ids_land_as_themselves(emulator: EmulatorProcess, document_id: str) -> None:
    # Dots are unreserved, so clients normalise a bare ".." segment away; encode them.
    encoded = quote(document_id, safe="").replace(".", "%2E")
    with emulator.api_client() as client:
        response = client.post(f"{emulator.ds_path}/documents/{encoded}", json={"text": "odd id"})
        assert response.status_code == 200, response.text
        assert response.json()["document"]["document_id"] == document_id
        fetched = client.get(f"{emulator.ds_path}/documents/{encoded}")
        assert fetched.status_code == 200
        assert fetched.json()["document"]["document_id"] == document_id
    assert [doc["document_id"] for doc in emulator.documents()] == [document_id]


def test_path_traversal_does_not_escape_the_route(emulator: EmulatorProcess) -> None:
    with emulator.api_client() as client:
        # Unencoded traversal is just an unknown route for the router (no normalisation).
        response = client.get(f"{emulator.ds_path}/documents/../../../spaces")
    assert response.status_code in (200, 404)
    assert "Traceback" not in response.text


def test_unknown_routes_and_methods_answer_404_envelopes(emulator: EmulatorProcess) -> None:
    with emulator.api_client() as client:
        assert_envelope(client.get("/nope"), 404, "not_found")
        assert_envelope(client.put(f"{emulator.ds_path}/documents/x", json={}), 404, "not_found")
        assert_envelope(
            client.get(f"/data-sources/{emulator.config['data_source_id']}/documents"), 404, "not_found"
        )
    assert_envelope(httpx.get(emulator.base_url + "/api/v1/unknown"), 404, "not_found")


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "offset=1.5", "limit=1e400"])
def test_bad_list_query_is_400(emulator: EmulatorProcess, query: str) -> None:
    with emulator.api_client() as client:
        response = client.get(f"{emulator.ds_path}/documents?{query}")
    assert_envelope(response, 400, "invalid_request_error")
    assert response.json()["error"]["message"].startswith("Invalid query parameters")


def test_nan_and_huge_numbers(emulator: EmulatorProcess) -> None:
    with emulator.api_client() as client:
        nan = client.post(
            f"{emulator.ds_path}/documents/n",
            content=b'{"text": "x", "timestamp": NaN}',
            headers={"content-type": "application/json"},
        )
        assert_envelope(nan, 400, "invalid_request_error")
        huge = client.post(
            f"{emulator.ds_path}/documents/h",
            content=b'{"text": "x", "timestamp": 123456789012345678901234567890}',
            headers={"content-type": "application/json"},
        )
        assert_envelope(huge, 500, "internal_server_error")
        big_int_cell = client.post(
            f"{emulator.ds_path}/tables",
            json={"name": "t", "description": "d", "title": "t", "table_id": "t"},
        )
        assert big_int_cell.status_code == 200
        rows = client.post(
            f"{emulator.ds_path}/tables/t/rows",
            content=b'{"rows": [{"row_id": "1", "value": {"n": 123456789012345678901234567890}}]}',
            headers={"content-type": "application/json"},
        )
        assert rows.status_code == 200, rows.text
        assert rows.json()["table"]["schema"][0]["value_type"] == "float"
