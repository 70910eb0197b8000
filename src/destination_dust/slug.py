"""Dust-compatible identifiers: column and table names that match `^[a-z0-9_]+$`.

`slugify` (columns, and the names of new tables):
- a name that already is a valid Dust column name (lowercase ASCII letters, digits and `_`, at most
  MAX_KEPT_LENGTH characters) is kept exactly: `address2`, `line1`, `sha256`, `__dust_id`;
- any other name: NFKD, combining diacritics dropped; words split where case changes (`FirstName` ->
  `first_name`, `isActive` -> `is_active`), an acronym being one word (`HTTPStatus` -> `http_status`,
  `userID` -> `user_id`, `URLs` -> `urls`); digits stay with the word before them (`Address2` -> `address2`,
  `v2Endpoint` -> `v2_endpoint`, `2FA` -> `2fa`); lowercased; every run of other characters (spaces, punctuation, `_`,
  non-ASCII) becomes one `_`; trailing `_` dropped, leading kept; nothing usable left gives the fallback
  (`col` unless told otherwise); longer than MAX_SLUG_LENGTH keeps a readable head plus a digits-only hash.
  The result is valid and `slugify(slugify(x)) == slugify(x)`.

`legacy_slugify` is the rule of version 0.1 (Dust's own CSV-header slugify, which also splits a letter from a
following digit: `address2` -> `address_2`). It is frozen: table ids were derived with it, and a table made
then keeps the column names it has (tables.TableMapper asks for them).

`resolve_collisions` makes a list of slugs unique with `_2`, `_3`, ... in list order, so callers decide who
keeps the plain name by ordering the list (catalog columns before columns found in the data).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

MAX_SLUG_LENGTH = 63  # names we make: the shortest identifier limit among SQL engines (Postgres)
MAX_KEPT_LENGTH = 1024  # Dust's MAX_COLUMN_NAME_LENGTH: a valid name up to this length is kept as it is
_HASH_DIGITS = 8  # digits only: a hex hash would put letters next to digits, which slugify splits
_DIACRITICS = re.compile("[\u0300-\u036f]")
_CASE_BOUNDARY = re.compile("([a-z])([A-Z0-9])")
_LETTER_DIGIT = re.compile("([a-z])([0-9])")
_NON_SLUG_RUN = re.compile("[^a-z0-9]+")
_VALID = re.compile("^[a-z0-9_]+$")
# an acronym ends before its last capital when a lowercase word follows (`HTTPStatus`), not before a plural `s`
_ACRONYM_END = re.compile("([A-Z]+)([A-Z](?!s(?![a-z]))[a-z])")
# a capital starts a word after a lowercase letter, or after digits that follow a letter (`v2Endpoint`; `2FA` stays)
_WORD_START = re.compile("([a-z]|[A-Za-z][0-9]+)([A-Z])")


def is_slug(name: str) -> bool:
    """What Dust's rows endpoint accepts as a key (`isSlugified`)."""
    return bool(_VALID.match(name))


def slugify(name: str, fallback: str = "col", max_length: int = MAX_SLUG_LENGTH) -> str:
    """`name` when it already is a valid Dust name, else one made from it (rules in the module docstring).
    `fallback` must itself be a slug (it is returned as is when nothing usable is left of `name`)."""
    if len(name) <= MAX_KEPT_LENGTH and _VALID.match(name):
        return name
    text = unicodedata.normalize("NFKD", name)
    text = _DIACRITICS.sub("", text)
    text = _ACRONYM_END.sub(r"\1_\2", text)
    text = _WORD_START.sub(r"\1_\2", text)
    return _finish(text.lower(), fallback, max_length)


def legacy_slugify(name: str, fallback: str = "col", max_length: int = MAX_SLUG_LENGTH) -> str:
    """Kept only so that names users already have do not change: table ids are derived with it, and tables
    made by version 0.1 keep their columns (module docstring). New names use `slugify`."""
    text = unicodedata.normalize("NFKD", name)
    text = _DIACRITICS.sub("", text)
    text = _CASE_BOUNDARY.sub(r"\1_\2", text)
    text = _LETTER_DIGIT.sub(r"\1_\2", text.lower())
    return _finish(text, fallback, max_length)


def _finish(text: str, fallback: str, max_length: int) -> str:
    # each run of anything else (spaces, punctuation, `_` runs, non-ASCII) becomes a single `_`
    text = _NON_SLUG_RUN.sub("_", text.strip()).rstrip("_")
    if not text.strip("_"):
        return fallback
    return shorten(text, max_length)


def shorten(slug: str, max_length: int = MAX_SLUG_LENGTH) -> str:
    """Cut a slug to max_length, ending it with `_<digits>` derived from the whole slug so that long names
    differing only in their tail stay distinct. Slugs that fit are returned unchanged."""
    if len(slug) <= max_length:
        return slug
    digest = int(hashlib.sha256(slug.encode("utf-8")).hexdigest()[:15], 16) % 10**_HASH_DIGITS
    head = slug[: max(1, max_length - _HASH_DIGITS - 1)].rstrip("_") or "t"
    return f"{head}_{digest:0{_HASH_DIGITS}d}"


def with_suffix(slug: str, number: int, max_length: int = MAX_SLUG_LENGTH) -> str:
    """`slug_<number>`, cutting the head so the result still fits in max_length."""
    suffix = f"_{number}"
    head = slug[: max(1, max_length - len(suffix))].rstrip("_") or "c"
    return head + suffix


def resolve_collisions(
    slugs: Sequence[str], reserved: Iterable[str] = (), max_length: int = MAX_SLUG_LENGTH
) -> list[str]:
    """Make `slugs` unique, in order: the first occurrence keeps its name, later ones get the smallest free
    `_2`, `_3`, ... suffix. A suffix never takes a name that appears plainly elsewhere in the list or in
    `reserved` (so `["a", "a", "a_2"]` gives `["a", "a_3", "a_2"]`). Works for any number of duplicates."""
    registry = NameRegistry(reserved, avoid=slugs, max_length=max_length)
    return [registry.claim(slug) for slug in slugs]


class NameRegistry:
    """Hands out unique slugs one at a time (columns found in the data arrive record by record); a name
    keeps its first resolution forever. Suffixed names also avoid `avoid` (names that will be claimed
    plainly later)."""

    def __init__(
        self, reserved: Iterable[str] = (), avoid: Iterable[str] = (), max_length: int = MAX_SLUG_LENGTH
    ) -> None:
        self._taken = set(reserved)
        self._avoid = set(avoid)
        self._next_number: dict[str, int] = {}
        self._max_length = max_length

    def __contains__(self, name: object) -> bool:
        return name in self._taken

    def claim(self, slug: str) -> str:
        """The slug itself when free, else the smallest free `slug_<n>` (n >= 2)."""
        if slug not in self._taken:
            self._taken.add(slug)
            return slug
        # remember where the count stopped so 1,000 duplicates cost O(n), not O(n^2)
        number = self._next_number.get(slug, 2)
        candidate = with_suffix(slug, number, self._max_length)
        while candidate in self._taken or candidate in self._avoid:
            number += 1
            candidate = with_suffix(slug, number, self._max_length)
        self._next_number[slug] = number + 1
        self._taken.add(candidate)
        return candidate
