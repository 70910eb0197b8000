"""timestamps.py: one reading of dates for documents and tables; e-mail dates only where documents ask."""

from __future__ import annotations

import datetime as dt

from destination_dust.cells import to_datetime
from destination_dust.documents import timestamp_ms
from destination_dust.timestamps import MAX_EPOCH_MS, datetime_ms, epoch_ms, iso_ms, parse_iso_fallback

EMAIL_DATE = "Wed, 01 May 2024 10:00:00 GMT"


def test_email_dates_are_read_for_documents_only() -> None:
    assert epoch_ms(EMAIL_DATE) is None
    assert epoch_ms(EMAIL_DATE, email_dates=True) == 1714557600000
    assert timestamp_ms(f"  {EMAIL_DATE} ") == 1714557600000
    cell = to_datetime(EMAIL_DATE)
    assert not isinstance(cell, dict)  # a table cell: null, counted


def test_numeric_text_is_read_exactly() -> None:
    # nanoseconds as text past 2^53: read as an integer, not rounded through a float
    assert epoch_ms("1705500000123000000") == 1705500000123
    assert timestamp_ms("1705500000123000000") == 1705500000123


def test_the_last_instant_with_a_leap_second_or_a_zone_does_not_overflow() -> None:
    assert parse_iso_fallback("9999-12-31T23:59:59Z") == MAX_EPOCH_MS - 999
    assert parse_iso_fallback("9999-12-31T23:59:60Z") == MAX_EPOCH_MS + 1
    assert parse_iso_fallback("9999-12-31T23:00:00-05:00") == MAX_EPOCH_MS + 1 + 4 * 3_600_000


def test_datetimes_are_exact_and_naive_is_utc() -> None:
    assert datetime_ms(dt.datetime(1969, 12, 31, 23, 59, 59, 999_999)) == -1
    assert (
        datetime_ms(dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == 1714557600000
    )
    assert iso_ms(1714557600000) == "2024-05-01T10:00:00.000Z"
