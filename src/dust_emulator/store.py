"""SQLite-backed state of the emulated Dust: workspaces, spaces, data sources, API keys,
documents (with an FTS5 index for search), tables and rows.

The store knows nothing about HTTP. It raises ``NotFound``/``TableNameConflict``/``InvalidCell``
and the routes decide which status Dust answers. One connection guarded by a lock serves every
request: SQLite serialises writers anyway, and a single connection keeps ``:memory:`` databases
usable from any thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from . import schema as table_schema
from .errors import NotFound, TableNameConflict

DUST_TABLE_MIME_TYPE = "application/vnd.dust.table"
CHUNK_CHARS = 2000  # about 512 tokens, the size Dust's splitter aims for
_ALNUM = string.ascii_letters + string.digits

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workspaces (sid TEXT PRIMARY KEY, name TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS spaces (
    sid TEXT PRIMARY KEY, workspace TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS data_sources (
    id INTEGER PRIMARY KEY, sid TEXT NOT NULL UNIQUE, workspace TEXT NOT NULL, space TEXT NOT NULL,
    name TEXT NOT NULL, description TEXT, connector_provider TEXT, connector_id TEXT,
    project_id TEXT NOT NULL, core_id TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    secret TEXT PRIMARY KEY, workspace TEXT NOT NULL, is_system INTEGER NOT NULL, name TEXT NOT NULL,
    created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY, ds INTEGER NOT NULL, document_id TEXT NOT NULL, title TEXT NOT NULL,
    mime_type TEXT NOT NULL, source_url TEXT, tags TEXT NOT NULL, parents TEXT NOT NULL, parent_id TEXT,
    timestamp INTEGER NOT NULL, created INTEGER NOT NULL, text TEXT NOT NULL, section TEXT,
    hash TEXT NOT NULL, text_size INTEGER NOT NULL, chunk_count INTEGER NOT NULL,
    token_count INTEGER NOT NULL, UNIQUE (ds, document_id));
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(text, tokenize = 'unicode61');
CREATE TABLE IF NOT EXISTS tables_ (
    id INTEGER PRIMARY KEY, ds INTEGER NOT NULL, table_id TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, title TEXT NOT NULL, timestamp INTEGER NOT NULL, tags TEXT NOT NULL,
    parents TEXT NOT NULL, parent_id TEXT, mime_type TEXT NOT NULL, source_url TEXT, schema TEXT,
    remote_table_id TEXT, remote_secret_id TEXT, created INTEGER NOT NULL, UNIQUE (ds, table_id));
CREATE INDEX IF NOT EXISTS tables_by_name ON tables_ (ds, name);
CREATE TABLE IF NOT EXISTS rows_ (
    id INTEGER PRIMARY KEY, table_pk INTEGER NOT NULL, row_id TEXT NOT NULL, value BLOB NOT NULL,
    UNIQUE (table_pk, row_id));
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def random_sid(length: int = 10) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_api_key() -> str:
    return "sk-" + secrets.token_hex(16)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


_ROWS_PER_INSERT = 100
_UPSERT_ROW = " (?, ?, ?)"
_UPSERT_ROWS = (
    "INSERT INTO rows_ (table_pk, row_id, value) VALUES{} "
    "ON CONFLICT (table_pk, row_id) DO UPDATE SET value = excluded.value"
)
_UPSERT_ROWS_FULL = _UPSERT_ROWS.format(",".join([_UPSERT_ROW] * _ROWS_PER_INSERT))


def _insert_rows(db: sqlite3.Connection, table_pk: int, row_ids: Sequence[str], blobs: list[bytes]) -> None:
    """Upsert rows 100 per statement: SQLite then runs one statement per 100 rows instead of one
    per row (executemany pays a step, a reset and Python work per row). Rows of one statement
    are applied in order, so a row_id repeated in a batch keeps its last value, as before."""
    params = list(itertools.chain.from_iterable(zip(itertools.repeat(table_pk), row_ids, blobs)))
    width = 3 * _ROWS_PER_INSERT
    full = len(row_ids) // _ROWS_PER_INSERT * width
    for start in range(0, full, width):
        db.execute(_UPSERT_ROWS_FULL, params[start : start + width])
    if full < len(params):  # the remainder, one statement reused per row (a cached statement)
        rest = params[full:]
        db.executemany(_UPSERT_ROWS.format(_UPSERT_ROW), zip(rest[0::3], rest[1::3], rest[2::3], strict=True))


class _Checkpointer:
    """Copies the WAL into the database file from its own thread and connection, every `every_s`.

    SQLite's default runs that checkpoint inside the COMMIT that crosses 1,000 WAL pages, and the
    checkpoint ends with an fsync of the database file, so bulk rows upserts would block the event
    loop (every other request) on it. A PASSIVE checkpoint here never waits for the request path's
    reads or writes; the sqlite3 module releases the GIL while it runs. Durability is unchanged
    (WAL + synchronous=NORMAL)."""

    def __init__(self, path: str, every_s: float) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            with contextlib.suppress(sqlite3.Error):  # busy or going away: the next round tries again
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._db.close()


# what a person reading a synced document or table wants to see (the web page; snapshots add the bookkeeping)
DOCUMENT_VIEW = (
    "document_id",
    "title",
    "text",
    "tags",
    "timestamp",
    "source_url",
    "mime_type",
    "text_size",
    "chunk_count",
)
TABLE_VIEW = ("table_id", "name", "title", "description", "schema", "tags", "timestamp", "source_url")


class Store:
    def __init__(self, path: str = ":memory:", checkpoint_every_s: float = 0.5) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        # Takes effect only when the file is created (an existing file keeps its page size). Rows of
        # ~700 bytes fill 4 KiB pages five at a time; 16 KiB pages quarter the WAL frames a bulk
        # rows upsert commits (a write each, then a copy at checkpoint).
        self._db.execute("PRAGMA page_size=16384")
        self._checkpointer: _Checkpointer | None = None
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # _Checkpointer does it, off the request path
            self._checkpointer = _Checkpointer(path, checkpoint_every_s)
        # NORMAL + WAL survives a process crash; only an OS crash can lose the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache: bulk row upserts stay in memory
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.executescript(_DDL)
        # Workspaces, spaces, data sources and keys change only through the control API, yet every
        # request looks them up several times: memoise the lookups and forget them on any change.
        self._memo: dict[tuple[str, ...], Any] = {}

    def _memoised(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        try:
            return self._memo[key]
        except KeyError:
            if len(self._memo) > 10_000:  # unknown ids probed in bulk must not grow memory forever
                self._memo.clear()
            value = self._memo[key] = load()
            return value

    def _forget(self) -> None:
        self._memo.clear()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            self._db.close()  # the last connection to close checkpoints what is left and removes the WAL

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
            return row

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # ---- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else orjson.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, _dumps(value)))

    # ---- workspaces, spaces, data sources, keys ---------------------------------------------

    def create_workspace(
        self, name: str, sid: str | None = None, global_space: str | None = None
    ) -> dict[str, Any]:
        """A workspace comes with its global space ("Company Data") and a system space."""
        sid = sid or random_sid()
        space_ids = {"global": global_space or "vlt_" + random_sid(), "system": "vlt_" + random_sid()}
        created = now_ms()
        self._forget()
        with self._tx() as db:
            db.execute("INSERT INTO workspaces (sid, name, created) VALUES (?, ?, ?)", (sid, name, created))
            for kind, space_name in (("global", "Company Data"), ("system", "System")):
                db.execute(
                    "INSERT INTO spaces (sid, workspace, name, kind, created) VALUES (?, ?, ?, ?, ?)",
                    (space_ids[kind], sid, space_name, kind, created),
                )
        return {"sId": sid, "name": name, "created": created}

    def get_workspace(self, sid: str) -> dict[str, Any] | None:
        def load() -> dict[str, Any] | None:
            row = self._one("SELECT * FROM workspaces WHERE sid = ?", (sid,))
            return None if row is None else dict(row)

        result: dict[str, Any] | None = self._memoised(("workspace", sid), load)
        return result

    def create_space(
        self, workspace: str, name: str, kind: str = "regular", sid: str | None = None
    ) -> dict[str, Any]:
        sid = sid or "vlt_" + random_sid()
        self._forget()
        with self._tx() as db:
            db.execute(
                "INSERT INTO spaces (sid, workspace, name, kind, created) VALUES (?, ?, ?, ?, ?)",
                (sid, workspace, name, kind, now_ms()),
            )
        space = self.get_space(sid)
        assert space is not None
        return space

    def get_space(self, sid: str) -> dict[str, Any] | None:
        def load() -> dict[str, Any] | None:
            row = self._one("SELECT * FROM spaces WHERE sid = ?", (sid,))
            return None if row is None else dict(row)

        result: dict[str, Any] | None = self._memoised(("space", sid), load)
        return result

    def list_spaces(self, workspace: str) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self._all("SELECT * FROM spaces WHERE workspace = ? ORDER BY created, sid", (workspace,))
        ]

    def global_space(self, workspace: str) -> dict[str, Any] | None:
        def load() -> dict[str, Any] | None:
            row = self._one("SELECT * FROM spaces WHERE workspace = ? AND kind = 'global'", (workspace,))
            return None if row is None else dict(row)

        result: dict[str, Any] | None = self._memoised(("global_space", workspace), load)
        return result

    def create_data_source(
        self,
        workspace: str,
        space: str,
        name: str,
        description: str | None = None,
        connector_provider: str | None = None,
        sid: str | None = None,
    ) -> dict[str, Any]:
        sid = sid or "dts_" + random_sid()
        connector_id = str(secrets.randbelow(90000) + 10000) if connector_provider else None
        self._forget()
        with self._tx() as db:
            db.execute(
                "INSERT INTO data_sources (sid, workspace, space, name, description, connector_provider,"
                " connector_id, project_id, core_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sid,
                    workspace,
                    space,
                    name,
                    description,
                    connector_provider,
                    connector_id,
                    str(secrets.randbelow(900000) + 100000),
                    hashlib.sha256(sid.encode()).hexdigest(),
                    now_ms(),
                ),
            )
        found = self._one("SELECT * FROM data_sources WHERE sid = ?", (sid,))
        assert found is not None
        return dict(found)

    def find_data_source(self, workspace: str, name_or_id: str) -> dict[str, Any] | None:
        """Dust's ``fetchByNameOrId``: the sId first, then the name."""

        def load() -> dict[str, Any] | None:
            row = self._one(
                "SELECT * FROM data_sources WHERE workspace = ? AND sid = ?", (workspace, name_or_id)
            )
            if row is None:
                row = self._one(
                    "SELECT * FROM data_sources WHERE workspace = ? AND name = ? ORDER BY id LIMIT 1",
                    (workspace, name_or_id),
                )
            return None if row is None else dict(row)

        result: dict[str, Any] | None = self._memoised(("data_source", workspace, name_or_id), load)
        return result

    def list_data_sources(self, space: str) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self._all("SELECT * FROM data_sources WHERE space = ? ORDER BY id", (space,))
        ]

    def create_api_key(
        self, workspace: str, is_system: bool = False, secret: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        secret = secret or new_api_key()
        key_name = name or ("system" if is_system else "emulator")
        self._forget()
        with self._tx() as db:
            db.execute(
                "INSERT INTO api_keys (secret, workspace, is_system, name, created) VALUES (?, ?, ?, ?, ?)",
                (secret, workspace, int(is_system), key_name, now_ms()),
            )
        return {"secret": secret, "workspace": workspace, "is_system": is_system, "name": key_name}

    def find_api_key(self, secret: str) -> dict[str, Any] | None:
        def load() -> dict[str, Any] | None:
            row = self._one("SELECT * FROM api_keys WHERE secret = ?", (secret,))
            if row is None:
                return None
            key = dict(row)
            key["is_system"] = bool(key["is_system"])
            return key

        result: dict[str, Any] | None = self._memoised(("api_key", secret), load)
        return result

    # ---- documents --------------------------------------------------------------------------

    def upsert_document(
        self,
        ds: int,
        document_id: str,
        *,
        text: str,
        section: dict[str, Any] | None,
        title: str,
        mime_type: str,
        source_url: str | None,
        tags: list[str],
        parents: list[str],
        parent_id: str | None,
        timestamp: int | None,
    ) -> dict[str, Any]:
        created = now_ms()
        stamp = created if timestamp is None else timestamp
        digest = hashlib.sha256(orjson.dumps([text, tags, title, stamp, source_url])).hexdigest()
        text_size = len(text.encode())
        chunk_count = -(-len(text) // CHUNK_CHARS) if text else 0
        token_count = -(-text_size // 4)
        values = (
            ds,
            document_id,
            title,
            mime_type,
            source_url,
            _dumps(tags),
            _dumps(parents),
            parent_id,
            stamp,
            created,
            text,
            None if section is None else _dumps(section),
            digest,
            text_size,
            chunk_count,
            token_count,
        )
        with self._tx() as db:
            # Core inserts a new version row per upsert (the previous one becomes 'superseded'), so a
            # re-upserted document gets a new, highest id: the tie order of `list_documents`
            previous = db.execute(
                "DELETE FROM documents WHERE ds = ? AND document_id = ? RETURNING id", (ds, document_id)
            ).fetchone()
            if previous is not None:
                db.execute("DELETE FROM documents_fts WHERE rowid = ?", (previous[0],))
            row = db.execute(
                "INSERT INTO documents (ds, document_id, title, mime_type, source_url, tags, parents,"
                " parent_id, timestamp, created, text, section, hash, text_size, chunk_count, token_count)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                values,
            ).fetchone()
            db.execute("INSERT INTO documents_fts (rowid, text) VALUES (?, ?)", (row[0], text))
        return self._document_record(dict(zip(_DOC_COLUMNS, (row[0], *values), strict=True)))

    def get_document(self, ds: int, document_id: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM documents WHERE ds = ? AND document_id = ?", (ds, document_id))
        if row is None:
            raise NotFound("data_source_document_not_found", f"Document not found: {document_id}")
        return self._document_record(dict(row))

    def delete_document(self, ds: int, document_id: str) -> bool:
        with self._tx() as db:
            row = db.execute(
                "DELETE FROM documents WHERE ds = ? AND document_id = ? RETURNING id", (ds, document_id)
            ).fetchone()
            if row is not None:
                db.execute("DELETE FROM documents_fts WHERE rowid = ?", (row[0],))
        return row is not None

    def list_documents(
        self, ds: int, limit: int, offset: int, document_ids: list[str] | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Core's order: `ORDER BY dsd.timestamp DESC` over the latest versions, read backwards along the
        (data_source, status, timestamp) index, so equal timestamps come newest version first (id DESC).
        Offsets count in that order at the moment of each request: deleting or upserting shifts pages."""
        where, params = "ds = ?", list[Any]([ds])
        if document_ids:
            where += f" AND document_id IN ({','.join('?' * len(document_ids))})"
            params.extend(document_ids)
        total_row = self._one(f"SELECT COUNT(*) FROM documents WHERE {where}", params)  # noqa: S608
        rows = self._all(
            f"SELECT * FROM documents WHERE {where} ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
            [*params, limit, offset],
        )
        return [self._document_record(dict(r)) for r in rows], int(total_row[0]) if total_row else 0

    def search_documents(
        self,
        ds: int,
        query: str,
        top_k: int,
        *,
        tags_in: list[str] | None = None,
        tags_not: list[str] | None = None,
        timestamp_gt: int | None = None,
        timestamp_lt: int | None = None,
    ) -> list[tuple[dict[str, Any], float]]:
        """Lexical (BM25 over FTS5) ranking: Dust ranks by embeddings, so only the filters and the
        response shape are faithful, not the order of results."""
        words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
        if words:
            match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
            sql = (
                "SELECT d.*, bm25(documents_fts) AS rank FROM documents_fts JOIN documents d"
                " ON d.id = documents_fts.rowid WHERE documents_fts MATCH ? AND d.ds = ? ORDER BY rank"
            )
            rows = self._all(sql, (match, ds))
        else:
            rows = self._all(
                "SELECT d.*, 0.0 AS rank FROM documents d WHERE d.ds = ? ORDER BY timestamp DESC", (ds,)
            )
        results: list[tuple[dict[str, Any], float]] = []
        for row in rows:
            record = dict(row)
            tags = orjson.loads(record["tags"])
            if tags_in and not any(tag in tags for tag in tags_in):
                continue
            if tags_not and any(tag in tags for tag in tags_not):
                continue
            if timestamp_gt is not None and not record["timestamp"] > timestamp_gt:
                continue
            if timestamp_lt is not None and not record["timestamp"] < timestamp_lt:
                continue
            # FTS5's bm25() is "lower is better"; Dust scores are "higher is better".
            score = round(-float(record.pop("rank")), 6)
            results.append((self._document_record(record), score))
            if len(results) >= top_k:
                break
        return results

    @staticmethod
    def _document_record(row: dict[str, Any]) -> dict[str, Any]:
        row["tags"] = orjson.loads(row["tags"]) if isinstance(row["tags"], str) else row["tags"]
        row["parents"] = orjson.loads(row["parents"]) if isinstance(row["parents"], str) else row["parents"]
        if isinstance(row.get("section"), str):
            row["section"] = orjson.loads(row["section"])
        return row

    # ---- tables -----------------------------------------------------------------------------

    def upsert_table(
        self,
        ds: int,
        table_id: str,
        *,
        name: str,
        description: str,
        title: str,
        timestamp: int | None,
        tags: list[str],
        parents: list[str],
        parent_id: str | None,
        mime_type: str,
        source_url: str | None,
        remote_table_id: str | None = None,
        remote_secret_id: str | None = None,
    ) -> dict[str, Any]:
        stamp = now_ms() if timestamp is None else timestamp
        with self._tx() as db:
            clash = db.execute(
                "SELECT 1 FROM tables_ WHERE ds = ? AND name = ? AND table_id != ?", (ds, name, table_id)
            ).fetchone()
            if clash is not None:
                raise TableNameConflict(f"Table name `{name}` is already used in this data source")
            db.execute(
                "INSERT INTO tables_ (ds, table_id, name, description, title, timestamp, tags, parents,"
                " parent_id, mime_type, source_url, schema, remote_table_id, remote_secret_id, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)"
                " ON CONFLICT (ds, table_id) DO UPDATE SET name = excluded.name,"
                " description = excluded.description, title = excluded.title, timestamp = excluded.timestamp,"
                " tags = excluded.tags, parents = excluded.parents, parent_id = excluded.parent_id,"
                " mime_type = excluded.mime_type, source_url = excluded.source_url,"
                " remote_table_id = excluded.remote_table_id, remote_secret_id = excluded.remote_secret_id",
                (
                    ds,
                    table_id,
                    name,
                    description,
                    title,
                    stamp,
                    _dumps(tags),
                    _dumps(parents),
                    parent_id,
                    mime_type,
                    source_url,
                    remote_table_id,
                    remote_secret_id,
                    now_ms(),
                ),
            )
        return self.get_table(ds, table_id)

    def get_table(self, ds: int, table_id: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM tables_ WHERE ds = ? AND table_id = ?", (ds, table_id))
        if row is None:
            raise NotFound("table_not_found", f"No table found for id `{table_id}`")
        return self._table_record(dict(row))

    def list_tables(self, ds: int) -> list[dict[str, Any]]:
        return [
            self._table_record(dict(r))
            for r in self._all("SELECT * FROM tables_ WHERE ds = ? ORDER BY id", (ds,))
        ]

    def delete_table(self, ds: int, table_id: str) -> None:
        with self._tx() as db:
            row = db.execute(
                "DELETE FROM tables_ WHERE ds = ? AND table_id = ? RETURNING id", (ds, table_id)
            ).fetchone()
            if row is None:
                raise NotFound("table_not_found", f"No table found for id `{table_id}`")
            db.execute("DELETE FROM rows_ WHERE table_pk = ?", (row[0],))

    @staticmethod
    def _table_record(row: dict[str, Any]) -> dict[str, Any]:
        row["tags"] = orjson.loads(row["tags"])
        row["parents"] = orjson.loads(row["parents"])
        row["schema"] = None if row["schema"] is None else orjson.loads(row["schema"])
        return row

    # ---- rows -------------------------------------------------------------------------------

    def _table_pk(self, db: sqlite3.Connection, ds: int, table_id: str) -> tuple[int, Any]:
        row = db.execute(
            "SELECT id, schema FROM tables_ WHERE ds = ? AND table_id = ?", (ds, table_id)
        ).fetchone()
        if row is None:
            raise NotFound("table_not_found", f"No table found for id `{table_id}`")
        return int(row[0]), row[1]

    def upsert_rows(
        self,
        ds: int,
        table_id: str,
        row_ids: Sequence[str],
        values: Sequence[dict[str, Any]],
        truncate: bool,
        infer: Callable[[], list[table_schema.Column]] | None = None,
    ) -> dict[str, Any]:
        """Replace each row's whole value (keyed by row_id) and update the cached schema.

        ``infer`` gives the batch's schema (default: ``schema.from_values(values)``). The schema is
        computed before anything is written, so a cell core refuses (raising ``InvalidCell``)
        leaves the table untouched. Returns what the rows route answers: the table's name,
        table_id, description and new schema (no second read of the table).
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT id, schema, name, description FROM tables_ WHERE ds = ? AND table_id = ?",
                (ds, table_id),
            ).fetchone()
            if row is None:
                raise NotFound("table_not_found", f"No table found for id `{table_id}`")
            table_pk, cached, name, description = row
            batch_schema = infer() if infer is not None else table_schema.from_values(values)
            cached_schema = None if cached is None or truncate else orjson.loads(cached)
            new_schema = table_schema.next_schema(cached_schema, batch_schema, truncate)
            if truncate:
                db.execute("DELETE FROM rows_ WHERE table_pk = ?", (table_pk,))
            _insert_rows(db, table_pk, row_ids, list(map(orjson.dumps, values)))
            db.execute("UPDATE tables_ SET schema = ? WHERE id = ?", (_dumps(new_schema), table_pk))
        return {"name": name, "table_id": table_id, "description": description, "schema": new_schema}

    def list_rows(self, ds: int, table_id: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Core's Postgres order, `ORDER BY created DESC`, where `created` is the row's first insert (an
        upsert keeps it): newest rows first, equal times newest insert first."""
        with self._lock:
            table_pk, _ = self._table_pk(self._db, ds, table_id)
            total = self._db.execute("SELECT COUNT(*) FROM rows_ WHERE table_pk = ?", (table_pk,)).fetchone()[
                0
            ]
            rows = self._db.execute(
                "SELECT row_id, value FROM rows_ WHERE table_pk = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                (table_pk, limit, offset),
            ).fetchall()
        return [{"row_id": r[0], "value": orjson.loads(r[1])} for r in rows], int(total)

    def get_row(self, ds: int, table_id: str, row_id: str) -> dict[str, Any]:
        with self._lock:
            table_pk, _ = self._table_pk(self._db, ds, table_id)
            row = self._db.execute(
                "SELECT row_id, value FROM rows_ WHERE table_pk = ? AND row_id = ?", (table_pk, row_id)
            ).fetchone()
        if row is None:
            raise NotFound("table_row_not_found", f"No row found for id `{row_id}`")
        return {"row_id": row[0], "value": orjson.loads(row[1])}

    def delete_row(self, ds: int, table_id: str, row_id: str) -> None:
        with self._tx() as db:
            table_pk, _ = self._table_pk(db, ds, table_id)
            db.execute("DELETE FROM rows_ WHERE table_pk = ? AND row_id = ?", (table_pk, row_id))

    # ---- whole-store operations -------------------------------------------------------------

    def ensure_default_seed(self) -> dict[str, Any]:
        """One workspace, its global space, a folder data source, a regular and a system key.

        Stored in ``meta`` so a file database keeps the same ids and key across restarts.
        """
        seed = self.get_meta("default_seed")
        if seed is not None and self.get_workspace(seed["workspace_id"]) is not None:
            return dict(seed)
        seed = seed or {
            "workspace_id": random_sid(),
            "data_source_id": "dts_" + random_sid(),
            "data_source_name": "emulator-folder",
            "api_key": new_api_key(),
            "system_api_key": new_api_key(),
        }
        self.create_workspace(
            "Emulated workspace", sid=seed["workspace_id"], global_space=seed.get("space_id")
        )
        space = self.global_space(seed["workspace_id"])
        assert space is not None
        seed["space_id"] = space["sid"]
        self.create_data_source(
            seed["workspace_id"],
            space["sid"],
            seed["data_source_name"],
            "Folder seeded by dust-emulator",
            sid=seed["data_source_id"],
        )
        self.create_api_key(seed["workspace_id"], secret=seed["api_key"])
        self.create_api_key(seed["workspace_id"], is_system=True, secret=seed["system_api_key"])
        self.set_meta("default_seed", seed)
        return dict(seed)

    def reset(self, scope: str = "data") -> None:
        """``data``: drop documents, tables and rows. ``all``: drop everything but the default seed."""
        tables = ["documents", "documents_fts", "tables_", "rows_"]
        if scope == "all":
            tables += ["workspaces", "spaces", "data_sources", "api_keys"]
        self._forget()
        with self._tx() as db:
            for name in tables:
                db.execute(f"DELETE FROM {name}")  # noqa: S608 - fixed identifiers
        if scope == "all" and self.get_meta("default_seed") is not None:
            self.ensure_default_seed()

    def dump(self, workspace: str | None = None) -> dict[str, Any]:
        """Everything a test may want to assert on, without secrets."""
        ws_filter, params = ("WHERE workspace = ?", [workspace]) if workspace else ("", [])
        data_sources = []
        for ds in self._all(f"SELECT * FROM data_sources {ws_filter} ORDER BY id", params):  # noqa: S608
            documents = [
                {
                    key: doc[key]
                    for key in (*DOCUMENT_VIEW, "parents", "parent_id", "hash", "created", "section")
                }
                for doc in (
                    self._document_record(dict(r))
                    for r in self._all("SELECT * FROM documents WHERE ds = ? ORDER BY id", (ds["id"],))
                )
            ]
            tables = []
            for table in self.list_tables(ds["id"]):
                rows, _ = self.list_rows(ds["id"], table["table_id"], 2**62, 0)
                tables.append(
                    {key: table[key] for key in (*TABLE_VIEW, "parents", "mime_type")} | {"rows": rows}
                )
            data_sources.append(
                {
                    "sId": ds["sid"],
                    "name": ds["name"],
                    "workspace_id": ds["workspace"],
                    "space_id": ds["space"],
                    "connector_provider": ds["connector_provider"],
                    "documents": documents,
                    "tables": tables,
                }
            )
        workspace_sql = "SELECT * FROM workspaces WHERE sid = ?" if workspace else "SELECT * FROM workspaces"
        workspaces = [dict(r) for r in self._all(workspace_sql, params)]
        spaces = [dict(r) for r in self._all(f"SELECT * FROM spaces {ws_filter}", params)]  # noqa: S608
        return {"workspaces": workspaces, "spaces": spaces, "data_sources": data_sources}


_DOC_COLUMNS = (
    "id",
    "ds",
    "document_id",
    "title",
    "mime_type",
    "source_url",
    "tags",
    "parents",
    "parent_id",
    "timestamp",
    "created",
    "text",
    "section",
    "hash",
    "text_size",
    "chunk_count",
    "token_count",
)
