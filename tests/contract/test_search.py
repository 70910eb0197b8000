"""Reference §2.5: search. Ranking is lexical in the emulator (Dust uses embeddings), so only the
shape, the filters and the validation are part of the contract."""

from __future__ import annotations

import pytest

from .conftest import DustTarget, assert_error


def test_search_shape_and_filters(dust: DustTarget) -> None:
    dust.stage_only_in_emulator("search results on real Dust lag behind upserts (indexing is asynchronous)")
    with dust.client() as client:
        client.post(
            dust.doc_url("printer"),
            json={"text": "the printer is on fire", "tags": ["team:ops"], "timestamp": 2000},
        ).raise_for_status()
        client.post(
            dust.doc_url("coffee"),
            json={"text": "the coffee machine is on fire", "tags": ["team:food"], "timestamp": 1000},
        ).raise_for_status()
        response = client.get(
            f"{dust.ds_path}/search", params={"query": "fire", "top_k": 5, "full_text": "true"}
        )
        assert response.status_code == 200
        documents = response.json()["documents"]
        assert {d["document_id"] for d in documents} == {"printer", "coffee"}
        assert all(isinstance(chunk["score"], float) for d in documents for chunk in d["chunks"])
        assert all(d["text"] for d in documents)
        tagged = client.get(
            f"{dust.ds_path}/search",
            params={"query": "fire", "top_k": 5, "full_text": "false", "tags_in": "team:ops"},
        ).json()["documents"]
        assert [d["document_id"] for d in tagged] == ["printer"]
        excluded = client.get(
            f"{dust.ds_path}/search", params=[("query", "fire"), ("top_k", "5"), ("tags_not", "team:ops")]
        ).json()["documents"]
        assert [d["document_id"] for d in excluded] == ["coffee"]
        recent = client.get(
            f"{dust.ds_path}/search", params={"query": "fire", "top_k": 5, "timestamp_gt": 1500}
        ).json()["documents"]
        assert [d["document_id"] for d in recent] == ["printer"]
        top1 = client.get(f"{dust.ds_path}/search", params={"query": "fire", "top_k": 1}).json()["documents"]
        assert len(top1) == 1


def test_search_requires_query_and_top_k(dust: DustTarget) -> None:
    with dust.client() as client:
        no_query = client.get(f"{dust.ds_path}/search", params={"top_k": 5, "full_text": "false"})
        no_top_k = client.get(f"{dust.ds_path}/search", params={"query": "x", "full_text": "false"})
    assert_error(no_query, 400, "invalid_request_error")
    assert_error(no_top_k, 400, "invalid_request_error")


# Dust reads the search query itself (``ctx.req.query()``: a repeated key gives its first value) after
# the data-source lookup, and core (``core/src/api/data_sources.rs`` ``DatasourceSearchPayload``) reads
# ``top_k`` and ``target_document_tokens`` as ``usize``: what it cannot read is a 400
# ``data_source_error``. The timestamps are read as f64 by core (``core/src/search_filter.rs``), so
# negative or fractional bounds are accepted.
CORE_REFUSED = [
    "top_k=-1",
    "top_k=2.5",
    "top_k=1e20",
    "top_k=18446744073709551616",
    "top_k=Infinity",
    "top_k=-Infinity",
    "top_k=-1&top_k=2",
    "top_k=5&target_document_tokens=-1",
    "top_k=5&target_document_tokens=0.5",
    "top_k=5&target_document_tokens=1e30",
]
CORE_ACCEPTED = [
    "top_k=0x2",
    "top_k=2&top_k=-1",
    "top_k=5&target_document_tokens=Infinity",
    "top_k=5&timestamp_gt=-5",
    "top_k=5&timestamp_gt=1.5&timestamp_lt=2.5",
    "top_k=5&timestamp_lt=-Infinity",
    "top_k=5&full_text=",
]


@pytest.mark.parametrize("query", CORE_REFUSED)
def test_search_numbers_core_cannot_read_are_400_data_source_error(dust: DustTarget, query: str) -> None:
    with dust.client() as client:
        response = client.get(f"{dust.ds_path}/search?query=fire&{query}")
    error = assert_error(response, 400, "data_source_error")
    assert "data_source_error" not in error


@pytest.mark.parametrize("query", CORE_ACCEPTED)
def test_search_numbers_core_reads_are_200(dust: DustTarget, query: str) -> None:
    with dust.client() as client:
        response = client.get(f"{dust.ds_path}/search?query=fire&{query}")
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["documents"], list)


@pytest.mark.parametrize(
    ("query", "issues"),
    [
        ("top_k=5", ['Required at "query"']),
        ("query=x", ['Expected number, received nan at "top_k"']),
        ("query=x&top_k=1_0", ['Expected number, received nan at "top_k"']),
        ("top_k=x&timestamp_gt=y", ['Required at "query"', 'Expected number, received nan at "top_k"',
                                    'Expected number, received nan at "timestamp_gt"']),
        ("query=x&top_k=1&target_document_tokens=", []),
    ],
)  # fmt: skip
def test_search_validation_has_no_query_prefix(dust: DustTarget, query: str, issues: list[str]) -> None:
    with dust.client() as client:
        response = client.get(f"{dust.ds_path}/search?{query}")
    if not issues:
        assert response.status_code == 200, response.text
        return
    assert_error(response, 400, "invalid_request_error", "Validation error: " + "; ".join(issues))


def test_search_looks_up_the_data_source_before_reading_the_query(dust: DustTarget) -> None:
    with dust.client() as client:
        unknown = f"/spaces/{dust.space_id}/data_sources/dts_doesNotExist/search"
        assert_error(client.get(f"{unknown}?top_k=-1"), 404, "data_source_not_found")
        assert_error(client.get(f"{unknown}?query=x&top_k=x"), 404, "data_source_not_found")
