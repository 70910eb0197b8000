"""SeenIds (the on-disk record of what this sync sent) and the cursor order used by append_dedup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from destination_dust import seen as seen_module
from destination_dust.seen import SeenStore, is_older


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SeenStore]:
    s = SeenStore(str(tmp_path))
    yield s
    s.close()


def test_ids_are_kept_per_stream_on_disk(store: SeenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seen_module, "PENDING_MAX", 10)  # force several flushes to SQLite
    users, orders = store.stream("users"), store.stream("orders")
    for i in range(95):
        users.add(f"u{i}")
    orders.add("u1")
    assert users.contains_many(["u0", "u94", "u95", "x"]) == {"u0", "u94"}
    assert orders.contains_many([f"u{i}" for i in range(95)]) == {"u1"}
    assert len(users) == 95
    assert store.path is not None and (store.path / "seen.sqlite3").stat().st_size > 0


def test_ids_added_after_the_first_lookup_are_found(
    store: SeenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seen_module, "PENDING_MAX", 3)
    ids = store.stream("s")
    for i in range(10):
        ids.add(f"a{i}")
    assert ids.contains_many(["a0", "a9", "b0"]) == {"a0", "a9"}  # builds the index
    for i in range(10):
        ids.add(f"b{i}")
    ids.add("a0")  # sent twice: counted once
    assert ids.contains_many([f"b{i}" for i in range(12)]) == {f"b{i}" for i in range(10)}
    assert len(ids) == 20


def test_sent_ids_are_written_in_chunks_and_unpacked_only_when_a_sweep_asks(
    store: SeenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seen_module, "PENDING_MAX", 10)
    ids = store.stream("s")
    for i in range(25):
        ids.add(f"id-{i}")
    conn = store._conn
    assert conn is not None
    # two full buffers went to disk as one row each; nothing is unpacked or indexed while the sync writes
    assert conn.execute("SELECT COUNT(*) FROM sent_chunks").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM sent").fetchone()[0] == 0
    assert ids.contains_many(["id-0", "id-24", "id-25"]) == {"id-0", "id-24"}
    assert conn.execute("SELECT COUNT(*) FROM sent_chunks").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM sent").fetchone()[0] == 25


def test_contains_many_handles_more_ids_than_sqlite_variables(store: SeenStore) -> None:
    ids = store.stream("s")
    for i in range(0, 3000, 3):
        ids.add(str(i))
    ids.flush()
    assert ids.contains_many(str(i) for i in range(3000)) == {str(i) for i in range(0, 3000, 3)}


def test_close_removes_the_temporary_directory(tmp_path: Path) -> None:
    store = SeenStore(str(tmp_path))
    store.stream("s").add("a")
    store.stream("s").flush()
    path = store.path
    assert path is not None and path.exists()
    store.close()
    assert not path.exists()


def test_nothing_touches_disk_until_an_id_is_flushed(tmp_path: Path) -> None:
    store = SeenStore(str(tmp_path))
    ids = store.stream("s")
    assert ids.contains_many(["a"]) == set()
    assert store.path is None and list(tmp_path.iterdir()) == []
    store.close()


@pytest.mark.parametrize("filter_bits", [8, 1 << 20])  # 8 bits: the Bloom filter says "maybe" for everything
def test_accept_keeps_the_newest_cursor_per_key(
    store: SeenStore, monkeypatch: pytest.MonkeyPatch, filter_bits: int
) -> None:
    monkeypatch.setattr(seen_module, "PENDING_MAX", 2)  # the winner must be found on disk too
    monkeypatch.setattr(seen_module, "FILTER_BITS", filter_bits)
    ids = store.stream("s")
    assert ids.accept("k1", "2024-01-02T00:00:00Z")
    assert ids.accept("k2", 5)
    assert ids.accept("k3", None)
    assert not ids.accept("k1", "2024-01-01T23:59:59Z")  # older: dropped
    assert ids.accept("k1", "2024-01-02T00:00:00Z")  # equal: the later record wins
    assert ids.accept("k1", "2024-01-02T00:00:01+00:00")
    assert not ids.accept("k1", "2024-01-02T00:00:00.500Z")
    assert not ids.accept("k2", 4.5)
    assert ids.accept("k2", 6)
    assert not ids.accept("k2", None)  # a null cursor never beats a value
    assert ids.accept("k3", 1)  # a value beats a null
    assert ids.contains_many(["k1", "k2", "k3", "k4"]) == {"k1", "k2", "k3"}


@pytest.mark.parametrize(
    ("new", "old", "older"),
    [
        (1, 2, True),
        (2, 1, False),
        (2, 2, False),
        (1.5, 2, True),
        (10, 9.99, False),
        ("2024-01-01", "2024-01-02", True),
        ("2024-01-01T10:00:00+02:00", "2024-01-01T09:00:00Z", True),  # 08:00Z < 09:00Z
        ("2024-01-01T10:00:00Z", "2024-01-01 09:00:00", False),
        ("2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00.2Z", True),  # 7 digits (3.10 cannot parse)
        ("2024-01-01T00:00:00.0001Z", "2024-01-01T00:00:00.0009Z", False),  # same millisecond: later wins
        ("not a date", "2024-01-01", False),  # a date and a non-date cannot be ordered
        ("b", "a", False),
        ("a", "b", True),
        (None, 1, True),
        (None, None, False),
        (1, None, False),
        ("2", 1, False),  # different kinds: cannot order, the later record wins
        (True, 2, False),
        ({"lsn": 1}, {"lsn": 2}, False),
    ],
)
def test_is_older(new: object, old: object, older: bool) -> None:
    assert is_older(new, old) is older


def test_an_unwritable_temporary_directory_falls_back_to_memory(tmp_path: Path) -> None:
    store = SeenStore(str(tmp_path / "missing" / "dir"))
    ids = store.stream("s")
    ids.add("a")
    ids.flush()
    assert store.path is None
    assert ids.contains_many(["a", "b"]) == {"a"}
    store.close()
