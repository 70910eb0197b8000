"""The UI's JSON endpoints and assets over real HTTP, after a real CLI sync (no browser needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.browser import sample
from tests.browser.sample import SyncedEmulator

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "integrations" / "destinations" / "dust.md"


def _ids(synced: SyncedEmulator) -> tuple[str, str]:
    return synced.config["workspace_id"], synced.config["data_source_id"]


def test_overview_lists_the_data_source_with_counts_and_no_secret(synced: SyncedEmulator) -> None:
    answer = httpx.get(f"{synced.ui_url}api/overview", timeout=10)
    assert answer.status_code == 200
    assert synced.config["api_key"] not in answer.text
    workspace = answer.json()["workspaces"][0]
    assert workspace["sId"] == synced.config["workspace_id"]
    sources = [ds for space in workspace["spaces"] for ds in space["data_sources"]]
    [ds] = [d for d in sources if d["sId"] == synced.config["data_source_id"]]
    assert (ds["documents"], ds["tables"]) == (len(sample.TICKETS), 1)


def test_documents_endpoint_has_what_the_sync_wrote(synced: SyncedEmulator) -> None:
    wid, dsid = _ids(synced)
    answer = httpx.get(
        f"{synced.ui_url}api/w/{wid}/ds/{dsid}/documents", params={"limit": 2}, timeout=10
    ).json()
    assert answer["total"] == len(sample.TICKETS) and len(answer["documents"]) == 2
    everything = httpx.get(f"{synced.ui_url}api/w/{wid}/ds/{dsid}/documents", timeout=10).json()["documents"]
    by_id = {d["document_id"]: d for d in everything}
    doc = by_id["tickets-4312"]
    assert doc["title"] == "Refund not received"
    assert doc["source_url"] == "https://support.example.com/tickets/4312"
    assert {"status:open", "priority:high", "airbyte:stream:tickets"} <= set(doc["tags"])
    assert doc["timestamp"] == 1_714_642_200_000  # 2024-05-02T09:30:00Z
    assert "requester.email: ada@example.com" in doc["text"]


def test_tables_endpoint_has_schema_and_first_rows(synced: SyncedEmulator) -> None:
    wid, dsid = _ids(synced)
    answer = httpx.get(f"{synced.ui_url}api/w/{wid}/ds/{dsid}/tables", params={"rows": 1}, timeout=10).json()
    [table] = answer["tables"]
    assert table["name"] == "airbyte_users"
    types = {c["name"]: c["value_type"] for c in table["schema"]}
    assert types == {
        "id": "int",
        "name": "text",
        "email": "text",
        "plan": "text",
        "seats": "int",
        "created_at": "datetime",
    }
    assert table["row_count"] == len(sample.USERS) and len(table["rows"]) == 1
    # Dust lists rows newest first: the first row shown is the last one the sync wrote
    assert table["rows"][0]["value"]["email"] == sample.USERS[-1]["email"] == "alan@example.com"


def test_search_endpoint_ranks_the_matching_ticket_first(synced: SyncedEmulator) -> None:
    wid, dsid = _ids(synced)
    url = f"{synced.ui_url}api/w/{wid}/ds/{dsid}/search"
    hits = httpx.get(url, params={"query": "VAT invoice"}, timeout=10).json()["documents"]
    assert hits and hits[0]["document_id"] == "tickets-4314"
    assert all("score" in h for h in hits)
    assert httpx.get(url, params={"query": "xylophone"}, timeout=10).json()["documents"] == []


def test_unknown_data_source_and_asset_are_404(synced: SyncedEmulator) -> None:
    wid, _ = _ids(synced)
    assert httpx.get(f"{synced.ui_url}api/w/{wid}/ds/dts_nope/documents", timeout=10).status_code == 404
    assert httpx.get(f"{synced.ui_url}assets/secrets.txt", timeout=10).status_code == 404
    assert httpx.get(f"{synced.ui_url}assets/..%2Fui.py", timeout=10).status_code == 404


def test_page_and_assets_are_served_with_their_types(synced: SyncedEmulator) -> None:
    page = httpx.get(synced.ui_url, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for ref in re.findall(r'(?:src|href)="(assets/[^"]+)"', page.text):
        asset = httpx.get(synced.ui_url + ref, timeout=10)
        assert asset.status_code == 200, ref
    assert (
        httpx.get(f"{synced.ui_url}assets/app.js", timeout=10)
        .headers["content-type"]
        .startswith("text/javascript")
    )


def test_docs_rendering_example_is_what_a_sync_stores(synced: SyncedEmulator) -> None:
    """docs/integrations/destinations/dust.md shows a ticket and its text: both must match reality."""
    docs = DOCS.read_text(encoding="utf-8")
    record_block = re.search(r"A ticket-like record.*?```json\n(.*?)```", docs, re.S)
    text_block = re.search(r"Its text:\n\n```markdown\n(.*?)```", docs, re.S)
    assert record_block and text_block, "the docs page lost its rendering example"
    assert json.loads(record_block.group(1)) == sample.TICKETS[0]
    wid, dsid = _ids(synced)
    docs_list = httpx.get(f"{synced.ui_url}api/w/{wid}/ds/{dsid}/documents", timeout=10).json()["documents"]
    stored = next(d for d in docs_list if d["document_id"] == "tickets-4312")
    assert text_block.group(1).strip() == stored["text"].strip(), (
        "the renderer changed: update the example in docs/integrations/destinations/dust.md"
    )
