"""The emulator's query-string reader (``dust_emulator.querystring``) against a small, independent
transcription of the rules it follows, on generated strings:

* ECMAScript ``StringToNumber`` (what ``Number("...")`` and ``z.coerce.number()`` do), written as a
  character scanner over the spec's grammar;
* ECMAScript ``Decode`` (``decodeURIComponent``), byte by byte with the spec's UTF-8 checks, and
  Hono's fallback that keeps undecodable runs of escapes;
* Hono's ``getQueryParams`` loop (``indexOf`` over ``&`` and ``=``).

When Node.js is installed, ``Number()`` itself is asked too.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dust_emulator import querystring

JS_SPACES = set("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | {
    chr(c) for c in range(0x2000, 0x200B)
}
DIGITS = "0123456789"
RADIX_DIGITS = {"x": "0123456789abcdefABCDEF", "o": "01234567", "b": "01"}


class URIError(Exception):
    pass


def reference_number(text: str) -> float:
    start, end = 0, len(text)
    while start < end and text[start] in JS_SPACES:
        start += 1
    while end > start and text[end - 1] in JS_SPACES:
        end -= 1
    s = text[start:end]
    if s == "":
        return 0.0
    if len(s) > 2 and s[0] == "0" and s[1].lower() in RADIX_DIGITS:
        digits = RADIX_DIGITS[s[1].lower()]
        if not all(c in digits for c in s[2:]):
            return math.nan
        value = 0
        for c in s[2:]:
            value = value * {"x": 16, "o": 8, "b": 2}[s[1].lower()] + int(c, 16)
        try:
            return float(value)
        except OverflowError:
            return math.inf
    sign, body = (-1.0 if s[0] == "-" else 1.0, s[1:]) if s[0] in "+-" else (1.0, s)
    if body == "Infinity":
        return sign * math.inf
    k, n = 0, len(body)
    whole = 0
    while k < n and body[k] in DIGITS:
        k, whole = k + 1, whole + 1
    fraction = 0
    if k < n and body[k] == ".":
        k += 1
        while k < n and body[k] in DIGITS:
            k, fraction = k + 1, fraction + 1
    if whole + fraction == 0:
        return math.nan
    if k < n and body[k] in "eE":
        k += 1
        if k < n and body[k] in "+-":
            k += 1
        exponent = 0
        while k < n and body[k] in DIGITS:
            k, exponent = k + 1, exponent + 1
        if exponent == 0:
            return math.nan
    if k != n:
        return math.nan
    return sign * float(body)  # the grammar is checked above; float() only does the rounding


def _hex_byte(s: str, k: int) -> int:
    pair = s[k + 1 : k + 3]
    if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
        raise URIError
    return int(pair, 16)


def reference_decode_uri_component(s: str) -> str:
    out: list[str] = []
    k = 0
    while k < len(s):
        if s[k] != "%":
            out.append(s[k])
            k += 1
            continue
        byte = _hex_byte(s, k)
        k += 3
        if byte < 0x80:
            out.append(chr(byte))
            continue
        ones = 0
        while byte & (0x80 >> ones):
            ones += 1
        if ones == 1 or ones > 4:
            raise URIError
        code = byte & (0xFF >> (ones + 1))
        for _ in range(ones - 1):
            if k >= len(s) or s[k] != "%":
                raise URIError
            follow = _hex_byte(s, k)
            if follow & 0xC0 != 0x80:
                raise URIError
            code = (code << 6) | (follow & 0x3F)
            k += 3
        smallest = {2: 0x80, 3: 0x800, 4: 0x10000}[ones]
        if code < smallest or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise URIError
        out.append(chr(code))
    return "".join(out)


def reference_hono_decode(value: str) -> str:
    value = value.replace("+", " ")
    if "%" not in value:
        return value
    try:
        return reference_decode_uri_component(value)
    except URIError:
        pass
    out, k = [], 0
    while k < len(value):
        end = k
        while (
            value[end : end + 1] == "%"
            and all(c in "0123456789abcdefABCDEF" for c in value[end + 1 : end + 3])
            and len(value[end + 1 : end + 3]) == 2
        ):
            end += 3
        if end == k:
            out.append(value[k])
            k += 1
            continue
        run = value[k:end]
        try:
            out.append(reference_decode_uri_component(run))
        except URIError:
            out.append(run)
        k = end
    return "".join(out)


def reference_pairs(raw: str) -> list[tuple[str, str]]:
    url = "http://emulator/path?" + raw
    pairs = []
    key_index = url.find("?", 8)
    while key_index != -1:
        next_key = url.find("&", key_index + 1)
        value_index = url.find("=", key_index)
        if next_key != -1 and value_index > next_key:
            value_index = -1
        name_end = value_index if value_index != -1 else (next_key if next_key != -1 else len(url))
        name = reference_hono_decode(url[key_index + 1 : name_end])
        key_index = next_key
        if name == "":
            continue
        value = "" if value_index == -1 else url[value_index + 1 : next_key if next_key != -1 else len(url)]
        pairs.append((name, "" if value_index == -1 else reference_hono_decode(value)))
    return pairs


def same_number(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


NUMBER_PIECES = [*DIGITS, "0x", "0X", "0o", "0b", "e", "E", "+", "-", ".", "_", "Infinity", "a", "f", " ", "\t", "\u00a0", "\ufeff", "\u180e", "\u2028", "\x1c", "\u0663", "1e400", "9223372036854775808"]  # fmt: skip
number_texts = st.lists(st.sampled_from(NUMBER_PIECES), max_size=6).map("".join) | st.text(max_size=8)

QUERY_PIECES = ["limit", "offset", "top_k", "=", "&", "+", "%", "%2", "%41", "%26", "%3D", "%2B", "%20", "%C3%A9", "%E2%82%AC", "%F0%9F%98%80", "%FF", "%C3", "%ED%A0%80", "%C0%AF", "%F4%90%80%80", "%e2%82%ac", "5", "0x2", "1_0", "é"]  # fmt: skip
query_texts = st.lists(st.sampled_from(QUERY_PIECES) | st.text(max_size=3), max_size=10).map("".join)


@settings(max_examples=1500, deadline=None)
@given(number_texts)
def test_number_coercion_matches_the_ecmascript_grammar(text: str) -> None:
    assert same_number(querystring.string_to_number(text), reference_number(text)), repr(text)


@settings(max_examples=1500, deadline=None)
@given(query_texts)
def test_query_parsing_matches_hono(raw: str) -> None:
    query = querystring.parse(raw)
    assert list(query.pairs) == reference_pairs(raw), repr(raw)
    for name in {name for name, _ in query.pairs}:
        values = [value for key, value in reference_pairs(raw) if key == name]
        assert query.first(name) == values[0]
        assert query.all(name) == values
        assert query.validator_value(name) == (values[0] if len(values) == 1 else values)
        # what z.coerce.number() makes of it: Number() of a string, or of an array joined by ","
        assert same_number(
            querystring.to_number(query.validator_value(name)), reference_number(",".join(values))
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0x2", 2.0), ("1_0", math.nan), ("", 0.0), ("  ", 0.0), (" 5 ", 5.0), ("-0", -0.0), ("1e3", 1000.0),
     (".5", 0.5), ("5.", 5.0), ("Infinity", math.inf), ("infinity", math.nan), ("inf", math.nan),
     ("nan", math.nan), ("-0x2", math.nan), ("0b11", 3.0), ("0o17", 15.0), ("\u0663", math.nan),
     ("\ufeff7\u2028", 7.0), ("\x1c7", math.nan), ("1e400", math.inf)],
)  # fmt: skip
def test_number_examples(text: str, expected: float) -> None:
    assert same_number(querystring.string_to_number(text), expected)


def test_repeated_keys_become_arrays_and_number_gives_nan() -> None:
    query = querystring.parse("limit=1&limit=2&offset=3")
    assert query.validator_value("limit") == ["1", "2"]
    assert query.first("limit") == "1"
    assert math.isnan(querystring.to_number(query.validator_value("limit")))
    assert querystring.to_number(query.validator_value("offset")) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2.0**63, 9223372036854775808), (2.0**63 - 1024, 9223372036854774784), (2.0**64, None), (1e21, None),
     (-1.0, None), (2.5, None), (math.inf, None), (-0.0, 0)],
)  # fmt: skip
def test_what_core_reads_as_usize(value: float, expected: int | None) -> None:
    # JavaScript prints 2**63 as 9223372036854776000, which serde reads back as that integer
    shown = {9223372036854775808: 9223372036854776000, 9223372036854774784: 9223372036854775000}
    assert querystring.as_core_usize(value) == shown.get(expected, expected)  # type: ignore[arg-type]


@pytest.mark.skipif(
    shutil.which("node") is None, reason="Node.js is not installed: Number() itself cannot be asked"
)
def test_number_coercion_matches_node() -> None:
    rng = random.Random(21)
    texts = ["".join(rng.choice(NUMBER_PIECES) for _ in range(rng.randint(0, 6))) for _ in range(3000)]
    script = (
        "const t=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "console.log(JSON.stringify(t.map(s=>{const n=Number(s);"
        "return Number.isNaN(n)?'NaN':Object.is(n,-0)?'-0':String(n)})))"
    )
    shown = json.loads(subprocess.run(["node", "-e", script], input=json.dumps(texts), capture_output=True, text=True, check=True).stdout)  # fmt: skip
    for text, node in zip(texts, shown, strict=True):
        expected = math.nan if node == "NaN" else -0.0 if node == "-0" else float(node)
        assert same_number(querystring.string_to_number(text), expected), (text, node)
