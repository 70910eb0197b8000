"""Dust-compatible identifiers: column and table names that match `^[a-z0-9_]+$`.

`slugify` follows Dust's own `slugify` (front `string_utils.ts`, the same rules core applies to CSV headers):
NFKD, drop combining diacritics, `_` between a lowercase ASCII letter and a following uppercase letter or
digit, lowercase, every run of other characters becomes one `_`. Three deliberate differences, all so the
result is always valid and `slugify(slugify(x)) == slugify(x)`:

- after lowercasing, a lowercase letter followed by a digit is split again (`ID1` -> `id_1`; Dust gives `id1`,
  which its own slugify would then turn into `id_1`);
- trailing `_` are dropped (`Amount ($)` -> `amount`), leading ones kept (`_id` stays `_id`);
- an empty or all-`_` result becomes the fallback (`col` unless told otherwise) instead of an empty name,
  and names longer than MAX_SLUG_LENGTH keep a readable head plus a digits-only hash.

`resolve_collisions` makes a list of slugs unique with `_2`, `_3`, ... in list order, so callers decide who
keeps the plain name by ordering the list (catalog columns before columns found in the data).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

MAX_SLUG_LENGTH = 63  # the shortest identifier limit among SQL engines (Postgres); far below Dust's 1024
_HASH_DIGITS = 8  # digits only: a hex hash would put letters next to digits, which slugify splits
_DIACRITICS = re.compile("[\u0300-\u036f]")
_CASE_BOUNDARY = re.compile("([a-z])([A-Z0-9])")
_LETTER_DIGIT = re.compile("([a-z])([0-9])")
_NON_SLUG_RUN = re.compile("[^a-z0-9]+")
_VALID = re.compile("^[a-z0-9_]+$")


def is_slug(name: str) -> bool:
    """What Dust's rows endpoint accepts as a key (`isSlugified`)."""
    return bool(_VALID.match(name))


def slugify(name: str, fallback: str = "col", max_length: int = MAX_SLUG_LENGTH) -> str:
    """A valid, idempotent Dust identifier for `name` (see the module docstring). `fallback` must itself be a
    slug (it is returned as is when nothing usable is left of `name`)."""
    text = unicodedata.normalize("NFKD", name)
    text = _DIACRITICS.sub("", text)
    text = _CASE_BOUNDARY.sub(r"\1_\2", text)
    text = text.lower().strip()
    text = _LETTER_DIGIT.sub(r"\1_\2", text)
    # each run of anything else (spaces, punctuation, `_` runs, non-ASCII) becomes a single `_`
    text = _NON_SLUG_RUN.sub("_", text).rstrip("_")
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
