"""Reference §1, §4 and §6: authentication, workspaces, routing, spaces and data sources."""

from __future__ import annotations

import httpx
import pytest

from .conftest import DATA_SOURCE_KEYS, DustTarget, assert_error


def test_missing_authorization_is_401_not_authenticated(dust: DustTarget) -> None:
    with dust.client(api_key="") as client:
        assert_error(client.get(f"{dust.ds_path}/documents"), 401, "not_authenticated")


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer sk-has-dashes!", "sk-nobearer", "Bearer sk-"]
)
def test_malformed_authorization_header(dust: DustTarget, header: str) -> None:
    if not header.startswith("Bearer sk-"):
        dust.stage_only_in_emulator(
            "non-sk bearer tokens go through Dust's OAuth path, whose error type varies"
        )
    response = httpx.get(
        f"{dust.base_url}/api/v1/w/{dust.workspace_id}{dust.ds_path}/documents",
        headers={"Authorization": header},
        timeout=60,
    )
    assert_error(response, 401, "malformed_authorization_header_error")


def test_unknown_key_is_401_invalid_api_key(dust: DustTarget) -> None:
    with dust.client(api_key="sk-0000000000000000000000000000dead") as client:
        assert_error(
            client.get(f"{dust.ds_path}/documents"),
            401,
            "invalid_api_key_error",
            "The API key provided is invalid or disabled.",
        )


def test_unknown_workspace_is_404_workspace_not_found(dust: DustTarget) -> None:
    with dust.client(workspace_id="noSuchWorkspace0") as client:
        assert_error(client.get("/spaces"), 404, "workspace_not_found")


def test_key_from_another_workspace_is_401_workspace_auth_error(dust: DustTarget) -> None:
    emulator = dust.stage_only_in_emulator("a second workspace and its key")
    other = emulator.control.post("/workspaces", json={"name": "other"}).json()["workspace"]["sId"]
    with dust.client(workspace_id=other) as client:
        assert_error(
            client.get("/spaces"),
            401,
            "workspace_auth_error",
            "Only users of the workspace can access this content.",
        )


def test_list_spaces(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.get("/spaces")
    assert response.status_code == 200
    spaces = response.json()["spaces"]
    assert dust.space_id in {space["sId"] for space in spaces}
    for space in spaces:
        assert {"sId", "name", "kind"} <= set(space)


def test_list_data_sources_has_the_data_source_type_shape(dust: DustTarget) -> None:
    with dust.client() as client:
        response = client.get(f"/spaces/{dust.space_id}/data_sources")
    assert response.status_code == 200
    data_sources = response.json()["data_sources"]
    ours = next(ds for ds in data_sources if dust.data_source_id in (ds["sId"], ds["name"]))
    assert set(ours) >= DATA_SOURCE_KEYS
    assert isinstance(ours["id"], int) and isinstance(ours["dustAPIProjectId"], str)


def test_unknown_space_is_404_space_not_found(dust: DustTarget) -> None:
    with dust.client() as client:
        assert_error(client.get("/spaces/vlt_doesNotExist0/data_sources"), 404, "space_not_found")


def test_unknown_data_source_is_404(dust: DustTarget) -> None:
    with dust.client() as client:
        assert_error(
            client.get(f"/spaces/{dust.space_id}/data_sources/dts_doesNotExist/documents"),
            404,
            "data_source_not_found",
            "The data source you requested was not found.",
        )


def test_data_source_in_another_space_is_404(dust: DustTarget) -> None:
    if dust.emulator is not None:  # stage a second space (real Dust workspaces usually have one already)
        created = dust.emulator.control.post(
            f"/workspaces/{dust.workspace_id}/spaces", json={"name": "Other"}
        )
        assert created.status_code == 201, created.text
    with dust.client() as client:
        spaces = [s["sId"] for s in client.get("/spaces").json()["spaces"] if s["sId"] != dust.space_id]
        if not spaces:
            pytest.skip("real Dust cannot stage: the workspace has a single readable space")
        response = client.get(f"/spaces/{spaces[0]}/data_sources/{dust.data_source_id}/documents")
    assert_error(response, 404, "data_source_not_found")


def test_hyphenated_data_sources_path_does_not_exist(dust: DustTarget) -> None:
    with dust.client() as client:
        assert (
            client.get(f"/spaces/{dust.space_id}/data-sources/{dust.data_source_id}/documents").status_code
            == 404
        )


def test_trailing_slash_is_accepted(dust: DustTarget) -> None:
    with dust.client() as client:
        assert client.get(f"{dust.ds_path}/documents/").status_code == 200
        assert client.get("/spaces/").status_code == 200


def test_data_source_is_addressable_by_name(dust: DustTarget) -> None:
    with dust.client() as client:
        data_sources = client.get(f"/spaces/{dust.space_id}/data_sources").json()["data_sources"]
        ours = next(ds for ds in data_sources if dust.data_source_id in (ds["sId"], ds["name"]))
        by_name = client.get(f"/spaces/{dust.space_id}/data_sources/{ours['name']}/documents")
        by_id = client.get(f"/spaces/{dust.space_id}/data_sources/{ours['sId']}/documents")
    assert by_name.status_code == 200 and by_id.status_code == 200


def test_legacy_path_uses_the_global_space_for_regular_keys(dust: DustTarget) -> None:
    with dust.client() as client:
        spaces = {s["sId"]: s["kind"] for s in client.get("/spaces").json()["spaces"]}
        response = client.get(f"{dust.legacy_ds_path}/documents")
    if spaces.get(dust.space_id) == "global":
        assert response.status_code == 200
    else:
        assert_error(response, 404, "data_source_not_found")


def test_legacy_path_outside_the_global_space_is_404(dust: DustTarget) -> None:
    emulator, ds = dust.stage_team_data_source("a data source in a non-global space")
    with dust.client() as client:
        assert client.get(f"/spaces/{ds['space_id']}/data_sources/{ds['sId']}/documents").status_code == 200
        assert_error(client.get(f"/data_sources/{ds['sId']}/documents"), 404, "data_source_not_found")
    with dust.client(api_key=emulator.system_api_key) as system:
        # system keys resolve legacy paths to the data source's own space
        assert system.get(f"/data_sources/{ds['sId']}/documents").status_code == 200


def test_unsupported_method_is_404(dust: DustTarget) -> None:
    dust.stage_only_in_emulator("the reference infers (does not confirm) Hono's answer to a wrong method")
    with dust.client() as client:
        assert client.put(f"{dust.ds_path}/documents/x", json={"text": "x"}).status_code == 404
        assert client.patch(f"{dust.ds_path}/tables", json={}).status_code == 404
