"""The state gate and the STATE echo: verbatim, ordered, never early, never past a failure."""

from __future__ import annotations

import io
import json
from concurrent.futures import Future

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from destination_dust.catalog import StreamKey
from destination_dust.protocol import Output, with_destination_stats
from destination_dust.state import RecordCounter, StateGate


def _gate() -> tuple[StateGate, io.BytesIO]:
    buffer = io.BytesIO()
    return StateGate(Output(buffer)), buffer


def _lines(buffer: io.BytesIO) -> list[bytes]:
    return buffer.getvalue().splitlines()


def test_stats_keep_every_other_byte() -> None:
    raw = b'{"type": "STATE", "state": {"type":"STREAM", "id": 12345,  "stream": {"x": 1.50}}, "extra": null}'
    out = with_destination_stats(raw, 7)
    assert out == raw.replace(b'"state": {', b'"state": {"destinationStats":{"recordCount":7.0},')
    assert orjson.loads(out)["state"]["id"] == 12345


def test_stats_replace_an_explicit_null() -> None:
    raw = (
        b'{"type":"STATE","state":{"type":"GLOBAL","global_":null,'
        b'"destinationStats":null,"sourceStats":null}}'
    )
    out = orjson.loads(with_destination_stats(raw, 3))
    assert out["state"]["destinationStats"] == {"recordCount": 3.0}
    assert "global_" in out["state"] and out["state"]["sourceStats"] is None


def test_no_count_means_untouched() -> None:
    raw = b'{"type":"STATE","state":{"data":{"cursor":"2024"}}}'
    assert with_destination_stats(raw, None) is raw


@given(
    st.dictionaries(
        st.text(max_size=8).filter(lambda k: k != "destinationStats"),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda c: st.lists(c, max_size=3),
        ),
        max_size=5,
    ),
    st.integers(min_value=0, max_value=10**9),
)
def test_stats_property(state: dict[str, object], count: int) -> None:
    raw = json.dumps({"type": "STATE", "state": state}).encode()
    out = json.loads(with_destination_stats(raw, count))
    assert out["state"] == {**state, "destinationStats": {"recordCount": float(count)}}


def test_state_held_until_its_work_is_done() -> None:
    gate, buffer = _gate()
    work: Future[None] = Future()
    gate.add(b'{"type":"STATE","state":{"n":1}}', [work], 1)
    assert _lines(buffer) == []
    work.set_result(None)
    gate.release_ready()
    assert len(_lines(buffer)) == 1


def test_states_leave_in_order_even_when_later_work_finishes_first() -> None:
    gate, buffer = _gate()
    first: Future[None] = Future()
    second: Future[None] = Future()
    gate.add(b'{"type":"STATE","state":{"n":1}}', [first], None)
    gate.add(b'{"type":"STATE","state":{"n":2}}', [second], None)
    second.set_result(None)
    gate.release_ready()
    assert _lines(buffer) == []
    first.set_result(None)
    gate.release_ready()
    assert [orjson.loads(x)["state"]["n"] for x in _lines(buffer)] == [1, 2]


def test_a_failed_write_blocks_that_state_and_all_later_ones() -> None:
    gate, buffer = _gate()
    ok: Future[None] = Future()
    bad: Future[None] = Future()
    ok.set_result(None)
    gate.add(b'{"type":"STATE","state":{"n":1}}', [ok], None)
    gate.add(b'{"type":"STATE","state":{"n":2}}', [bad], None)
    gate.add(b'{"type":"STATE","state":{"n":3}}', [], None)
    bad.set_exception(RuntimeError("boom"))
    gate.release_ready()
    assert [orjson.loads(x)["state"]["n"] for x in _lines(buffer)] == [1]
    assert gate.blocked


def test_record_counter_per_stream_and_global() -> None:
    counter = RecordCounter()
    a, b = StreamKey(None, "a"), StreamKey("ns", "b")
    for key in (a, a, b):
        counter.record(key)
    assert counter.take_stream(a) == 2
    assert counter.take_stream(a) == 0
    counter.record(a)
    assert counter.take_all() == 2
    counter.record(None)
    assert counter.take_all() is None


@pytest.mark.parametrize("raw", [b"not json", b'{"type":"STATE","state":[1,2]}', b'{"type":"STATE"}'])
def test_odd_state_lines_are_echoed_unchanged(raw: bytes) -> None:
    assert with_destination_stats(raw, 4) == raw
