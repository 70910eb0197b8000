"""How values look after a round trip through Dust's JavaScript front and Rust core.

Dust's front parses request bodies with ``JSON.parse`` (every number becomes an IEEE double) and
re-serialises them for core (Rust, serde_json). The emulator reproduces the visible effects:

* ``js_number``: ``1.0`` arrives at core as the integer ``1``; integers beyond 2^53 lose precision.
* ``js_key_order``: JS objects list integer-like keys first, in ascending order.
* ``utf16_len``: JS ``string.length`` counts UTF-16 code units (used by the plan size check and
  the title length check).
* ``rust_number_text``: how serde_json prints a number (used in ``possible_values``).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
_ARRAY_INDEX_MAX = 2**32 - 2


def js_number(value: int | float) -> int | float:
    """The number core receives for ``value`` once it went through a JS double.

    Integral values within i64 become ints (serde's ``is_i64``); everything else stays a float.
    """
    if isinstance(value, int) and -(2**53) <= value <= 2**53:
        return value
    as_float = float(value)
    if math.isfinite(as_float) and as_float.is_integer() and I64_MIN <= as_float <= I64_MAX:
        return int(as_float)
    return as_float


def utf16_len(text: str) -> int:
    """JavaScript's ``text.length``: code points above U+FFFF count twice."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _is_array_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) <= _ARRAY_INDEX_MAX


def js_key_order(obj: dict[str, Any]) -> dict[str, Any]:
    """Reorder keys as a JS object would enumerate them (array indices first, ascending)."""
    index_keys = [k for k in obj if _is_array_index(k)]
    if not index_keys:
        return obj
    ordered = {k: obj[k] for k in sorted(index_keys, key=int)}
    ordered.update((k, v) for k, v in obj.items() if k not in ordered)
    return ordered


def rust_number_text(value: int | float) -> str:
    """serde_json's Display of a number: itoa for integers, ryu's shortest form for floats."""
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # position of the decimal point relative to the digits
    if exponent >= 0 and point <= 16:
        text = digits + "0" * exponent + ".0"
    elif 0 < point <= 16:
        text = digits[:point] + "." + digits[point:]
    elif -5 < point <= 0:
        text = "0." + "0" * (-point) + digits
    elif len(digits) == 1:
        text = f"{digits}e{point - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{point - 1}"
    return sign + text


def clean_timestamp(value: int | float | None) -> int | None:
    """Dust front's ``cleanTimestamp`` as documented in the reference (§3).

    The intended "seconds to ms below 10^10" test is written ``(10 ^ 10)`` (XOR, so 0): only
    negative values are multiplied by 1000. Values are floored. ``None`` stays ``None`` (core then
    uses now()).
    """
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if number < 0:
        return math.floor(number * 1000)
    return math.floor(number)
