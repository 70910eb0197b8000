"""The legacy list ``GET /api/v1/w/{wId}/data_sources`` (reference §1): the data sources of the
workspace's global space, whatever the key. Dust's official client calls it in ``getDataSources()``.
Dust: ``front-api/routes/v1/w/[wId]/data_sources/index.ts`` (``withSpace`` without a space id)."""

from __future__ import annotations

import httpx

from .conftest import DATA_SOURCE_KEYS, DustTarget


def _global_space(client: httpx.Client) -> str:
    spaces = client.get("/spaces").json()["spaces"]
    return str(next(space["sId"] for space in spaces if space["kind"] == "global"))


def _sids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    data_sources = response.json()["data_sources"]
    for ds in data_sources:
        assert set(ds) >= DATA_SOURCE_KEYS
    return {ds["sId"] for ds in data_sources}


def test_legacy_list_is_the_global_space(dust: DustTarget) -> None:
    with dust.client() as client:
        legacy = client.get("/data_sources")
        by_space = client.get(f"/spaces/{_global_space(client)}/data_sources")
        with_slash = client.get("/data_sources/")
    assert set(legacy.json()) == {"data_sources"}
    assert _sids(legacy) == _sids(by_space) == _sids(with_slash)


def test_legacy_list_leaves_out_other_spaces_for_every_key(dust: DustTarget) -> None:
    emulator, team = dust.stage_team_data_source("a data source in a non-global space, and a system key")
    for key in (None, emulator.system_api_key):
        with dust.client(api_key=key) as client:
            listed = _sids(client.get("/data_sources"))
        assert dust.data_source_id in listed
        assert team["sId"] not in listed
