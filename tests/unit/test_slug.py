"""slugify and collision resolution: Dust's rules, always valid, idempotent, unique after resolution."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust.slug import (
    MAX_SLUG_LENGTH,
    NameRegistry,
    is_slug,
    resolve_collisions,
    shorten,
    slugify,
)

VALID = re.compile(r"^[a-z0-9_]+$")


def dust_reference_slugify(text: str) -> str:
    """Dust's front `slugify` (string_utils.ts) line by line; JS regexes without the u flag are ASCII."""
    text = unicodedata.normalize("NFKD", text)
    text = re.sub("[\u0300-\u036f]", "", text)
    text = re.sub("([a-z])([A-Z0-9])", r"\1_\2", text)
    text = text.lower().strip()
    text = re.sub(r"\s+", "_", text)
    text = re.sub(r"[^A-Za-z0-9_]+", "_", text)
    return re.sub("__+", "_", text)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("FirstName", "first_name"),
        ("e-mail", "e_mail"),
        ("Created At", "created_at"),
        ("ID", "id"),
        ("userID", "user_id"),
        ("address2", "address_2"),
        ("ID1", "id_1"),  # Dust gives id1, which its own slugify would change again
        ("Préférence", "preference"),
        ("ﬁle naïve", "file_naive"),
        ("Amount ($)", "amount"),
        ("_id", "_id"),
        ("__dust_id", "_dust_id"),
        ("  spaced   out  ", "spaced_out"),
        ("LinkedIn URL", "linked_in_url"),
        ("HTTPServer", "httpserver"),
        ("İstanbul", "istanbul"),
        ("Phone #", "phone"),
        ("a.b.c", "a_b_c"),
        ("2024 revenue", "2024_revenue"),
        ("Ωmega", "_mega"),
    ],
)
def test_slugify_examples(name: str, expected: str) -> None:
    assert slugify(name) == expected


@pytest.mark.parametrize("name", ["", " ", "!!!", "___", "日本語", "🙂", "\u0301"])
def test_nothing_usable_gives_the_fallback(name: str) -> None:
    assert slugify(name) == "col"
    assert slugify(name, fallback="col_7") == "col_7"


def test_long_names_keep_a_head_and_a_digit_hash() -> None:
    long_a = "customer_lifetime_value_" * 5 + "a"
    long_b = "customer_lifetime_value_" * 5 + "b"
    slug_a, slug_b = slugify(long_a), slugify(long_b)
    assert len(slug_a) <= MAX_SLUG_LENGTH
    assert slug_a.startswith("customer_lifetime_value_")
    assert slug_a != slug_b
    assert re.search(r"_\d{8}$", slug_a)
    assert slugify(slug_a) == slug_a
    assert shorten("short") == "short"


@given(st.text())
@settings(max_examples=500)
def test_slugify_is_valid_idempotent_and_bounded(name: str) -> None:
    slug = slugify(name)
    assert VALID.match(slug)
    assert is_slug(slug)
    assert len(slug) <= MAX_SLUG_LENGTH
    assert slugify(slug) == slug
    assert not slug.endswith("_")


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40))
@settings(max_examples=500)
def test_slugify_agrees_with_dust_where_dust_is_stable(name: str) -> None:
    """Where Dust's own result is valid and a fixed point of Dust's slugify, ours is the same name."""
    dust = dust_reference_slugify(name)
    stable = dust == dust_reference_slugify(dust) and dust.strip("_") and not dust.endswith("_")
    if stable and len(dust) <= MAX_SLUG_LENGTH:
        assert slugify(name) == dust


def test_resolve_collisions_suffixes_in_order() -> None:
    assert resolve_collisions(["a", "b", "a", "a"]) == ["a", "b", "a_2", "a_3"]


def test_a_suffix_never_takes_a_plain_name_of_the_list() -> None:
    assert resolve_collisions(["a", "a", "a_2"]) == ["a", "a_3", "a_2"]


def test_reserved_names_are_never_handed_out() -> None:
    assert resolve_collisions(["_airbyte_extra", "x"], reserved=["_airbyte_extra"]) == [
        "_airbyte_extra_2",
        "x",
    ]


def test_more_than_63_duplicates_keep_counting() -> None:
    names = resolve_collisions(["name"] * 1000)
    assert len(set(names)) == 1000
    assert names[0] == "name" and names[63] == "name_64" and names[999] == "name_1000"


def test_suffixes_fit_the_length_limit() -> None:
    base = "x" * MAX_SLUG_LENGTH
    names = resolve_collisions([base] * 120)
    assert len(set(names)) == 120
    assert all(len(n) <= MAX_SLUG_LENGTH and VALID.match(n) for n in names)


def test_registry_keeps_first_resolutions() -> None:
    registry = NameRegistry(reserved=["taken"])
    assert registry.claim("taken") == "taken_2"
    assert registry.claim("a") == "a"
    assert registry.claim("a") == "a_2"
    assert "a_2" in registry


@given(st.lists(st.text(max_size=30), max_size=600))
@settings(max_examples=60, deadline=None)
def test_resolution_of_arbitrary_names_is_unique_valid_and_deterministic(names: list[str]) -> None:
    slugs = [slugify(n) for n in names]
    resolved = resolve_collisions(slugs)
    assert len(resolved) == len(names)
    assert len(set(resolved)) == len(resolved)
    assert all(VALID.match(r) and len(r) <= MAX_SLUG_LENGTH for r in resolved)
    assert all(slugify(r) == r for r in resolved)
    assert resolve_collisions(slugs) == resolved
    # the first occurrence of each slug keeps it
    first: dict[str, str] = {}
    for slug, result in zip(slugs, resolved, strict=True):
        first.setdefault(slug, result)
    assert all(first[s] == s for s in first)


@given(
    st.lists(
        st.sampled_from(["", "!", "a", "A", "a_2", "a-2", "_", "col", "col_2"]), min_size=600, max_size=600
    )
)
@settings(max_examples=20, deadline=None)
def test_600_colliding_names(names: list[str]) -> None:
    resolved = resolve_collisions([slugify(n) for n in names])
    assert len(set(resolved)) == 600
    assert all(VALID.match(r) for r in resolved)
