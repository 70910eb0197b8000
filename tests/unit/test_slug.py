"""slugify and collision resolution: valid Dust names kept, others made valid by one rule, idempotent, unique
after resolution; the frozen legacy rule still agrees with Dust's own slugify."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust.slug import (
    MAX_KEPT_LENGTH,
    MAX_SLUG_LENGTH,
    NameRegistry,
    is_slug,
    legacy_slugify,
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
        # already valid Dust column names: kept exactly
        ("address2", "address2"),
        ("line1", "line1"),
        ("sha256", "sha256"),
        ("_id", "_id"),
        ("__dust_id", "__dust_id"),
        ("a__b_", "a__b_"),
        ("2024_revenue", "2024_revenue"),
        # words split where case changes; an acronym is one word; digits stay with the word before them
        ("FirstName", "first_name"),
        ("isActive", "is_active"),
        ("HTTPStatus", "http_status"),
        ("HTTPServer", "http_server"),
        ("getHTTPResponseCode", "get_http_response_code"),
        ("ID", "id"),
        ("userID", "user_id"),
        ("URLs", "urls"),
        ("userIDs", "user_ids"),
        ("APIsEnabled", "apis_enabled"),
        ("v2Endpoint", "v2_endpoint"),
        ("Address2", "address2"),
        ("ID1", "id1"),
        ("SHA256Hash", "sha256_hash"),
        ("HTTP2Server", "http2_server"),
        ("2FA", "2fa"),
        ("LinkedIn URL", "linked_in_url"),
        # everything else becomes one `_` per run; diacritics dropped; trailing `_` dropped
        ("e-mail", "e_mail"),
        ("Created At", "created_at"),
        ("Préférence", "preference"),
        ("ﬁle naïve", "file_naive"),
        ("Amount ($)", "amount"),
        ("  spaced   out  ", "spaced_out"),
        ("İstanbul", "istanbul"),
        ("Phone #", "phone"),
        ("a.b.c", "a_b_c"),
        ("2024 revenue", "2024_revenue"),
        ("Foo__Bar", "foo_bar"),
        ("Ωmega", "_mega"),
    ],
)
def test_slugify_examples(name: str, expected: str) -> None:
    assert slugify(name) == expected


@pytest.mark.parametrize("name", ["", " ", "!!!", "_ _", "日本語", "🙂", "\u0301"])
def test_nothing_usable_gives_the_fallback(name: str) -> None:
    assert slugify(name) == "col"
    assert slugify(name, fallback="col_7") == "col_7"


def test_long_names_keep_a_head_and_a_digit_hash() -> None:
    long_a = "Customer Lifetime Value " * 5 + "a"
    long_b = "Customer Lifetime Value " * 5 + "b"
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
    assert slugify(slug) == slug
    if is_slug(name):
        assert slug == name
    else:
        assert len(slug) <= MAX_SLUG_LENGTH
        assert not slug.endswith("_")


@given(st.text(alphabet="abz09_", min_size=1, max_size=MAX_KEPT_LENGTH + 40))
@settings(max_examples=200)
def test_a_valid_dust_name_is_kept_exactly_up_to_dusts_length_limit(name: str) -> None:
    if len(name) <= MAX_KEPT_LENGTH:
        assert slugify(name) == name
    else:
        assert len(slugify(name)) <= MAX_SLUG_LENGTH


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40))
@settings(max_examples=500)
def test_the_legacy_rule_agrees_with_dust_where_dust_is_stable(name: str) -> None:
    """Where Dust's own result is valid and a fixed point of Dust's slugify, the 0.1 rule gives the same name
    (table ids and the columns of tables made by 0.1 depend on it)."""
    dust = dust_reference_slugify(name)
    stable = dust == dust_reference_slugify(dust) and dust.strip("_") and not dust.endswith("_")
    if stable and len(dust) <= MAX_SLUG_LENGTH:
        assert legacy_slugify(name) == dust


@pytest.mark.parametrize(
    ("name", "expected"),
    [("address2", "address_2"), ("ID1", "id_1"), ("v2Endpoint", "v_2endpoint"), ("__dust_id", "_dust_id")],
)
def test_the_legacy_rule_is_frozen(name: str, expected: str) -> None:
    assert legacy_slugify(name) == expected


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
