"""Query strings read the way Dust's front reads them (Hono, zod, JavaScript numbers).

Every route of the emulator reads its query through ``parse`` and the helpers below:

* ``parse``: Hono's ``getQueryParams``. The raw query is split on ``&``; a part's name runs to its
  first ``=`` (no ``=``: the value is ``""``); ``+`` becomes a space and escapes are decoded with
  ``decodeURIComponent``; when that fails, each run of escapes that is valid UTF-8 is decoded and
  the others are kept as written. Parts whose name decodes to ``""`` are skipped.
* ``Query.first`` / ``Query.all``: ``ctx.req.query()`` (first value wins) / ``ctx.req.queries(name)``.
* ``Query.validator_value``: what zod sees behind Hono's query validator: a key given once is a
  string, a repeated key is an array (so ``limit=1&limit=2`` fails a number field).
* ``to_number``: JavaScript ``Number()`` (``z.coerce.number()``): ``"0x2"`` is 2, ``"1_0"`` is NaN,
  ``""`` and blanks are 0, ``" 5 "`` is 5, ``"Infinity"`` is infinite.
* ``check_number`` / ``query_error``: zod v3's issues and the validator's 400 message.
* ``as_core_usize``, ``js_integer``: what Dust's Rust core reads back from a number front sends it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from .errors import DustApiError, invalid_request

QueryValue = str | list[str] | None

_ESCAPE_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

# ECMAScript StrWhiteSpaceChar: WhiteSpace (Zs, TAB, VT, FF, ZWNBSP) and LineTerminator.
JS_WHITESPACE = "\t\n\v\f\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    map(chr, range(0x2000, 0x200B))
)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_DECIMAL = re.compile(r"0(?:[xX](?P<hex>[0-9a-fA-F]+)|[oO](?P<oct>[0-7]+)|[bB](?P<bin>[01]+))")
_INFINITY = re.compile(r"[+-]?Infinity")

U64_LIMIT = 2**64


# ---- parsing ------------------------------------------------------------------------------------


def _decode_uri_component(text: str) -> str:
    """JavaScript ``decodeURIComponent``; ``ValueError`` where it throws ``URIError``."""
    if _LONE_PERCENT.search(text):
        raise ValueError("malformed escape")
    return _ESCAPE_RUN.sub(lambda run: bytes.fromhex(run.group().replace("%", "")).decode("utf-8"), text)


def _keep_if_invalid(run: re.Match[str]) -> str:
    try:
        return _decode_uri_component(run.group())
    except ValueError:
        return run.group()


def decode_part(text: str) -> str:
    """Hono's ``_decodeURI`` for one name or value of a query string."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    try:
        return _decode_uri_component(text)
    except ValueError:
        return _ESCAPE_RUN.sub(_keep_if_invalid, text)


@dataclass(frozen=True)
class Query:
    """The decoded ``(name, value)`` pairs of a query string, in request order."""

    pairs: tuple[tuple[str, str], ...] = ()

    def first(self, name: str) -> str | None:
        return next((value for key, value in self.pairs if key == name), None)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def validator_value(self, name: str) -> QueryValue:
        values = self.all(name)
        if not values:
            return None
        return values[0] if len(values) == 1 else values


def parse(raw: str) -> Query:
    """Parse the raw query (after ``?``; bytes read as latin-1, as Node reads a request target)."""
    pairs = []
    for part in raw.split("&"):
        name, _, value = part.partition("=")
        name = decode_part(name)
        if name:
            pairs.append((name, decode_part(value)))
    return Query(tuple(pairs))


# ---- JavaScript numbers ---------------------------------------------------------------------------


def string_to_number(text: str) -> float:
    """ECMAScript ``StringToNumber``: the grammar of ``Number("...")``; NaN when it does not match."""
    text = text.strip(JS_WHITESPACE)
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        return float(text)
    if _INFINITY.fullmatch(text):
        return -math.inf if text[0] == "-" else math.inf
    literal = _NON_DECIMAL.fullmatch(text)
    if literal:
        base = 16 if literal["hex"] else 8 if literal["oct"] else 2
        try:
            return float(int(literal["hex"] or literal["oct"] or literal["bin"], base))
        except OverflowError:
            return math.inf
    return math.nan


def to_number(value: QueryValue) -> float:
    """``Number(value)`` for a query value: missing is NaN, an array reads as its values joined by ``,``."""
    if value is None:
        return math.nan
    return string_to_number(value if isinstance(value, str) else ",".join(value))


def to_boolean(value: QueryValue) -> bool:
    """``z.coerce.boolean()``: ``Boolean(value)``, so any non-empty string (even ``"false"``) is true."""
    return bool(value)


def check_number(value: float, *, integer: bool = False, non_negative: bool = False) -> list[str]:
    """zod v3's issues for ``z.number()`` with ``.int()`` / ``.nonnegative()`` (every failing check)."""
    if math.isnan(value):
        return ["Expected number, received nan"]
    issues = []
    if integer and not (math.isfinite(value) and value.is_integer()):
        issues.append("Expected integer, received float")
    if non_negative and value < 0:
        issues.append("Number must be greater than or equal to 0")
    return issues


def format_issues(issues: list[tuple[str, str]]) -> str:
    """zod-validation-error's text for ``(message, key)`` issues."""
    return "Validation error: " + "; ".join(f'{message} at "{key}"' for message, key in issues)


def query_error(issues: list[tuple[str, str]]) -> DustApiError:
    """The 400 of Dust's query validator middleware."""
    return invalid_request("Invalid query parameters: " + format_issues(issues))


def non_negative_ints(query: Query, defaults: dict[str, int]) -> dict[str, float]:
    """``z.coerce.number().int().nonnegative().optional().default(d)`` for each key, as the validator
    middleware runs it: every issue of every key in one 400, before any lookup."""
    values: dict[str, float] = {}
    issues: list[tuple[str, str]] = []
    for name, default in defaults.items():
        raw = query.validator_value(name)
        values[name] = float(default) if raw is None else to_number(raw)
        issues.extend(
            (message, name) for message in check_number(values[name], integer=True, non_negative=True)
        )
    if issues:
        raise query_error(issues)
    return values


def enum_list(query: Query, name: str, allowed: tuple[str, ...]) -> list[str] | None:
    """``z.string().optional().transform(split(",")).pipe(z.array(z.enum(allowed)).optional())``."""
    raw = query.validator_value(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise query_error([("Expected string, received array", name)])
    items = raw.split(",")
    expected = " | ".join(f"'{item}'" for item in allowed)
    issues = [
        (f"Invalid enum value. Expected {expected}, received '{item}'", f"{name}[{index}]")
        for index, item in enumerate(items)
        if item not in allowed
    ]
    if issues:
        raise query_error(issues)
    return items


# ---- what core reads back -------------------------------------------------------------------------


def js_integer(value: float) -> int:
    """The integer JavaScript prints for an integral number (``String(2**63)`` is
    ``"9223372036854776000"``: the shortest round-trip digits, padded with zeros)."""
    if abs(value) < 2**53:
        return int(value)
    return int(Decimal(repr(value)))


def as_core_usize(value: float) -> int | None:
    """What serde reads as a ``usize`` from the number front sends core (``JSON.stringify`` or
    ``String``): a non-negative integer below 2^64; ``None`` where core's deserialisation fails
    (fraction, negative, infinite, or too large)."""
    if not math.isfinite(value) or not value.is_integer() or value < 0:
        return None
    number = js_integer(value)
    return number if number < U64_LIMIT else None
