"""Reference §2.5: search. Ranking is lexical in the emulator (Dust uses embeddings), so only the
shape, the filters and the validation are part of the contract."""

from __future__ import annotations

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
