"""The Dust API contract, over real HTTP.

By default the suite runs against a dust-emulator subprocess started with Dust's own defaults
(120 document POSTs per 60 s, 2 MB plan size, 8 MB / 1 MB body limits). Set ``DUST_API_KEY``,
``DUST_WORKSPACE_ID``, ``DUST_SPACE_ID``, ``DUST_DATA_SOURCE_ID`` (and optionally ``DUST_BASE_URL``,
default https://dust.tt) to run the same tests against real Dust. Cases real Dust cannot stage
(a second workspace, a connector-managed data source, system keys...) are skipped there with the
reason ``real Dust cannot stage: ...``. Everything a test creates on real Dust is deleted after it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from dust_emulator.testing import EmulatorProcess

# DataSourceType (SDK): the keys every data source answer carries.
DATA_SOURCE_KEYS = {
    "id",
    "sId",
    "createdAt",
    "name",
    "description",
    "assistantDefaultSelected",
    "dustAPIProjectId",
    "dustAPIDataSourceId",
    "connectorId",
    "connectorProvider",
}

REAL_DUST_ENV = ("DUST_API_KEY", "DUST_WORKSPACE_ID", "DUST_SPACE_ID", "DUST_DATA_SOURCE_ID")


class PatientTransport(httpx.HTTPTransport):
    """Retries 429 answers after a pause (real Dust only; no test there expects a 429)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(12):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.close()
            time.sleep(10)
        return response


@dataclass
class DustTarget:
    base_url: str
    api_key: str
    workspace_id: str
    space_id: str
    data_source_id: str
    emulator: EmulatorProcess | None = None
    created_documents: list[str] = field(default_factory=list)
    created_tables: list[str] = field(default_factory=list)

    @property
    def is_emulator(self) -> bool:
        return self.emulator is not None

    @property
    def ds_path(self) -> str:
        return f"/spaces/{self.space_id}/data_sources/{self.data_source_id}"

    @property
    def legacy_ds_path(self) -> str:
        return f"/data_sources/{self.data_source_id}"

    def client(
        self, api_key: str | None = None, workspace_id: str | None = None, **kwargs: Any
    ) -> httpx.Client:
        headers = {} if api_key == "" else {"Authorization": f"Bearer {api_key or self.api_key}"}
        if self.emulator is None:
            # The suite sends more than 120 document POSTs: on real Dust, wait out the window.
            kwargs.setdefault("transport", PatientTransport())
        return httpx.Client(
            base_url=f"{self.base_url}/api/v1/w/{workspace_id or self.workspace_id}",
            headers=headers,
            timeout=kwargs.pop("timeout", 60.0),
            **kwargs,
        )

    def unique(self, prefix: str = "contract") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def doc_url(self, document_id: str) -> str:
        self.created_documents.append(document_id)
        return f"{self.ds_path}/documents/{quote(document_id, safe='')}"

    def new_table(self, client: httpx.Client, **fields: Any) -> dict[str, Any]:
        table_id = fields.pop("table_id", self.unique("tbl"))
        body = {
            "name": fields.pop("name", table_id.replace("-", "_")),
            "description": "contract test table",
            "title": "Contract",
            "table_id": table_id,
            **fields,
        }
        self.created_tables.append(table_id)
        response = client.post(f"{self.ds_path}/tables", json=body)
        assert response.status_code == 200, response.text
        table: dict[str, Any] = response.json()["table"]
        return table

    def stage_only_in_emulator(self, why: str) -> EmulatorProcess:
        if self.emulator is None:
            pytest.skip(f"real Dust cannot stage: {why}")
        return self.emulator

    def stage_team_data_source(self, why: str) -> tuple[EmulatorProcess, dict[str, Any]]:
        """A folder data source in a new regular space ("Team"): emulator only."""
        emulator = self.stage_only_in_emulator(why)
        control = emulator.control
        space = control.post(f"/workspaces/{self.workspace_id}/spaces", json={"name": "Team"}).json()["space"]
        ds = control.post(
            f"/workspaces/{self.workspace_id}/data_sources",
            json={"name": "team-folder", "space_id": space["sId"]},
        ).json()["data_source"]
        data_source: dict[str, Any] = ds
        return emulator, data_source


@pytest.fixture(scope="session")
def dust_session() -> Iterator[DustTarget]:
    if all(os.environ.get(name) for name in REAL_DUST_ENV):
        yield DustTarget(
            base_url=os.environ.get("DUST_BASE_URL", "https://dust.tt").rstrip("/"),
            api_key=os.environ["DUST_API_KEY"],
            workspace_id=os.environ["DUST_WORKSPACE_ID"],
            space_id=os.environ["DUST_SPACE_ID"],
            data_source_id=os.environ["DUST_DATA_SOURCE_ID"],
        )
        return
    with EmulatorProcess() as emulator:  # Dust's default limits
        config = emulator.config
        yield DustTarget(
            config["base_url"],
            config["api_key"],
            config["workspace_id"],
            config["space_id"],
            config["data_source_id"],
            emulator=emulator,
        )


@pytest.fixture
def dust(dust_session: DustTarget) -> Iterator[DustTarget]:
    if dust_session.emulator is not None:
        dust_session.emulator.reset("all")
    yield dust_session
    if dust_session.emulator is None:
        with dust_session.client() as client:
            for document_id in dust_session.created_documents:
                client.delete(f"{dust_session.ds_path}/documents/{quote(document_id, safe='')}")
            for table_id in dust_session.created_tables:
                client.delete(f"{dust_session.ds_path}/tables/{quote(table_id, safe='')}")
    dust_session.created_documents.clear()
    dust_session.created_tables.clear()


def assert_error(
    response: httpx.Response, status: int, error_type: str, message: str | None = None
) -> dict[str, Any]:
    """Dust's envelope: ``{"error": {"type", "message", ...}}`` with the given status and type."""
    assert response.status_code == status, f"{response.status_code} {response.text[:500]}"
    body = response.json()
    assert isinstance(body.get("error"), dict), body
    assert body["error"]["type"] == error_type, body
    assert isinstance(body["error"]["message"], str)
    if message is not None:
        assert body["error"]["message"] == message
    assert "retry-after" not in response.headers
    error: dict[str, Any] = body["error"]
    return error
