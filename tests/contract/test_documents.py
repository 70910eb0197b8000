"""Reference §2.1, §2.2, §3 and §8: documents."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import DATA_SOURCE_KEYS, DustTarget, assert_error

CORE_DOCUMENT_KEYS = {
    "data_source_id",
    "created",
    "document_id",
    "timestamp",
    "tags",
    "hash",
    "text_size",
    "chunk_count",
    "chunks",
}


def upsert(dust: DustTarget, document_id: str, body: dict[str, Any], api_key: str | None = None) -> Any:
    with dust.client(api_key=api_key) as client:
        return client.post(dust.doc_url(document_id), json=body)


def fetch(dust: DustTarget, document_id: str) -> dict[str, Any]:
    with dust.client() as client:
        response = client.get(dust.doc_url(document_id))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()["document"]
    return document


def test_upsert_text_returns_document_and_data_source(dust: DustTarget) -> None:
    document_id = dust.unique()
    response = upsert(
        dust, document_id, {"text": "Printer on fire", "title": "Ticket 1", "timestamp": 1700000000000}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["document"]) >= CORE_DOCUMENT_KEYS
    assert set(body["data_source"]) >= DATA_SOURCE_KEYS
    assert body["document"]["document_id"] == document_id
    assert body["document"]["timestamp"] == 1700000000000
    stored = fetch(dust, document_id)
    assert stored["text"] == "Printer on fire"
    assert stored["title"] == "Ticket 1"
    assert stored["mime_type"] == "application/octet-stream"


def test_upsert_is_idempotent_by_id_and_replaces_content(dust: DustTarget) -> None:
    document_id = dust.unique()
    assert upsert(dust, document_id, {"text": "v1", "title": "A"}).status_code == 200
    assert (
        upsert(dust, document_id, {"text": "v2", "title": "B", "mime_type": "text/markdown"}).status_code
        == 200
    )
    stored = fetch(dust, document_id)
    assert (stored["text"], stored["title"], stored["mime_type"]) == ("v2", "B", "text/markdown")


def test_title_tag_is_added_only_when_tags_are_sent(dust: DustTarget) -> None:
    with_tags, without_tags = dust.unique(), dust.unique()
    assert upsert(dust, with_tags, {"text": "x", "title": "  Padded  ", "tags": ["k:v"]}).status_code == 200
    assert upsert(dust, without_tags, {"text": "x", "title": "T"}).status_code == 200
    assert fetch(dust, with_tags)["tags"] == ["k:v", "title:Padded"]
    assert fetch(dust, with_tags)["title"] == "Padded"
    assert fetch(dust, without_tags)["tags"] == []


def test_title_falls_back_to_title_tag_then_document_id(dust: DustTarget) -> None:
    from_tag, from_id = dust.unique(), dust.unique()
    assert upsert(dust, from_tag, {"text": "x", "tags": ["title: From tag "]}).status_code == 200
    assert upsert(dust, from_id, {"text": "x", "tags": []}).status_code == 200
    assert fetch(dust, from_tag)["title"] == "From tag"
    assert fetch(dust, from_tag)["tags"] == ["title: From tag "]
    assert fetch(dust, from_id)["title"] == from_id
    assert fetch(dust, from_id)["tags"] == [f"title:{from_id}"]


def test_title_longer_than_512_is_400(dust: DustTarget) -> None:
    assert upsert(dust, dust.unique(), {"text": "x", "title": "t" * 512}).status_code == 200
    assert_error(
        upsert(dust, dust.unique(), {"text": "x", "title": "t" * 513}),
        400,
        "invalid_request_error",
        "Invalid title: title too long (max 512 characters).",
    )


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "not a url", "https://example.com//double", "mailto:a@b.c"]
)
def test_invalid_source_url_is_400(dust: DustTarget, url: str) -> None:
    assert_error(
        upsert(dust, dust.unique(), {"text": "x", "source_url": url}),
        400,
        "invalid_request_error",
        "Invalid request body, `source_url` if provided must be a valid URL.",
    )


def test_source_url_is_stored_standardised(dust: DustTarget) -> None:
    document_id = dust.unique()
    assert upsert(dust, document_id, {"text": "x", "source_url": "HTTPS://Example.COM"}).status_code == 200
    assert fetch(dust, document_id)["source_url"] == "https://example.com/"


@pytest.mark.parametrize("field", [{"parents": []}, {"parents": ["x"]}, {"parent_id": "p"}])
def test_regular_keys_cannot_set_parents(dust: DustTarget, field: dict[str, Any]) -> None:
    error = assert_error(upsert(dust, dust.unique(), {"text": "x", **field}), 400, "invalid_request_error")
    assert "Setting a custom hierarchy is not supported yet" in error["message"]


def test_text_or_section_is_required(dust: DustTarget) -> None:
    assert_error(
        upsert(dust, dust.unique(), {"title": "no content"}),
        400,
        "invalid_request_error",
        "Invalid request body, `text` or `section` must be provided.",
    )


def test_empty_text_is_accepted(dust: DustTarget) -> None:
    assert upsert(dust, dust.unique(), {"text": ""}).status_code == 200


def test_section_documents_concatenate_prefixes_and_contents(dust: DustTarget) -> None:
    document_id = dust.unique()
    section = {
        "prefix": "# T\n",
        "content": "intro\n",
        "sections": [
            {"prefix": "## A\n", "content": "a\n", "sections": []},
            {"prefix": None, "content": "b", "sections": [{"prefix": "c", "content": None, "sections": []}]},
        ],
    }
    assert upsert(dust, document_id, {"section": section}).status_code == 200
    assert fetch(dust, document_id)["text"] == "# T\nintro\n## A\na\nbc"


def test_section_requires_all_three_keys(dust: DustTarget) -> None:
    error = assert_error(
        upsert(dust, dust.unique(), {"section": {"content": "x", "sections": []}}),
        400,
        "invalid_request_error",
    )
    assert error["message"].startswith("Invalid request body")


def test_wrong_field_type_is_400(dust: DustTarget) -> None:
    error = assert_error(upsert(dust, dust.unique(), {"text": "x", "title": 5}), 400, "invalid_request_error")
    assert error["message"].startswith("Invalid request body")


def test_malformed_json_is_400(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.post(
            dust.doc_url(dust.unique()), content=b'{"text": ', headers={"content-type": "application/json"}
        )
    assert_error(response, 400, "invalid_request_error")


def test_timestamp_is_floored_and_defaults_to_now(dust: DustTarget) -> None:
    floored, absent = dust.unique(), dust.unique()
    before = int(time.time() * 1000) - 60_000
    assert upsert(dust, floored, {"text": "x", "timestamp": 1700000000123.9}).status_code == 200
    assert upsert(dust, absent, {"text": "x"}).status_code == 200
    assert fetch(dust, floored)["timestamp"] == 1700000000123
    assert fetch(dust, absent)["timestamp"] >= before


def test_light_document_output(dust: DustTarget) -> None:
    response = upsert(dust, dust.unique(), {"text": "x", "light_document_output": True})
    assert response.status_code == 200
    assert set(response.json()["document"]) == {"hash", "text_size", "chunk_count", "token_count", "created"}
    assert "data_source" in response.json()


def test_async_upsert_answers_without_data_source(dust: DustTarget) -> None:
    document_id = dust.unique()
    response = upsert(dust, document_id, {"text": "x", "async": True})
    assert response.status_code == 200
    assert response.json() == {"document": {"document_id": document_id}}


def test_upsert_context_is_accepted(dust: DustTarget) -> None:
    assert (
        upsert(dust, dust.unique(), {"text": "x", "upsert_context": {"sync_type": "batch"}}).status_code
        == 200
    )


def test_get_missing_document_is_400_data_source_error(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.get(f"{dust.ds_path}/documents/{dust.unique('missing')}")
    error = assert_error(
        response, 400, "data_source_error", "There was an error retrieving the data source document."
    )
    assert "data_source_error" in error


def test_delete_document(dust: DustTarget) -> None:
    document_id = dust.unique()
    assert upsert(dust, document_id, {"text": "x"}).status_code == 200
    with dust.client() as client:
        response = client.delete(dust.doc_url(document_id))
        assert response.status_code == 200
        assert response.json() == {"document": {"document_id": document_id}}
        assert client.get(dust.doc_url(document_id)).status_code == 400
        again = client.delete(dust.doc_url(document_id))
    assert again.status_code == 200


def test_list_documents_with_ids_limit_and_offset(dust: DustTarget) -> None:
    ids = [dust.unique() for _ in range(3)]
    for document_id in ids:
        assert upsert(dust, document_id, {"text": f"text of {document_id}"}).status_code == 200
    with dust.client() as client:
        response = client.get(
            f"{dust.ds_path}/documents",
            params={"document_ids": ids, "limit": "2", "offset": "0"},
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"documents", "total"}
        assert len(body["documents"]) == 2
        assert {d["document_id"] for d in body["documents"]} <= set(ids)
        assert all(d["text"].startswith("text of ") for d in body["documents"])
        rest = client.get(
            f"{dust.ds_path}/documents",
            params={"document_ids": ids, "limit": "2", "offset": "2"},
        ).json()
    assert len(rest["documents"]) == 1


def test_list_documents_defaults(dust: DustTarget) -> None:
    emulator = dust.stage_only_in_emulator("an empty data source with a known number of documents")
    with dust.client(api_key=emulator.system_api_key) as system:
        for i in range(12):
            system.post(f"{dust.ds_path}/documents/d{i}", json={"text": "x"}).raise_for_status()
    with dust.client() as client:
        body = client.get(f"{dust.ds_path}/documents").json()
    assert len(body["documents"]) == 10 and body["total"] == 12


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "offset=0.5"])
def test_invalid_list_parameters_are_400(dust: DustTarget, query: str) -> None:
    with dust.client() as client:
        response = client.get(f"{dust.ds_path}/documents?{query}")
    error = assert_error(response, 400, "invalid_request_error")
    assert error["message"].startswith("Invalid query parameters")


def test_document_over_the_plan_size_is_403_quota_error(dust: DustTarget) -> None:
    limit = 2 * 1024 * 1024
    assert upsert(dust, dust.unique(), {"text": "a" * limit}).status_code == 200
    error = assert_error(
        upsert(dust, dust.unique(), {"text": "a" * (limit + 1)}), 403, "data_source_quota_error"
    )
    assert f"You are attempting to upload {limit + 1} bytes" in error["message"]


def test_plan_size_counts_utf16_code_units(dust: DustTarget) -> None:
    limit = 2 * 1024 * 1024
    # one emoji is two UTF-16 units: (limit // 2) emojis fit, one more does not
    assert upsert(dust, dust.unique(), {"text": "🚀" * (limit // 2)}).status_code == 200
    assert_error(
        upsert(dust, dust.unique(), {"text": "🚀" * (limit // 2) + "a"}), 403, "data_source_quota_error"
    )


def test_plan_size_is_checked_after_source_url_and_before_title(dust: DustTarget) -> None:
    big = "a" * (2 * 1024 * 1024 + 1)
    assert_error(
        upsert(dust, dust.unique(), {"text": big, "source_url": "ftp://x"}), 400, "invalid_request_error"
    )
    assert_error(
        upsert(dust, dust.unique(), {"text": big, "title": "t" * 600}), 403, "data_source_quota_error"
    )


def test_body_over_8_mb_is_413(dust: DustTarget) -> None:
    body = b'{"text": "' + b"a" * (9 * 1024 * 1024) + b'"}'
    with dust.client() as client:
        response = client.post(
            dust.doc_url(dust.unique()), content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    if dust.is_emulator:
        assert_error(response, 413, "content_too_large", "Request body too large.")


def test_managed_data_source_refuses_document_writes(dust: DustTarget) -> None:
    emulator = dust.stage_only_in_emulator("a connector-managed data source")
    ds = emulator.control.post(
        f"/workspaces/{dust.workspace_id}/data_sources", json={"name": "slack", "connector_provider": "slack"}
    ).json()["data_source"]
    path = f"/spaces/{ds['space_id']}/data_sources/{ds['sId']}"
    with dust.client() as client:
        assert_error(
            client.post(f"{path}/documents/x", json={"text": "x"}),
            403,
            "data_source_auth_error",
            "You cannot upsert a document on a managed data source.",
        )
        assert_error(
            client.delete(f"{path}/documents/x"),
            403,
            "data_source_auth_error",
            "You cannot delete a document from a managed data source.",
        )
        # the body is validated before the managed check
        assert_error(client.post(f"{path}/documents/x", json={"text": 1}), 400, "invalid_request_error")
        # tables and rows have no managed check
        assert (
            client.post(
                f"{path}/tables", json={"name": "t", "description": "d", "title": "t", "table_id": "t"}
            ).status_code
            == 200
        )


def test_rate_limit_is_429_without_retry_after_and_system_keys_are_exempt(dust: DustTarget) -> None:
    emulator = dust.stage_only_in_emulator("121 upserts within a minute (and a system key)")
    with dust.client() as client:
        statuses = [
            client.post(f"{dust.ds_path}/documents/d{i}", json={"text": "x"}).status_code for i in range(120)
        ]
        assert statuses == [200] * 120
        limited = client.post(f"{dust.ds_path}/documents/over", json={"text": "x"})
        assert_error(
            limited, 429, "rate_limit_error", "You have reached the maximum number of 120 upserts per minute."
        )
        # body validation comes first: an invalid body is a 400 even when limited
        assert_error(
            client.post(f"{dust.ds_path}/documents/bad", json={"text": 1}), 400, "invalid_request_error"
        )
        # only document POSTs are limited
        assert client.get(f"{dust.ds_path}/documents/d0").status_code == 200
        assert client.delete(f"{dust.ds_path}/documents/d0").status_code == 200
    with dust.client(api_key=emulator.system_api_key) as system:
        assert system.post(f"{dust.ds_path}/documents/system", json={"text": "x"}).status_code == 200


def test_system_keys_may_set_consistent_parents(dust: DustTarget) -> None:
    emulator = dust.stage_only_in_emulator("a system key")
    with dust.client(api_key=emulator.system_api_key) as system:
        ok = system.post(
            f"{dust.ds_path}/documents/child",
            json={"text": "x", "parents": ["child", "root"], "parent_id": "root"},
        )
        assert ok.status_code == 200 and ok.json()["document"]["parents"] == ["child", "root"]
        assert_error(
            system.post(f"{dust.ds_path}/documents/child", json={"text": "x", "parents": ["other"]}),
            400,
            "invalid_request_error",
            "Invalid parents: parents[0] should be equal to document_id.",
        )


@pytest.mark.parametrize("timestamp", [-5, 1e30])
def test_timestamp_core_cannot_store_is_500(dust: DustTarget, timestamp: float) -> None:
    # cleanTimestamp multiplies negatives by 1000 and keeps them; core's u64 refuses them
    if timestamp < 0:
        dust.stage_only_in_emulator("newer Dust maps negative timestamps to null (the reference predates it)")
    response = upsert(dust, dust.unique(), {"text": "x", "timestamp": timestamp})
    assert_error(response, 500, "internal_server_error")
