"""Table names that last: a stream keeps its table's name; a new stream takes a name no table holds."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust.catalog import StreamKey
from destination_dust.errors import ConfigError
from destination_dust.table_names import (
    MAX_TABLE_ID_LENGTH,
    TableName,
    assign_table_names,
    table_id_for,
)

KEY_RE = re.compile(r"^[a-z0-9_]+$")
PREFIX = "airbyte_"
USERS, USERS_UPPER = StreamKey(None, "users"), StreamKey(None, "Users")


def _listed(names: dict[StreamKey, TableName], *foreign: tuple[str, str]) -> list[dict[str, Any]]:
    """What Dust lists after a sync that wrote these tables, plus foreign ones (name, table_id)."""
    ours = [
        {"name": t.name, "table_id": t.table_id, "tags": [f"airbyte:stream:{key.name}"], "schema": None}
        for key, t in names.items()
    ]
    return ours + [
        {"name": name, "table_id": table_id, "tags": [], "schema": None} for name, table_id in foreign
    ]


def _names(streams: list[StreamKey], listing: list[dict[str, Any]] | None = None) -> dict[StreamKey, str]:
    return {key: t.name for key, t in assign_table_names(streams, PREFIX, listing or []).items()}


# --- a first sync: an empty data source ---------------------------------------------------------------------


def test_simple_stream_name_is_prefix_plus_stream() -> None:
    names = assign_table_names([USERS], PREFIX, [])
    assert names[USERS] == TableName("airbyte_users", "airbyte_users", "users")


def test_names_are_slugified() -> None:
    key = StreamKey(None, "Support Tickets")
    name = assign_table_names([key], PREFIX, [])[key]
    assert name.name == "airbyte_support_tickets"
    assert name.table_id.startswith("airbyte_support_tickets-")  # not already a slug: hashed
    assert name.title == "Support Tickets"


def test_namespaces_sharing_a_stream_name_get_distinct_names_and_ids() -> None:
    public, crm, other = (
        StreamKey("public", "users"),
        StreamKey("crm", "users"),
        StreamKey("public", "orders"),
    )
    names = assign_table_names([public, crm, other], PREFIX, [])
    assert names[public].name == "airbyte_public_users"
    assert names[crm].name == "airbyte_crm_users"
    assert names[other].name == "airbyte_orders"  # no clash: the namespace stays out of the name
    assert len({n.table_id for n in names.values()}) == 3
    assert names[public].title == "public.users"


def test_naming_is_deterministic_whatever_the_catalog_order() -> None:
    keys = [StreamKey("a", "Users"), StreamKey("b", "users"), USERS, StreamKey(None, "USERS")]
    first = assign_table_names(keys, PREFIX, [])
    assert assign_table_names(list(reversed(keys)), PREFIX, []) == first
    assert len({n.name for n in first.values()}) == len(keys)
    assert len({n.table_id for n in first.values()}) == len(keys)


def test_namespace_joins_that_look_alike_keep_distinct_ids() -> None:
    one, two = StreamKey("a_b", "c"), StreamKey("a", "b_c")
    assert table_id_for(one, "x_") != table_id_for(two, "x_")
    names = assign_table_names([one, two], "x_", [])
    assert names[one].name != names[two].name


def test_long_names_are_bounded_and_hashed() -> None:
    long_a, long_b = StreamKey(None, "Report " * 40 + "a"), StreamKey(None, "Report " * 40 + "b")
    names = assign_table_names([long_a, long_b], PREFIX, [])
    assert names[long_a].name != names[long_b].name
    assert names[long_a].table_id != names[long_b].table_id
    for name in names.values():
        assert len(name.name) <= 63 and KEY_RE.match(name.name)
        assert len(name.table_id) <= MAX_TABLE_ID_LENGTH


def test_empty_prefix_and_odd_stream_names() -> None:
    keys = [StreamKey(None, "!!!"), StreamKey(None, "???")]
    names = assign_table_names(keys, "", [])
    assert [names[k].name for k in keys] == ["table", "table_2"]
    assert names[keys[0]].table_id != names[keys[1]].table_id


def test_table_ids_keep_the_shape_of_version_0_1() -> None:
    """Table ids find a stream's table again: they must never change (slugs of 0.1 included)."""
    assert table_id_for(USERS, PREFIX) == "airbyte_users"
    assert table_id_for(StreamKey(None, "v2Users"), PREFIX) == "airbyte_v_2users-5a122fa8595f"
    assert table_id_for(StreamKey("public", "users"), PREFIX) == "airbyte_public_users-a7100322af3c"
    assert table_id_for(StreamKey("crm", "HTTPStatus"), PREFIX) == "airbyte_crm_httpstatus-f2a70035824b"


# --- later syncs: the listing decides ----------------------------------------------------------------------


def test_dropping_a_stream_leaves_the_other_its_name() -> None:
    """Issue 23, item 1: `Users` and `users`, then `users` alone: `airbyte_users` stays with `Users`."""
    first = assign_table_names([USERS, USERS_UPPER], PREFIX, [])
    assert first[USERS_UPPER].name == "airbyte_users" and first[USERS].name == "airbyte_users_2"
    second = assign_table_names([USERS], PREFIX, _listed(first))
    assert second[USERS].name == "airbyte_users_2" and not second[USERS].is_new


def test_adding_a_stream_renames_nothing() -> None:
    """Issue 23, item 2: `users`, then `users` and `Users`: `users` keeps `airbyte_users`."""
    first = assign_table_names([USERS], PREFIX, [])
    second = assign_table_names([USERS, USERS_UPPER], PREFIX, _listed(first))
    assert second[USERS].name == "airbyte_users"
    assert second[USERS_UPPER].name == "airbyte_users_2" and second[USERS_UPPER].is_new


def test_a_second_namespace_renames_nothing() -> None:
    public, crm = StreamKey("public", "users"), StreamKey("crm", "users")
    first = assign_table_names([public], PREFIX, [])
    assert first[public].name == "airbyte_users"
    second = assign_table_names([public, crm], PREFIX, _listed(first))
    assert second[public].name == "airbyte_users"
    assert second[crm].name == "airbyte_crm_users"


def test_a_namespaced_stream_whose_plain_name_is_held_takes_the_namespaced_name() -> None:
    crm = StreamKey("crm", "users")
    names = assign_table_names([crm], PREFIX, _listed({}, ("airbyte_users", "foreign-id")))
    assert names[crm].name == "airbyte_crm_users"


def test_a_foreign_table_keeps_its_name_whatever_its_case() -> None:
    names = _names([USERS], _listed({}, ("Airbyte_Users", "someone-elses")))
    assert names[USERS] == "airbyte_users_2"


def test_a_table_renamed_in_dust_keeps_the_new_name() -> None:
    first = assign_table_names([USERS], PREFIX, [])
    listing = _listed(first)
    listing[0]["name"] = "people"
    assert _names([USERS, USERS_UPPER], listing) == {USERS: "people", USERS_UPPER: "airbyte_users"}


def test_an_existing_tables_columns_are_handed_to_the_mapper() -> None:
    listing = _listed(assign_table_names([USERS], PREFIX, []))
    listing[0]["schema"] = [{"name": "id", "value_type": "int"}, {"name": "address_2", "value_type": "text"}]
    assert assign_table_names([USERS], PREFIX, listing)[USERS].columns == {"id", "address_2"}


def test_a_table_under_our_id_without_our_tag_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"not created by this connector.*table_id_prefix"):
        assign_table_names([USERS], PREFIX, _listed({}, ("whatever", "airbyte_users")))


# --- any history of catalogs -------------------------------------------------------------------------------

_STREAM_NAMES = st.sampled_from(["users", "Users", "USERS", "users_2", "orders", "Orders!", "a_b", "v2Users"])
_NAMESPACES = st.sampled_from([None, "public", "crm", "a"])
_KEYS = st.builds(StreamKey, _NAMESPACES, _STREAM_NAMES)
_FOREIGN = st.sampled_from(["airbyte_users", "AIRBYTE_USERS_2", "airbyte_crm_users", "airbyte_orders", "x"])


@given(
    foreign=st.lists(_FOREIGN, unique=True, max_size=4),
    catalogs=st.lists(st.lists(_KEYS, max_size=8), min_size=1, max_size=6),
    later_foreign=st.lists(_FOREIGN | _FOREIGN.map(lambda n: n + "_2"), max_size=5),
)
@settings(max_examples=300, deadline=None)
def test_any_sequence_of_catalogs_keeps_names_unique_free_and_stable(
    foreign: list[str], catalogs: list[list[StreamKey]], later_foreign: list[str]
) -> None:
    """Streams added, dropped, namespaces added, foreign tables before and between syncs: every sync's names
    are unique, a new stream never takes a name any table holds, and a stream that stays keeps its name."""
    listing = [{"name": name, "table_id": f"foreign-{i}", "tags": []} for i, name in enumerate(foreign)]
    names_of: dict[StreamKey, str] = {}  # every stream ever synced -> its table's name
    for sync, catalog in enumerate(catalogs):
        held = {str(table["name"]).lower() for table in listing}
        names = assign_table_names(catalog, PREFIX, listing)
        assert set(names) == set(catalog)
        assert len({t.name for t in names.values()}) == len(names)
        assert len({t.table_id for t in names.values()}) == len(names)
        for key, table in names.items():
            assert KEY_RE.match(table.name) and len(table.table_id) <= MAX_TABLE_ID_LENGTH
            if key in names_of:
                assert table.name == names_of[key] and not table.is_new
            else:
                assert table.is_new and table.name not in held
                names_of[key] = table.name
                listing.append(
                    {"name": table.name, "table_id": table.table_id, "tags": [f"airbyte:stream:{key.name}"]}
                )
        # another tool adds a table between syncs, if Dust lets it (a name no table holds)
        held = {str(table["name"]).lower() for table in listing}
        if sync < len(later_foreign) and later_foreign[sync].lower() not in held:
            listing.append({"name": later_foreign[sync], "table_id": f"later-{sync}", "tags": []})
    assert len({t["name"] for t in listing}) == len(listing)  # Dust's uniqueness rule never broken
