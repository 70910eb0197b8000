"""The /__emulator/ control API and what it lets tests stage."""

from __future__ import annotations

import httpx
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dust_emulator.server import EmulatorServer, build_state
from dust_emulator.testing import EmulatorProcess, wait_until


def _second_workspace(emulator: EmulatorProcess) -> tuple[str, str, dict[str, str]]:
    workspace = emulator.control.post("/workspaces", json={"name": "B"}).json()["workspace"]["sId"]
    key = emulator.control.post(f"/workspaces/{workspace}/keys", json={"kind": "regular"}).json()["key"][
        "secret"
    ]
    ds = emulator.control.post(f"/workspaces/{workspace}/data_sources", json={"name": "folder-b"}).json()
    return workspace, key, ds["data_source"]


def test_key_of_workspace_a_is_refused_on_workspace_b(emulator: EmulatorProcess) -> None:
    workspace_b, key_b, ds_b = _second_workspace(emulator)
    ds_path_b = f"/spaces/{ds_b['space_id']}/data_sources/{ds_b['sId']}"
    url_b = f"{emulator.base_url}/api/v1/w/{workspace_b}{ds_path_b}/documents"
    refused = httpx.get(url_b, headers={"Authorization": f"Bearer {emulator.api_key}"})
    assert refused.status_code == 401
    assert refused.json()["error"] == {
        "type": "workspace_auth_error",
        "message": "Only users of the workspace can access this content.",
    }
    assert httpx.get(url_b, headers={"Authorization": f"Bearer {key_b}"}).status_code == 200
    # B's key on A is refused too, and the system key of A is no master key.
    with emulator.api_client(key_b) as client:
        assert client.get(f"{emulator.ds_path}/documents").status_code == 401
    system = httpx.get(url_b, headers={"Authorization": f"Bearer {emulator.system_api_key}"})
    assert system.status_code == 401


def test_managed_data_source_refuses_document_writes_but_not_tables(emulator: EmulatorProcess) -> None:
    workspace = emulator.config["workspace_id"]
    managed = emulator.control.post(
        f"/workspaces/{workspace}/data_sources", json={"name": "notion", "connector_managed": True}
    ).json()["data_source"]
    path = f"/spaces/{managed['space_id']}/data_sources/{managed['sId']}"
    with emulator.api_client() as client:
        post = client.post(f"{path}/documents/x", json={"text": "x"})
        assert post.status_code == 403
        assert post.json()["error"] == {
            "type": "data_source_auth_error",
            "message": "You cannot upsert a document on a managed data source.",
        }
        delete = client.delete(f"{path}/documents/x")
        assert delete.status_code == 403
        assert delete.json()["error"]["message"] == "You cannot delete a document from a managed data source."
        assert (
            client.post(f"{path}/tables", json={"name": "t", "description": "d", "title": "t"}).status_code
            == 200
        )
        listed = client.get(f"/spaces/{managed['space_id']}/data_sources").json()["data_sources"]
        assert {ds["connectorProvider"] for ds in listed} == {None, "notion"}
    with emulator.api_client(emulator.system_api_key) as system:
        assert system.post(f"{path}/documents/x", json={"text": "x"}).status_code == 200


def test_hostile_echo_key_puts_the_key_in_error_messages(emulator: EmulatorProcess) -> None:
    emulator.update_settings(hostile_echo_key=True)
    with emulator.api_client() as client:
        response = client.get(f"{emulator.ds_path}/documents/missing")
    assert emulator.api_key in response.json()["error"]["message"]
    emulator.update_settings(hostile_echo_key=False)
    with emulator.api_client() as client:
        assert emulator.api_key not in client.get(f"{emulator.ds_path}/documents/missing").text


def test_settings_change_limits_at_run_time(emulator: EmulatorProcess) -> None:
    emulator.update_settings(doc_size_limit_mb=0.001)  # 1048 UTF-16 units
    with emulator.api_client() as client:
        assert client.post(f"{emulator.ds_path}/documents/ok", json={"text": "x" * 1048}).status_code == 200
        refused = client.post(f"{emulator.ds_path}/documents/big", json={"text": "x" * 1049})
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "data_source_quota_error"
        assert "1049 bytes" in refused.json()["error"]["message"]
    assert emulator.control.patch("/settings", json={"nope": 1}).status_code == 400
    assert emulator.control.patch("/settings", json={"rate_limit": "many"}).status_code == 400


def test_dump_shows_documents_tables_and_rows(emulator: EmulatorProcess) -> None:
    with emulator.api_client() as client:
        client.post(
            f"{emulator.ds_path}/documents/d1",
            json={
                "text": "hello",
                "title": "Hello",
                "tags": ["k:v"],
                "timestamp": 1700000000000,
                "source_url": "https://example.com/x",
            },
        ).raise_for_status()
        client.post(
            f"{emulator.ds_path}/tables",
            json={"name": "t", "description": "d", "title": "T", "table_id": "t1"},
        ).raise_for_status()
        client.post(
            f"{emulator.ds_path}/tables/t1/rows", json={"rows": [{"row_id": "r", "value": {"a": "x"}}]}
        ).raise_for_status()
    ds = next(d for d in emulator.dump()["data_sources"] if d["sId"] == emulator.config["data_source_id"])
    [document] = ds["documents"]
    assert document["text"] == "hello" and document["title"] == "Hello"
    assert document["tags"] == ["k:v", "title:Hello"] and document["timestamp"] == 1700000000000
    assert document["source_url"] == "https://example.com/x"
    [table] = ds["tables"]
    assert table["schema"] == [{"name": "a", "value_type": "text", "possible_values": ['"x"']}]
    assert table["rows"] == [{"row_id": "r", "value": {"a": "x"}}]


def test_async_upserts_become_visible_after_the_delay(emulator: EmulatorProcess) -> None:
    emulator.update_settings(async_delay_ms=300)
    with emulator.api_client() as client:
        response = client.post(f"{emulator.ds_path}/documents/later", json={"text": "x", "async": True})
        assert response.json() == {"document": {"document_id": "later"}}
        assert client.get(f"{emulator.ds_path}/documents/later").status_code == 400
        assert wait_until(lambda: client.get(f"{emulator.ds_path}/documents/later").status_code == 200, 3)


def test_reset_empties_data_and_restores_startup_state(emulator: EmulatorProcess) -> None:
    with emulator.api_client() as client:
        client.post(f"{emulator.ds_path}/documents/d", json={"text": "x"}).raise_for_status()
    emulator.set_faults(error_5xx_rate=1.0)
    emulator.update_settings(rate_limit=1)
    emulator.reset("data")
    assert emulator.documents() == []
    assert emulator.control.get("/faults").json()["faults"]["error_5xx_rate"] == 0.0
    assert emulator.control.get("/settings").json()["settings"]["rate_limit"] == 20
    assert emulator.control.get("/health").json()["ok"] is True


def test_extra_routes_mount_under_the_ui_prefix() -> None:
    async def page(request: object) -> PlainTextResponse:
        return PlainTextResponse("ui here")

    with EmulatorServer(build_state(), extra_routes=[Route("/", page)]).start_in_thread() as server:
        assert httpx.get(f"{server.base_url}/__emulator/ui/").text == "ui here"
        assert httpx.get(f"{server.base_url}/__emulator/health").status_code == 200
