"""The emulator's page in a real headless Chromium (Debian's, driven by Playwright) after a real sync."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import png, sample
from tests.browser.sample import SyncedEmulator

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = ROOT / ".cache" / "ui-screenshot.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        # the Makefile runs this before the tests; a direct `pytest` run gets the same one-time install
        proc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "ensure-chromium.sh")], capture_output=True, text=True
        )
        if proc.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"Chromium is missing and scripts/ensure-chromium.sh failed:\n{proc.stderr[-2000:]}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, synced: SyncedEmulator) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    opened.set_default_timeout(10_000)
    opened.goto(synced.ui_url)
    opened.wait_for_selector("body[data-ready=true]")
    yield opened
    context.close()
    assert not problems, problems


def test_page_shows_documents_and_tables_of_the_sync(page: Any, synced: SyncedEmulator) -> None:
    source = page.locator("[data-testid=source]", has_text="emulator-folder")
    assert source.is_visible()
    assert f"{len(sample.TICKETS)} documents · 1 tables" in source.inner_text()
    assert page.locator("#ds-title").inner_text() == "emulator-folder"

    titles = page.locator("[data-testid=documents] [data-testid=document-title]").all_inner_texts()
    assert sorted(titles) == sorted(t["subject"] for t in sample.TICKETS)
    ticket = page.locator("[data-testid=documents] [data-id='tickets-4312']")
    assert ticket.get_by_text("Refund not received", exact=True).is_visible()
    assert ticket.locator(".tag", has_text="priority:high").is_visible()
    assert ticket.locator("a[href='https://support.example.com/tickets/4312']").is_visible()
    assert "2024-05-02T09:30:00Z" in ticket.locator(".meta").inner_text()
    assert "requester.email: ada@example.com" in ticket.locator("[data-testid=document-text]").inner_text()

    table = page.locator("[data-testid=table][data-id]", has_text="airbyte_users")
    assert table.locator("[data-testid=table-name]").inner_text() == "airbyte_users"
    headers = [
        re.sub(r"\s+", " ", h).strip() for h in table.locator("[data-testid=column]").all_inner_texts()
    ]
    assert "email text" in headers and "seats int" in headers and "created_at datetime" in headers
    assert table.get_by_role("cell", name="grace@example.com").is_visible()
    assert table.get_by_role(
        "cell", name="2023-02-15T10:00:00Z"
    ).is_visible()  # a datetime cell, shown as ISO


def test_search_box_finds_a_ticket_and_reports_no_match(page: Any) -> None:
    started = time.monotonic()
    page.get_by_label("Search documents").fill("wrong VAT number")
    page.get_by_role("button", name="Search").click()
    summary = page.locator("[data-testid=search-summary]")
    summary.wait_for()
    results = page.locator("[data-testid=search-results] [data-testid=document-title]")
    assert results.first.inner_text() == "Invoice shows the wrong VAT number"
    assert re.match(r"\d+ results? for “wrong VAT number”", summary.inner_text())

    page.get_by_label("Search documents").fill("xylophone")
    page.get_by_label("Search documents").press("Enter")
    page.wait_for_function(
        "document.querySelector('[data-testid=search-summary]')?.textContent.includes('xylophone')"
    )
    assert summary.inner_text() == "0 results for “xylophone”"
    assert results.count() == 0
    assert time.monotonic() - started < 10


def test_screenshot_is_a_real_rendering(page: Any) -> None:
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    data = page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert len(data) > 30_000, f"suspiciously small screenshot ({len(data)} bytes)"
    width, height = png.size(data)
    assert width == 1280 and height > 900, (width, height)  # full page: taller than the viewport
    image = png.decode(data, max_rows=900)  # the first screen is enough to judge the rendering
    assert image.width == 1280 and image.height == 900, (image.width, image.height)
    histogram = image.colour_histogram(step=3)
    total = sum(histogram.values())
    dominant = histogram.most_common(1)[0][1] / total
    assert len(histogram) >= 50, f"only {len(histogram)} colours: blank or broken page?"
    assert dominant < 0.9, f"one colour covers {dominant:.0%} of the page"
    # the dark header band is there (the stylesheet loaded): its top-left pixels are near-black
    r, g, b = image.pixel(5, 5)
    assert max(r, g, b) < 60, (r, g, b)
    # and the page body below it is light
    assert min(image.pixel(5, image.height - 5)) > 200
    assert SCREENSHOT.stat().st_size == len(data)
