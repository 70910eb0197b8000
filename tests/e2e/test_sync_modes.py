"""Every sync mode, both formats, through the real CLI against the emulator (a subprocess, real HTTP).

Each scenario runs two (or more) syncs in a row and asserts the EXACT final content of the data source:
every document id, or every row id of every table, including a document and a table that another tool
created in the same data source (they must survive every mode). See docs/sync-modes.md.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from destination_dust import ledger
from destination_dust.catalog import StreamKey
from destination_dust.ids import document_id, row_id, stream_prefix
from destination_dust.tables import table_id_for
from dust_emulator.testing import EmulatorProcess, running_emulator

CLI = str(Path(sys.executable).with_name("destination-dust"))

FOREIGN_DOC = "handbook-onboarding"  # another tool's document
FOREIGN_LOOKALIKE = "users-999"  # our id shape, but no airbyte tags: not ours either
FOREIGN_TABLE = "crm_accounts"
FORMATS = ["documents", "tables"]
USERS = StreamKey(None, "users")


# -- helpers -------------------------------------------------------------------------------------------------


def rec(stream: str, data: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"stream": stream, "data": data, "emitted_at": 1_700_000_000_000}
    if namespace:
        body["namespace"] = namespace
    return {"type": "RECORD", "record": body}


def state(stream: str, value: Any, namespace: str | None = None) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": stream, **({"namespace": namespace} if namespace else {})}
    return {
        "type": "STATE",
        "state": {"type": "STREAM", "stream": {"stream_descriptor": descriptor, "stream_state": value}},
    }


def status(stream: str, value: str = "COMPLETE", namespace: str | None = None) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": stream, **({"namespace": namespace} if namespace else {})}
    return {
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": 1_700_000_000_000,
            "stream_status": {"stream_descriptor": descriptor, "status": value},
        },
    }


def stream_entry(
    name: str,
    mode: str,
    *,
    pk: bool = True,
    cursor: str | None = None,
    gen: int | None = None,
    minimum: int | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    properties = {"id": {"type": "integer"}, "name": {"type": "string"}, "updated": {"type": "integer"}}
    stream: dict[str, Any] = {
        "name": name,
        "json_schema": {"type": "object", "properties": properties},
        "supported_sync_modes": ["full_refresh", "incremental"],
        **({"namespace": namespace} if namespace else {}),
    }
    return {
        "stream": stream,
        "sync_mode": "full_refresh" if mode == "overwrite" else "incremental",
        "destination_sync_mode": mode,
        "primary_key": [["id"]] if pk else [],
        "cursor_field": [cursor] if cursor else [],
        "generation_id": gen,
        "minimum_generation_id": minimum,
        "sync_id": gen,
    }


def user(i: int, name: str, updated: int = 1, **extra: Any) -> dict[str, Any]:
    return rec("users", {"id": i, "name": name, "updated": updated, **extra})


class Sync:
    """Runs `destination-dust write` as a subprocess against one emulator and reads back the data source."""

    def __init__(self, emu: EmulatorProcess, tmp: Path, data_format: str) -> None:
        self.emu = emu
        self.tmp = tmp
        self.format = data_format
        self.config = {**emu.config, "document_upserts_per_minute": 0, "data_format": data_format}
        self.runs = 0

    def run(self, streams: list[dict[str, Any]], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One sync; returns the messages the connector printed. Fails the test on a non-zero exit."""
        out = self.run_raw(streams, messages)
        assert out.returncode == 0, out.stderr.decode() + out.stdout.decode()[-3000:]
        return [orjson.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def run_raw(
        self, streams: list[dict[str, Any]], messages: list[dict[str, Any]]
    ) -> subprocess.CompletedProcess[bytes]:
        self.runs += 1
        config = self.tmp / f"config{self.runs}.json"
        catalog = self.tmp / f"catalog{self.runs}.json"
        config.write_bytes(orjson.dumps(self.config))
        catalog.write_bytes(orjson.dumps({"streams": streams}))
        stdin = b"".join(orjson.dumps(m) + b"\n" for m in messages)
        return subprocess.run(
            [CLI, "write", "--config", str(config), "--catalog", str(catalog)],
            input=stdin,
            capture_output=True,
            timeout=120,
        )

    # what the data source holds

    def data_source(self) -> dict[str, Any]:
        for ds in self.emu.dump()["data_sources"]:
            if ds["sId"] == self.emu.config["data_source_id"]:
                return dict(ds)
        raise AssertionError("the data source is missing")

    def content(self, stream: str = "users", namespace: str | None = None) -> dict[str, str]:
        """{key: name} of one stream, read from its documents (text) or its table (rows)."""
        key = StreamKey(namespace, stream)
        ds = self.data_source()
        if self.format == "tables":
            tables = {t["table_id"]: t for t in ds["tables"]}
            table = tables.get(table_id_for(key, "airbyte_"))
            if table is None:
                return {}
            return {r["row_id"]: r["value"].get("name") for r in table["rows"]}
        prefix = stream_prefix(key) + "-"  # "users-" (namespaced: "public~users-")
        found: dict[str, Any] = {}
        for doc in ds["documents"]:
            if doc["document_id"].startswith(prefix) and f"airbyte:stream:{stream}" in doc["tags"]:
                found[doc["document_id"][len(prefix) :]] = _name_in(doc["text"])
        return found

    def generations(self) -> dict[str, str | None]:
        gens = {}
        for doc in self.data_source()["documents"]:
            tags = [t for t in doc["tags"] if t.startswith("airbyte:generation:")]
            gens[doc["document_id"]] = tags[0].split(":")[-1] if tags else None
        return gens

    def ledger(self) -> dict[tuple[str, int], list[str]]:
        """{(stream, generation): document ids} the sync ledger table holds (empty when there is none)."""
        found: dict[tuple[str, int], list[str]] = {}
        for table in self.data_source()["tables"]:
            if table["table_id"] == ledger.TABLE_ID:
                for row in table["rows"]:
                    parsed = ledger.parse_row(row)
                    assert parsed is not None, row
                    found.setdefault((parsed.stream.name, parsed.generation), []).extend(parsed.document_ids)
        return {key: sorted(ids) for key, ids in found.items()}

    def all_ids(self) -> set[str]:
        """Every document id and every table id (with its row ids) in the data source."""
        ds = self.data_source()
        ids = {d["document_id"] for d in ds["documents"]}
        for table in ds["tables"]:
            ids.add(f"table:{table['table_id']}")
            ids.update(f"{table['table_id']}/{r['row_id']}" for r in table["rows"])
        return ids


def _name_in(text: str) -> str | None:
    """The value of the record's `name` field in a rendered document (the renderer writes `name: value`)."""
    for line in text.splitlines():
        head, sep, value = line.partition(":")
        if sep and head.strip().lower().lstrip("#*- ").strip() == "name":
            return value.strip().strip("*").strip()
    return None


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with running_emulator(rate_limit=0) as emu:
        yield emu


@pytest.fixture(params=FORMATS)
def sync(request: pytest.FixtureRequest, emulator: EmulatorProcess, tmp_path: Path) -> Sync:
    emulator.reset()
    _plant_foreign_data(emulator)
    return Sync(emulator, tmp_path, request.param)


def _plant_foreign_data(emu: EmulatorProcess) -> None:
    """Another tool's document, a document with our id shape but not our tags, and another tool's table."""
    ds = f"/spaces/{emu.config['space_id']}/data_sources/{emu.config['data_source_id']}"
    with emu.api_client() as api:
        for doc_id, tags in ((FOREIGN_DOC, ["team:hr"]), (FOREIGN_LOOKALIKE, ["source:manual"])):
            api.post(f"{ds}/documents/{doc_id}", json={"text": "kept", "tags": tags}).raise_for_status()
        api.post(
            f"{ds}/tables",
            json={
                "name": FOREIGN_TABLE,
                "table_id": FOREIGN_TABLE,
                "title": "CRM",
                "description": "not ours",
            },
        ).raise_for_status()
        api.post(
            f"{ds}/tables/{FOREIGN_TABLE}/rows", json={"rows": [{"row_id": "1", "value": {"name": "acme"}}]}
        ).raise_for_status()


FOREIGN_IDS = {FOREIGN_DOC, FOREIGN_LOOKALIKE, f"table:{FOREIGN_TABLE}", f"{FOREIGN_TABLE}/1"}


def assert_foreign_data_intact(sync: Sync) -> None:
    assert sync.all_ids() >= FOREIGN_IDS
    docs = {d["document_id"]: d for d in sync.data_source()["documents"]}
    assert docs[FOREIGN_LOOKALIKE]["text"] == "kept"


def expected_ids(
    sync: Sync, keys: list[int], stream: str = "users", namespace: str | None = None
) -> set[str]:
    key = StreamKey(namespace, stream)
    if sync.format == "tables":
        return {f"{table_id_for(key, 'airbyte_')}/{row_id([k], {})}" for k in keys}
    return {document_id(key, [k], {}) for k in keys}


def names(sync: Sync, **expected: str) -> None:
    """The stream holds exactly these keys (id -> name), nothing else."""
    assert sync.content() == {k.lstrip("k"): v for k, v in expected.items()}


# -- append / append_dedup / overwrite -----------------------------------------------------------------------


def test_append_keeps_everything_and_replaces_by_id(sync: Sync) -> None:
    streams = [stream_entry("users", "append")]
    sync.run(streams, [user(1, "alice"), user(2, "bob"), user(3, "carol"), state("users", {"c": 1})])
    sync.run(streams, [user(3, "carol2"), user(4, "dave"), state("users", {"c": 2}), status("users")])
    names(sync, k1="alice", k2="bob", k3="carol2", k4="dave")
    assert_foreign_data_intact(sync)
    assert sync.all_ids() == FOREIGN_IDS | expected_ids(sync, [1, 2, 3, 4]) | _table_marker(sync)


def _table_marker(sync: Sync, stream: str = "users", namespace: str | None = None) -> set[str]:
    return (
        {f"table:{table_id_for(StreamKey(namespace, stream), 'airbyte_')}"}
        if sync.format == "tables"
        else set()
    )


def test_append_without_primary_key_is_idempotent_by_content(sync: Sync) -> None:
    streams = [stream_entry("users", "append", pk=False)]
    messages = [user(1, "alice"), user(1, "alice"), user(2, "bob"), state("users", {"c": 1})]
    sync.run(streams, messages)
    sync.run(streams, [*messages, status("users")])  # the same records again: nothing new
    assert sorted(sync.content().values()) == ["alice", "bob"]
    assert_foreign_data_intact(sync)


def test_append_dedup_latest_by_cursor_and_cdc_deletes(sync: Sync) -> None:
    streams = [stream_entry("users", "append_dedup", cursor="updated")]
    sync.run(streams, [user(1, "alice", 1), user(2, "bob", 1), user(3, "carol", 1), state("users", {"c": 1})])
    out = sync.run(
        streams,
        [
            user(1, "alice3", 3),
            state("users", {"c": 2}),  # a state between: the older record below arrives in another batch
            user(1, "alice2", 2),  # older cursor than alice3: must not win
            user(2, "bob", 2, _ab_cdc_deleted_at="2024-01-01T00:00:00Z"),  # CDC delete
            user(4, "dave", 1),
            user(4, "dave2", 1),  # same cursor: the later record wins
            user(5, "erin", 1, _ab_cdc_deleted_at=None),  # a null deleted_at is not a delete
            state("users", {"c": 3}),
            status("users"),
        ],
    )
    names(sync, k1="alice3", k3="carol", k4="dave2", k5="erin")
    assert_foreign_data_intact(sync)
    assert sync.all_ids() == FOREIGN_IDS | expected_ids(sync, [1, 3, 4, 5]) | _table_marker(sync)
    counts = [m["state"]["destinationStats"]["recordCount"] for m in out if m["type"] == "STATE"]
    assert counts == [1.0, 5.0]  # exact records since the previous state of the stream


def test_cdc_deletes_in_append_mode_remove_exactly_those_keys(sync: Sync) -> None:
    streams = [stream_entry("users", "append")]
    sync.run(streams, [user(i, f"u{i}") for i in range(1, 7)] + [state("users", {"c": 1})])
    deleted_at = "2024-05-01T00:00:00Z"
    out = sync.run(
        streams,
        [
            user(2, "u2", _ab_cdc_deleted_at=deleted_at),
            user(5, "u5", _ab_cdc_deleted_at=deleted_at),
            user(99, "never-existed", _ab_cdc_deleted_at=deleted_at),  # deleting a missing key is harmless
            rec("users", {"name": "no key", "_ab_cdc_deleted_at": deleted_at}),  # names nothing: skipped
            {"type": "RECORD", "record": {"stream": "users", "emitted_at": 0}},  # no data: skipped
            rec("orders", {"id": 1}),  # a stream outside the catalog: not this stream's count
            state("users", {"c": 2}),
        ],
    )
    assert sync.content() == {"1": "u1", "3": "u3", "4": "u4", "6": "u6"}
    counts = [m["state"]["destinationStats"]["recordCount"] for m in out if m["type"] == "STATE"]
    assert counts == [5.0]  # every record received for the stream counts, skipped ones included
    assert sync.all_ids() == FOREIGN_IDS | expected_ids(sync, [1, 3, 4, 6]) | _table_marker(sync)


def test_overwrite_replaces_the_stream_after_complete(sync: Sync) -> None:
    streams = [stream_entry("users", "overwrite")]
    sync.run(
        streams, [user(1, "alice"), user(2, "bob"), user(3, "carol"), state("users", {}), status("users")]
    )
    out = sync.run(streams, [user(2, "bob2"), user(4, "dave"), state("users", {}), status("users")])
    names(sync, k2="bob2", k4="dave")
    assert_foreign_data_intact(sync)
    assert sync.all_ids() == FOREIGN_IDS | expected_ids(sync, [2, 4]) | _table_marker(sync)
    assert [m for m in out if m["type"] == "STATE"], "the state must still be echoed"


def test_overwrite_with_unchanged_records_keeps_them(sync: Sync) -> None:
    """Documents skipped as unchanged are still 'sent by this sync': the sweep must not remove them."""
    streams = [stream_entry("users", "overwrite")]
    first = [user(1, "alice"), user(2, "bob"), user(3, "carol"), state("users", {}), status("users")]
    sync.run(streams, first)
    sync.run(streams, [user(1, "alice"), user(3, "carol"), state("users", {}), status("users")])
    names(sync, k1="alice", k3="carol")


def test_overwrite_cut_off_before_complete_leaves_old_data(sync: Sync) -> None:
    streams = [stream_entry("users", "overwrite")]
    sync.run(streams, [user(1, "alice"), user(2, "bob"), state("users", {}), status("users")])
    sync.run(streams, [user(3, "carol"), state("users", {}), status("users", "INCOMPLETE")])
    names(sync, k1="alice", k2="bob", k3="carol")  # nothing removed, the new record written
    out = sync.run(streams, [user(4, "dave"), state("users", {})])  # input ends without any status
    names(sync, k1="alice", k2="bob", k3="carol", k4="dave")
    warnings = [m["log"]["message"] for m in out if m["type"] == "LOG" and m["log"]["level"] == "WARN"]
    assert any("without a COMPLETE status" in w and "overwrite clean-up did not run" in w for w in warnings)
    assert_foreign_data_intact(sync)


def test_overwrite_with_a_failed_write_removes_nothing(sync: Sync) -> None:
    """COMPLETE arrives, but a write of the stream failed for good: the sync fails and removes nothing."""
    streams = [stream_entry("users", "overwrite")]
    sync.run(streams, [user(1, "alice"), user(2, "bob"), state("users", {}), status("users")])
    sync.config["retry_deadline_seconds"] = 1
    sync.emu.set_faults(error_5xx_rate=1.0, methods=["POST"])
    try:
        out = sync.run_raw(streams, [user(3, "carol"), state("users", {}), status("users")])
    finally:
        sync.emu.clear_faults()
    assert out.returncode == 1
    assert b'"STATE"' not in out.stdout
    names(sync, k1="alice", k2="bob")
    assert_foreign_data_intact(sync)


def test_overwrite_touches_only_its_own_stream(sync: Sync) -> None:
    """`users` overwritten next to `users_archive`, `users-x` and `public.users` (appended): the sweep of
    `users` removes none of theirs, and none of theirs is mistaken for it."""
    streams = [
        stream_entry("users", "overwrite"),
        stream_entry("users_archive", "append"),
        stream_entry("users-x", "append"),
        stream_entry("users", "append", namespace="public"),
    ]
    first = [
        user(1, "alice"),
        user(2, "bob"),
        rec("users_archive", {"id": 1, "name": "archived"}),
        rec("users-x", {"id": 2, "name": "dashed"}),
        rec("users", {"id": 3, "name": "namespaced"}, namespace="public"),
        state("users", {}),
        status("users"),
    ]
    sync.run(streams, first)
    sync.run(streams, [user(9, "frank"), state("users", {}), status("users")])
    names(sync, k9="frank")
    assert sync.content("users_archive") == {"1": "archived"}
    assert sync.content("users-x") == {"2": "dashed"}
    assert sync.content("users", "public") == {"3": "namespaced"}
    assert_foreign_data_intact(sync)


def test_overwrite_of_an_empty_stream_removes_its_data_only(sync: Sync) -> None:
    streams = [stream_entry("users", "overwrite")]
    sync.run(streams, [user(1, "alice"), state("users", {}), status("users")])
    sync.run(streams, [state("users", {}), status("users")])
    assert sync.content() == {}
    assert_foreign_data_intact(sync)


def global_state(value: Any) -> dict[str, Any]:
    return {
        "type": "STATE",
        "state": {"type": "GLOBAL", "global": {"shared_state": value, "stream_states": []}},
    }


@pytest.mark.parametrize("kind", ["STREAM", "GLOBAL"])
def test_state_after_complete_waits_for_the_sweep(sync: Sync, kind: str) -> None:
    """The STATE that follows COMPLETE is printed after the sweep: once it is out, the old data is gone.
    A GLOBAL state (CDC sources) waits for every stream's work, the sweep included."""
    streams = [stream_entry("users", "overwrite"), stream_entry("orders", "append")]
    sync.run(streams, [user(i, f"u{i}") for i in range(1, 40)] + [state("users", {}), status("users")])
    after = state("users", {"after": True}) if kind == "STREAM" else global_state({"after": True})
    orders = [rec("orders", {"id": i, "name": f"o{i}"}) for i in range(3)]
    out = sync.run(streams, [user(1, "alice"), *orders, status("users"), after])
    states = [i for i, m in enumerate(out) if m["type"] == "STATE"]
    count = 1.0 if kind == "STREAM" else 4.0  # records of that stream / of every stream since the last state
    assert [out[i]["state"] for i in states] == [
        {**after["state"], "destinationStats": {"recordCount": count}}
    ]
    logs = [(i, m["log"]["message"]) for i, m in enumerate(out) if m["type"] == "LOG"]
    swept = [i for i, text in logs if "clean-up removed 38" in text]
    assert len(swept) == 1 and swept[0] < states[0]  # the sweep ended before the state was printed
    names(sync, k1="alice")
    assert sync.content("orders") == {"0": "o0", "1": "o1", "2": "o2"}


# -- refreshes (generation ids) ------------------------------------------------------------------------------


def test_truncate_refresh_removes_older_generations(sync: Sync) -> None:
    sync.run(
        [stream_entry("users", "append", gen=1, minimum=0)], [user(1, "a"), user(2, "b"), status("users")]
    )
    second = [user(2, "b"), user(3, "carol"), state("users", {}), status("users")]
    sync.run([stream_entry("users", "append", gen=2, minimum=2)], second)
    names(sync, k2="b", k3="carol")
    assert_foreign_data_intact(sync)
    if sync.format == "documents":
        # the resent, unchanged document keeps its tag: the ledger says generation 2 kept it (no upsert)
        gens = sync.generations()
        assert (gens["users-2"], gens["users-3"]) == ("1", "2")
        assert sync.ledger() == {("users", 2): ["users-2"]}


def test_merge_refresh_keeps_older_generations(sync: Sync) -> None:
    sync.run(
        [stream_entry("users", "append", gen=1, minimum=0)], [user(1, "a"), user(2, "b"), status("users")]
    )
    sync.run([stream_entry("users", "append", gen=2, minimum=0)], [user(3, "carol"), status("users")])
    names(sync, k1="a", k2="b", k3="carol")


@pytest.mark.parametrize(("gen", "minimum"), [(None, None), (0, 0)])
def test_null_or_zero_generations_remove_nothing(sync: Sync, gen: int | None, minimum: int | None) -> None:
    streams = [stream_entry("users", "append_dedup", gen=gen, minimum=minimum)]
    sync.run([stream_entry("users", "append_dedup", gen=1, minimum=1)], [user(1, "a"), status("users")])
    sync.run(streams, [user(2, "b"), status("users")])
    names(sync, k1="a", k2="b")


def test_pyairbyte_constant_generation_loses_nothing(sync: Sync) -> None:
    """PyAirbyte sends generation 1 / minimum 1 / sync 1 on every run: incremental runs must accumulate."""
    streams = [stream_entry("users", "append_dedup", cursor="updated", gen=1, minimum=1)]
    sync.run(streams, [user(1, "alice", 1), user(2, "bob", 1), state("users", {"c": 1}), status("users")])
    sync.run(streams, [user(2, "bob2", 2), user(3, "carol", 1), state("users", {"c": 2}), status("users")])
    names(sync, k1="alice", k2="bob2", k3="carol")
    assert_foreign_data_intact(sync)


def test_pyairbyte_replace_is_overwrite(sync: Sync) -> None:
    streams = [stream_entry("users", "overwrite", gen=1, minimum=1)]
    sync.run(streams, [user(1, "alice"), user(2, "bob"), status("users")])
    sync.run(streams, [user(2, "bob2"), status("users")])
    names(sync, k2="bob2")


def test_resumed_attempt_of_a_refresh_keeps_the_earlier_attempts_data(sync: Sync) -> None:
    """Resumable full refresh: attempt 1 of generation 2 writes 1-2 and dies before COMPLETE; attempt 2
    resumes after its state and sends 3. Records of attempt 1 must survive attempt 2's clean-up."""
    sync.run(
        [stream_entry("users", "append", gen=1, minimum=1)],
        [user(7, "old"), user(8, "old2"), status("users")],
    )
    streams = [stream_entry("users", "append", gen=2, minimum=2)]
    sync.run(streams, [user(1, "alice"), user(2, "bob"), state("users", {"page": 1})])  # no COMPLETE
    names(sync, k1="alice", k2="bob", k7="old", k8="old2")  # nothing removed by a failed attempt
    sync.run(streams, [user(3, "carol"), user(8, "old2"), state("users", {"page": 2}), status("users")])
    if sync.format == "documents":
        # documents are dated: generation-1 documents not resent are removed, attempt 1's are kept
        names(sync, k1="alice", k2="bob", k3="carol", k8="old2")
    else:
        # rows cannot be dated and the table already carries generation 2: nothing is removed (documented)
        names(sync, k1="alice", k2="bob", k3="carol", k7="old", k8="old2")
    assert_foreign_data_intact(sync)


# -- unchanged documents under a new generation (the sync ledger) ---------------------------------------------


@pytest.fixture
def docs_sync(emulator: EmulatorProcess, tmp_path: Path) -> Sync:
    emulator.reset()
    _plant_foreign_data(emulator)
    return Sync(emulator, tmp_path, "documents")


def document_posts(sync: Sync) -> int:
    """Document upserts the emulator accepted so far (what Dust's rate limit counts)."""
    return int(sync.emu.counters()["routes"].get("POST documents", {}).get("200", 0))


def test_overwrite_resync_of_unchanged_documents_under_a_new_generation_costs_no_upsert(
    docs_sync: Sync,
) -> None:
    """30 documents of generation 1; generation 2 resends 27 of them unchanged, one changed and one new: 2
    upserts, not 29. The 27 keep their generation-1 tag and the ledger says generation 2 kept them; the 2 not
    resent are removed. Generation 3 (a truncate refresh) then drops the ledger's generation-2 row."""
    sync = docs_sync
    people = {i: f"u{i}" for i in range(30)}
    sync.run(
        [stream_entry("users", "overwrite", gen=1, minimum=1)],
        [*(user(i, n) for i, n in people.items()), state("users", {}), status("users")],
    )
    assert document_posts(sync) == 30 + 2  # and the two foreign documents
    second = {i: n for i, n in people.items() if i not in (28, 29)} | {0: "changed", 30: "new"}
    before = document_posts(sync)
    out = sync.run(
        [stream_entry("users", "overwrite", gen=2, minimum=2)],
        [*(user(i, n) for i, n in second.items()), state("users", {}), status("users")],
    )
    assert document_posts(sync) - before == 2
    names(sync, **{f"k{i}": n for i, n in second.items()})
    kept = sorted(document_id(USERS, [i], {}) for i in range(1, 28))
    assert sync.ledger() == {("users", 2): kept}
    gens = sync.generations()
    assert {gens[d] for d in kept} == {"1"} and gens["users-0"] == gens["users-30"] == "2"
    done = [m["log"]["message"] for m in out if m["type"] == "LOG" and "sync done" in m["log"]["message"]]
    assert done and "27 unchanged skipped" in done[-1], done

    before = document_posts(sync)
    sync.run(
        [stream_entry("users", "append", gen=3, minimum=3)],
        [*(user(i, n) for i, n in second.items()), state("users", {}), status("users")],
    )
    assert document_posts(sync) == before  # every document unchanged: generation 3 kept all 29
    names(sync, **{f"k{i}": n for i, n in second.items()})
    assert sync.ledger() == {("users", 3): sorted(document_id(USERS, [i], {}) for i in second)}
    assert_foreign_data_intact(sync)


def test_a_resumed_refresh_keeps_what_an_earlier_attempt_kept_without_upserting(docs_sync: Sync) -> None:
    """Generation 1 holds 1-6. Attempt 1 of generation 2 resends 1-3 unchanged (no upsert: ledger rows) and
    dies after its state; attempt 2, a new process, resumes after that state: it sends 4 and a new 7, then
    COMPLETE. Its clean-up must keep 1-3 (only the ledger knows they belong to generation 2) and remove 5-6."""
    sync = docs_sync
    sync.run(
        [stream_entry("users", "append", gen=1, minimum=1)],
        [*(user(i, f"u{i}") for i in range(1, 7)), state("users", {"page": 0}), status("users")],
    )
    refresh = [stream_entry("users", "append", gen=2, minimum=2)]
    before = document_posts(sync)
    sync.run(refresh, [*(user(i, f"u{i}") for i in (1, 2, 3)), state("users", {"page": 1})])  # no COMPLETE
    sync.run(refresh, [user(4, "u4"), user(7, "u7"), state("users", {"page": 2}), status("users")])
    assert document_posts(sync) - before == 1  # only the new document 7
    names(sync, k1="u1", k2="u2", k3="u3", k4="u4", k7="u7")
    assert sync.ledger() == {("users", 2): [document_id(USERS, [i], {}) for i in (1, 2, 3, 4)]}
    assert_foreign_data_intact(sync)


def test_with_the_ledger_off_unchanged_documents_are_uploaded_again(docs_sync: Sync) -> None:
    sync = docs_sync
    sync.config["generation_ledger"] = False
    sync.run(
        [stream_entry("users", "append", gen=1, minimum=1)],
        [*(user(i, f"u{i}") for i in range(1, 5)), status("users")],
    )
    refresh = [stream_entry("users", "append", gen=2, minimum=2)]
    before = document_posts(sync)
    sync.run(refresh, [user(1, "u1"), user(2, "u2"), state("users", {"page": 1})])
    sync.run(refresh, [user(3, "u3"), state("users", {"page": 2}), status("users")])
    assert document_posts(sync) - before == 3  # re-tagged by an upsert each
    names(sync, k1="u1", k2="u2", k3="u3")
    assert {sync.generations()[document_id(USERS, [i], {})] for i in (1, 2, 3)} == {"2"}
    assert [t["table_id"] for t in sync.data_source()["tables"]] == [FOREIGN_TABLE]


def test_a_ledger_that_cannot_be_created_costs_upserts_not_correctness(docs_sync: Sync) -> None:
    """Another tool's table already has the ledger's name: Dust refuses the ledger, the unchanged documents
    are re-upserted with the new tag instead (and the log says so once); the refresh is still exact."""
    sync = docs_sync
    ds = f"/spaces/{sync.emu.config['space_id']}/data_sources/{sync.emu.config['data_source_id']}"
    with sync.emu.api_client() as api:
        table = {"name": ledger.TABLE_NAME, "table_id": "their-table", "title": "", "description": "theirs"}
        api.post(f"{ds}/tables", json=table).raise_for_status()
    sync.run([stream_entry("users", "append", gen=1, minimum=1)], [*(user(i, f"u{i}") for i in range(1, 5))])
    before = document_posts(sync)
    out = sync.run(
        [stream_entry("users", "append", gen=2, minimum=2)],
        [*(user(i, f"u{i}") for i in range(1, 4)), state("users", {}), status("users")],
    )
    assert document_posts(sync) - before == 3
    names(sync, k1="u1", k2="u2", k3="u3")
    assert {sync.generations()[document_id(USERS, [i], {})] for i in (1, 2, 3)} == {"2"}
    warnings = [
        m["log"]["message"] for m in out if m["type"] == "LOG" and "sync ledger" in m["log"]["message"]
    ]
    assert len(warnings) == 1 and "uploaded again" in warnings[0], warnings
    assert sync.ledger() == {}


def test_a_document_of_a_newer_generation_is_re_tagged(docs_sync: Sync) -> None:
    """Generation ids went backwards (another connection, a reset): the ledger cannot make a document older,
    so it is re-upserted with this sync's generation, as before the ledger."""
    sync = docs_sync
    sync.run([stream_entry("users", "append", gen=5, minimum=5)], [user(1, "u1"), status("users")])
    before = document_posts(sync)
    sync.run([stream_entry("users", "append", gen=2, minimum=2)], [user(1, "u1"), status("users")])
    assert document_posts(sync) - before == 1
    assert sync.generations()["users-1"] == "2"
    assert sync.ledger() == {}
