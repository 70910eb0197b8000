"""What this sync has sent, per stream, kept on disk so that memory stays bounded however many records come.

Two uses:
- the clean-up after `COMPLETE` (sweep.py) must never remove a document or row that this sync sent, even when
  it was skipped as unchanged: it asks `contains_many` for each listed page;
- `append_dedup` with a cursor keeps, per key, the cursor of the record that won so far, so that a later
  record with an older cursor does not overwrite it (`accept`).

One SQLite file in a private temporary directory (stdlib sqlite3, no journal, no fsync: it only lives as long
as the process). Writes are buffered in memory per stream (`PENDING_MAX` entries) and go to SQLite in one
`executemany`; lookups read the buffer first. One connection behind one lock: the reader thread adds, a
worker thread running a sweep reads.

"Sent" ids are kept as their 64-bit `hash()`, written as one blob per `PENDING_MAX` ids (`sent_chunks`): the
reader thread pays a hash and a list append per id, and one insert per 5,000 ids. The chunks are unpacked into
an indexed table (`sent`) only when a sweep first asks (`contains_many`); most syncs never sweep (an append
stream, or a table new in this run), so most never pay it. Hashes can collide, but only in the safe direction:
an id this sync did not send may be taken for a sent one (the sweep then keeps that stale item, odds about
listed x sent / 2^64); a sent id is always found. The dedup cursors keep the full id text.
"""

from __future__ import annotations

import itertools
import logging
import math
import shutil
import sqlite3
import tempfile
import threading
import weakref
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from destination_dust.timestamps import parse_iso_epoch_ms

logger = logging.getLogger(__name__)

PENDING_MAX = 5000
FILTER_BITS = 1 << 20  # 128 KiB per dedup stream: most new keys skip the SQLite lookup
_SQL_VARIABLES = 500  # ids per IN (...) query; old SQLite builds allow 999 variables
_MISSING = object()


class SeenStore:
    """The file and the connection shared by every stream of one `write` run. Create per-stream views with
    `stream(name)`; call `close()` at the end (it also runs at garbage collection or interpreter exit)."""

    def __init__(self, directory: str | None = None) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._path: Path | None = None
        self._streams: dict[str, SeenIds] = {}
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _connection(self) -> sqlite3.Connection:
        """Created on first use (callers hold the lock), so a run without keyed sweeps never touches disk."""
        if self._conn is None:
            path: Path | None = None
            target = ":memory:"
            try:
                path = Path(tempfile.mkdtemp(prefix="destination-dust-seen-", dir=self._directory))
                target = str(path / "seen.sqlite3")
            except OSError as exc:  # a read-only or full temporary directory: keep going, in memory
                logger.warning(
                    "cannot create a temporary directory (%s): the ids of this sync are kept in memory",
                    exc.strerror or type(exc).__name__,
                )
            conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA cache_size=-16000")  # at most ~16 MB of page cache
            conn.execute(
                "CREATE TABLE seen (stream INTEGER NOT NULL, id TEXT NOT NULL, cursor BLOB,"
                " PRIMARY KEY (stream, id)) WITHOUT ROWID"
            )
            conn.execute("CREATE TABLE sent_chunks (stream INTEGER NOT NULL, hashes BLOB NOT NULL)")
            conn.execute("CREATE TABLE sent (stream INTEGER NOT NULL, h INTEGER NOT NULL)")
            self._conn, self._path = conn, path
            self._finalizer = weakref.finalize(self, _cleanup, conn, path)
        return self._conn

    def stream(self, name: str) -> SeenIds:
        """The view of one stream (the same object for the same name)."""
        with self._lock:
            view = self._streams.get(name)
            if view is None:
                view = self._streams[name] = SeenIds(self, len(self._streams) + 1)
        return view

    @property
    def path(self) -> Path | None:
        return self._path

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._conn = None

    # used by SeenIds, under the lock

    def _write(self, stream: int, entries: dict[str, bytes | None], hashes: list[int]) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")  # one transaction per batch: autocommit would commit every row
            if entries:
                conn.executemany(
                    "INSERT OR REPLACE INTO seen (stream, id, cursor) VALUES (?, ?, ?)",
                    [(stream, i, c) for i, c in entries.items()],
                )
            if hashes:
                conn.execute(
                    "INSERT INTO sent_chunks (stream, hashes) VALUES (?, ?)", (stream, _packed(hashes))
                )
            conn.execute("COMMIT")

    def _unpack_chunks(self, conn: sqlite3.Connection) -> None:
        """Move the chunks written since the last call into the indexed `sent` table (callers hold the lock)."""
        chunks = conn.execute("SELECT stream, hashes FROM sent_chunks").fetchall()
        if not chunks:
            return
        conn.execute("BEGIN")
        for stream, blob in chunks:
            hashes = array(_HASH_TYPECODE)
            hashes.frombytes(blob)
            conn.executemany(
                "INSERT INTO sent (stream, h) VALUES (?, ?)", zip(itertools.repeat(stream), hashes)
            )
        conn.execute("DELETE FROM sent_chunks")
        conn.execute("COMMIT")

    def _cursor(self, stream: int, item: str) -> object:
        with self._lock:
            if self._conn is None:
                return _MISSING
            row = self._conn.execute(
                "SELECT cursor FROM seen WHERE stream = ? AND id = ?", (stream, item)
            ).fetchone()
        return _MISSING if row is None else row[0]

    def _present(self, stream: int, hashes: list[int]) -> set[int]:
        """The subset of `hashes` that `sent` holds for the stream."""
        found: set[int] = set()
        with self._lock:
            if self._conn is None:
                return found
            self._unpack_chunks(self._conn)
            # one sort of everything added so far; later inserts keep the index up to date
            self._conn.execute("CREATE INDEX IF NOT EXISTS sent_by_hash ON sent (stream, h)")
            for start in range(0, len(hashes), _SQL_VARIABLES):
                chunk = hashes[start : start + _SQL_VARIABLES]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT h FROM sent WHERE stream = ? AND h IN ({marks})",  # noqa: S608 - only "?" marks
                    (stream, *chunk),
                )
                found.update(r[0] for r in rows)
        return found

    def _count(self, stream: int) -> int:
        with self._lock:
            if self._conn is None:
                return 0
            self._unpack_chunks(self._conn)
            row = self._conn.execute(
                "SELECT COUNT(DISTINCT h) FROM sent WHERE stream = ?", (stream,)
            ).fetchone()
        return int(row[0])


_HASH_TYPECODE = "q"  # hash() of a str is a C Py_hash_t: 64 bits here, 32 on 32-bit builds (both fit)


def _packed(hashes: list[int]) -> bytes:
    return array(_HASH_TYPECODE, hashes).tobytes()


def _cleanup(conn: sqlite3.Connection, path: Path | None) -> None:
    conn.close()
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


class SeenIds:
    """One stream's ids (and, for dedup, the winning cursor of each). `add`/`accept` from one thread only."""

    def __init__(self, store: SeenStore, number: int) -> None:
        self._store = store
        self._number = number
        self._pending: dict[str, bytes | None] = {}  # dedup: id -> encoded cursor of the winner so far
        self._pending_sent: list[int] = []  # hash() of ids sent, not written yet
        self._pending_lock = threading.Lock()
        self._filter: bytearray | None = None  # a Bloom filter of the ids accepted so far (dedup only)

    def add(self, item: str) -> None:
        """Record that this sync sent `item` (what `contains_many` answers)."""
        with self._pending_lock:
            self._pending_sent.append(hash(item))
            full = len(self._pending_sent) >= PENDING_MAX
        if full:
            self.flush()

    def accept(self, item: str, cursor: Any) -> bool:
        """Dedup by cursor: record `item` with `cursor` and return True, unless a record of this item already
        seen in this sync has a newer cursor (then return False and keep the stored one). Equal cursors: the
        later record wins, as in Airbyte's own dedup (cursor, then extraction order)."""
        with self._pending_lock:
            stored = self._pending.get(item, _MISSING)
        if stored is _MISSING and self._maybe_accepted(item):
            stored = self._store._cursor(self._number, item)
        if stored is not _MISSING:
            previous = orjson.loads(stored) if isinstance(stored, bytes) else None
            if is_older(cursor, previous):
                return False
        with self._pending_lock:
            self._pending[item] = _encode(cursor)
        self.add(item)  # `_pending` never outgrows `_pending_sent`: add's bound covers both
        return True

    def _maybe_accepted(self, item: str) -> bool:
        """False when `item` was certainly never accepted (then no SQLite lookup); records it either way."""
        if self._filter is None:
            self._filter = bytearray(FILTER_BITS // 8)
        digest = hash(item)
        present = True
        for bit in (digest % FILTER_BITS, (digest >> 24) % FILTER_BITS):
            byte, mask = bit >> 3, 1 << (bit & 7)
            if not self._filter[byte] & mask:
                present = False
                self._filter[byte] |= mask
        return present

    def flush(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            sent, self._pending_sent = self._pending_sent, []
        if pending or sent:
            self._store._write(self._number, pending, sent)

    def contains_many(self, ids: Iterable[str]) -> set[str]:
        """The subset of `ids` that this stream has seen in this sync."""
        wanted = list(dict.fromkeys(ids))
        self.flush()
        hashes = {i: hash(i) for i in wanted}
        present = self._store._present(self._number, list(set(hashes.values()))) if wanted else set()
        return {i for i, h in hashes.items() if h in present}

    def __len__(self) -> int:
        self.flush()
        return self._store._count(self._number)


def _encode(cursor: Any) -> bytes | None:
    if cursor is None:
        return None
    try:
        return orjson.dumps(cursor, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return orjson.dumps(str(cursor))


# -- cursor order --------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if not (isinstance(value, float) and math.isnan(value)) else None


def is_older(new: Any, old: Any) -> bool:
    """Is cursor `new` strictly older than `old`? Numbers compare as numbers, ISO-8601 dates and times as
    instants to the millisecond (naive ones as UTC; the tables' parser), other strings as strings. A null cursor is older than any value (Airbyte
    dedups with `ORDER BY cursor DESC NULLS LAST`). Values of different kinds cannot be ordered: then the
    later record wins (False)."""
    if new is None:
        return old is not None
    if old is None:
        return False
    a, b = _number(new), _number(old)
    if a is not None and b is not None:
        return a < b
    if isinstance(new, str) and isinstance(old, str):
        da, db = parse_iso_epoch_ms(new), parse_iso_epoch_ms(old)
        if da is not None and db is not None:
            return da < db
        if da is None and db is None:
            return new < old
    return False
