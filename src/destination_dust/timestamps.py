"""Dates and times -> integer epoch milliseconds (what Dust's timestamps and datetime cells hold), and back.

Read: ISO-8601 text (naive = UTC; also spaces around, `UTC`/`GMT`, leap seconds), epoch numbers or numeric
text (seconds below 1e11, i.e. before year 5138, milliseconds below 1e14, microseconds below 1e17,
nanoseconds above), Python dates and datetimes. Documents also read e-mail dates (RFC 2822): their time is
often guessed from a field's name (`date`, `sent_at`), and mail and feed sources spell it that way; a table
column holds what its catalog type (`format: date-time`) promises, ISO text.
Range: Dust keeps years 1..9999 (MIN_EPOCH_MS..MAX_EPOCH_MS); what each mode does outside it is its own rule.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
from typing import Any

from destination_dust.text import number_in_text

MIN_EPOCH_MS = -62135596800000  # 0001-01-01T00:00:00Z
MAX_EPOCH_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_MAX_EMAIL_DATE = 64  # characters: longer text is not an e-mail date

_ISO = re.compile(
    r"^\s*(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[Tt ](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?"
    r"\s*(?P<zone>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


def epoch_ms(value: Any, email_dates: bool = False) -> int | None:
    """Integer epoch milliseconds of a date-like value (module doc), not range-checked; None when it is not
    one. Text is read as ISO-8601 first, then as an epoch number; `email_dates` adds RFC 2822."""
    if isinstance(value, str):  # first: the common case
        epoch = parse_iso_epoch_ms(value)
        if epoch is not None:
            return epoch
        number = number_in_text(value)
        if number is not None:
            return epoch_number_ms(number)
        return _email_date_ms(value) if email_dates else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return epoch_number_ms(value)
    if isinstance(value, dt.datetime):
        return datetime_ms(value)
    if isinstance(value, dt.date):
        return datetime_ms(dt.datetime(value.year, value.month, value.day))
    return None


def datetime_ms(moment: dt.datetime) -> int:
    """Epoch milliseconds of a datetime (naive = UTC), exactly (floored, also before 1970)."""
    return _delta_ms((moment if moment.tzinfo else moment.replace(tzinfo=_UTC)) - _EPOCH)


def _delta_ms(delta: dt.timedelta) -> int:
    # floor division keeps pre-1970 instants on the right millisecond
    return (delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds) // 1000


def epoch_number_ms(number: float) -> int | None:
    """Epoch seconds, ms, us or ns (by magnitude) as integer milliseconds."""
    if not math.isfinite(number) or abs(number) >= 1e21:
        return None  # beyond any epoch in years 1..9999 (and beyond float range for huge ints)
    size = abs(number)
    if size < 1e11:
        return math.floor(number * 1000)
    if size < 1e14:
        return math.floor(number)
    if size < 1e17:
        return math.floor(number / 1000)
    return math.floor(number / 1_000_000)


def parse_iso_epoch_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 date or date-time; naive times are UTC. None when unparseable."""
    try:  # the C parser handles the common shapes fast; the regex below covers the rest (and Python 3.10)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return parse_iso_fallback(text)
    return _delta_ms((moment if moment.tzinfo else moment.replace(tzinfo=_UTC)) - _EPOCH)


def parse_iso_fallback(text: str) -> int | None:
    """The regex parser: spaces around, `UTC`/`GMT`, leap seconds, and all of ISO on Python 3.10."""
    match = _ISO.match(text)
    if not match:
        return None
    parts = match.groupdict()
    fraction = (parts["fraction"] or "")[:6].ljust(6, "0")
    second = int(parts["second"] or 0)
    try:
        moment = dt.datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            min(second, 59),  # a leap second (:60) is one second after :59
            int(fraction),
            tzinfo=_UTC,
        )
    except ValueError:
        return None
    # on the timedelta, not the datetime: 9999-12-31T23:59:60 or a negative zone must not overflow year 9999
    leap = dt.timedelta(seconds=second - min(second, 59))
    return _delta_ms(moment - _EPOCH + leap - _zone_offset(parts["zone"]))


def _zone_offset(zone: str | None) -> dt.timedelta:
    if not zone or zone in ("Z", "z", "UTC", "GMT"):
        return dt.timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return sign * dt.timedelta(hours=hours, minutes=minutes)


def _email_date_ms(text: str) -> int | None:
    """An RFC 2822 date (`Wed, 01 May 2024 10:00:00 GMT`); naive = UTC."""
    if len(text) > _MAX_EMAIL_DATE:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return datetime_ms(moment)


def iso_ms(epoch: int) -> str:
    """JavaScript's Date.toISOString(): 2024-05-01T10:00:00.000Z."""
    moment = _EPOCH + dt.timedelta(milliseconds=epoch)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
