"""Loss notices: the first few of a stream and kind get a line each, the rest a total at the end."""

from __future__ import annotations

import pytest

from destination_dust.catalog import StreamKey
from destination_dust.notices import DETAILED, StreamNotices


def test_the_first_few_are_listed_then_counted_and_totalled_once(caplog: pytest.LogCaptureFixture) -> None:
    notices = StreamNotices(StreamKey("crm", "users"))
    with caplog.at_level("WARNING", logger="destination_dust"):
        for n in range(1_000):
            notices.report("rows cut to fit one request", f"row '{n}' was cut")
        notices.report("rows with text that cannot be encoded", "row '7' lost a surrogate")
        notices.close()
        notices.close()  # once
    assert caplog.messages == [
        *(f"stream crm.users: row '{n}' was cut" for n in range(DETAILED - 1)),
        f"stream crm.users: row '{DETAILED - 1}' was cut (further rows cut to fit one request are counted, "
        "not listed)",
        "stream crm.users: row '7' lost a surrogate",
        f"stream crm.users: 1000 rows cut to fit one request in all (the first {DETAILED} are listed above)",
    ]


def test_as_many_as_are_listed_need_no_total(caplog: pytest.LogCaptureFixture) -> None:
    notices = StreamNotices(StreamKey(None, "users"))
    with caplog.at_level("WARNING", logger="destination_dust"):
        notices.report("documents truncated to max_document_size_mb", "document 'users-1' was truncated")
        notices.close()
    assert caplog.messages == ["stream users: document 'users-1' was truncated"]
