"""`make demo` (examples/demo.py --serve): the link it prints opens the emulator's page on the synced data
source, which shows a ticket composed with its comments; Ctrl-C then stops the demo and its emulator."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.browser.test_ui import browser  # noqa: F401 - the shared Chromium fixture
from tests.helpers import ROOT

pytestmark = pytest.mark.browser
LINK = re.compile(r"See it in a browser: (http://\S+)")


def test_the_printed_link_shows_a_composed_ticket(browser: Any) -> None:  # noqa: F811
    demo = subprocess.Popen(
        [sys.executable, "examples/demo.py", "--serve"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert demo.stdout is not None
        printed = []
        for line in demo.stdout:
            printed.append(line)
            if "keeps running" in line:
                break
        found = LINK.search("".join(printed))
        assert found, "".join(printed)[-3000:]
        assert "A ticket composed with its 3 comments, 'tickets-4521'" in "".join(printed)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(found.group(1))
        page.wait_for_selector("body[data-ready=true]")
        ticket = page.locator("[data-testid=documents] [data-id='tickets-4521']")
        ticket.wait_for()
        text = ticket.locator("[data-testid=document-text]").inner_text()
        assert "### Maya Chen at 2024-11-18T09:40:00Z" in text
        assert text.index("### Customer at 2024-11-18T09:58:00Z") > text.index(
            "### Maya Chen at 2024-11-18T09:40"
        )
        context.close()
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=20) == 0
