"""The `write` loop: read messages, route records to their stream's sink, gate STATE messages.

stdin line -> decode_record_line -> RECORD of a configured stream -> its sink's add_raw -> pipeline -> Dust
                                  (a tables sink's RowEncoder makes the row: row_encoder.py)
           -> otherwise parse_line + message_of -> STATE -> flush the sinks it covers -> state gate -> stdout
                                               -> TRACE STREAM_STATUS COMPLETE -> sink.on_stream_complete()
                                                  (documents clean-ups queue for a shared listing, which
                                                  starts when a STATE waits for one, or at the end)
                                               -> RECORD (unknown stream, no data object) -> skipped, counted
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future
from typing import IO, Any

from destination_dust.catalog import StreamConfig, StreamKey
from destination_dust.client import DustClient
from destination_dust.compose_sink import composed_sinks
from destination_dust.config import DustConfig
from destination_dust.pipeline import Pipeline
from destination_dust.progress import Progress
from destination_dust.protocol import (
    DECODE_ERRORS,
    Message,
    Output,
    decode_record_line,
    message_of,
    parse_line,
)
from destination_dust.seen import SeenStore
from destination_dust.sinks import DocumentSink, SinkContext, StreamSink, SyncStats, TableSink
from destination_dust.state import RecordCounter, StateGate
from destination_dust.table_names import assign_table_names
from destination_dust.tables import TableMapper

logger = logging.getLogger(__name__)

# payload held by queued and running requests: a queue of several ~0.9 MB row batches per worker, small enough
# to keep a 1M-row sync under 200 MB of RSS
MAX_BYTES_IN_FLIGHT = 16 * 1024 * 1024


class Writer:
    def __init__(
        self,
        config: DustConfig,
        streams: dict[StreamKey, StreamConfig],
        output: Output,
        client: DustClient | None = None,
    ) -> None:
        self.config = config
        self.streams = streams
        self.output = output
        self.client = client or DustClient(config)
        self.pipeline = Pipeline(config.max_concurrent_requests, MAX_BYTES_IN_FLIGHT)
        self.gate = StateGate(output)
        self.pipeline.on_done = self.gate.release_ready
        self.pipeline.on_failure = self.client.cancel  # a failed sync stops its retries at once
        self.stats = SyncStats()
        self.counter = RecordCounter()
        self.seen = SeenStore()  # ids sent by this sync, on disk (overwrite/refresh sweeps, dedup by cursor)
        self.ctx = SinkContext(self.config, self.client, self.pipeline, self.stats, self.seen)
        self.sinks = self._make_sinks()
        self._unknown_streams: set[StreamKey] = set()
        # logs on a timer, so progress shows while stdin is idle or the pipeline drains
        self.progress = Progress(self.stats, self.pipeline, self.gate, self.client, logger.info)

    def _make_sinks(self) -> dict[StreamKey, StreamSink]:
        ctx = self.ctx
        table_streams = [k for k, s in self.streams.items() if s.data_format == "tables"]
        # names that last: one listing of the data source's tables tells which streams have a table already
        listing = self.client.list_tables() if table_streams else []
        tables = assign_table_names(table_streams, self.config.table_id_prefix, listing)
        for key, table in tables.items():
            if table.is_new:
                logger.info("stream %s: new table %s (table_id %s)", key, table.name, table.table_id)
        sinks: dict[StreamKey, StreamSink] = composed_sinks(self.streams, ctx)  # parents and their children
        for key, stream in self.streams.items():
            if key in sinks:
                continue
            if stream.data_format == "tables":
                sinks[key] = TableSink(stream, ctx, TableMapper(stream, self.config, tables[key]))
            else:
                sinks[key] = DocumentSink(stream, ctx)
        return sinks

    def run(self, stdin: IO[bytes]) -> None:
        self.progress.start()
        try:
            self.read(stdin)
            for sink in self.sinks.values():
                sink.finish()
            while self.ctx.document_cleanups.start():  # the queued documents clean-ups: one listing
                self.pipeline.wait_all()
                self.pipeline.raise_if_failed()
            self.pipeline.wait_all()
            self.pipeline.raise_if_failed()
            self.gate.release_ready()
            self.progress.stop()
            self.progress.report(final=True)
            for line in self.stats.deletion_lines():
                logger.info(line)
        finally:
            self.progress.stop()
            # let in-flight work end (its states may still be released), then stop the threads
            self.pipeline.wait_all()
            self.gate.release_ready()
            self.pipeline.shutdown()
            self.client.close()
            self.seen.close()

    def read(self, lines: Iterable[bytes]) -> None:
        """The read loop. A RECORD of a configured stream with a data object (nearly every line of a sync) is
        read as a `RecordLine` and its data handed as it came to its sink (`add_raw`); any other line is
        parsed whole and goes through `message_of` (its checks and warnings) and `on_message`."""
        sinks: dict[Any, StreamSink] = self.sinks  # a StreamKey equals the plain (namespace, stream) tuple
        stats, per_stream, pipeline = self.stats, self.counter.per_stream, self.pipeline
        warned: set[str] = set()
        for number, line in enumerate(lines, start=1):
            try:
                head = decode_record_line(line)
            except DECODE_ERRORS:
                head = None
            sink = None
            if head is not None and head.type == "RECORD" and (record := head.record) is not None:
                try:
                    sink = sinks.get((record.namespace or None, record.stream))
                except TypeError:  # an unhashable namespace or stream: `_on_odd_record` reports it
                    sink = None
                emitted_at = record.emitted_at
                if sink is not None and not sink.add_raw(
                    record.data, emitted_at if type(emitted_at) is int else None
                ):
                    sink = None
            if sink is None:
                message = message_of(line, parse_line(line), number, warned)
                if message is not None:
                    self.on_message(message)
                continue
            stats.read += 1  # only this (the reader) thread writes `read`: no lock
            key = sink.stream.key  # RecordCounter.record, inlined: it runs once per record
            per_stream[key] = per_stream.get(key, 0) + 1
            self.counter.total += 1
            if pipeline.failure is not None:
                raise pipeline.failure

    def on_message(self, message: Message) -> None:
        if message.type == "RECORD":
            self._on_odd_record(message.body.get("record"))
        elif message.type == "STATE":
            self._on_state(message)
        elif message.type == "TRACE":
            self._on_trace(message.body.get("trace"))
        self.pipeline.raise_if_failed()

    def _stream_key(self, body: Any) -> StreamKey | None:
        if not isinstance(body, dict) or not isinstance(body.get("stream"), str):
            return None
        namespace = body.get("namespace") or None
        if namespace is not None and not isinstance(namespace, str):
            return None
        return StreamKey(namespace, body["stream"])

    def _on_odd_record(self, record: Any) -> None:
        """Any record `read` does not handle itself: of an unknown stream, without a data object, not an
        object at all (or given to `on_message` directly)."""
        key = self._stream_key(record)
        sink = self.sinks.get(key) if key else None
        self.stats.read += 1  # only this (the reader) thread writes `read`: no lock on the hot path
        if sink is None or not isinstance(record, dict):
            self.counter.record(None)
            if key is not None and key not in self._unknown_streams:
                self._unknown_streams.add(key)
                logger.warning(
                    "records of stream %s are skipped: the stream is not in the configured catalog", key
                )
            return
        data = record.get("data")
        if not isinstance(data, dict):
            self.counter.record(key)  # received for this stream: the platform counts it too
            logger.warning("a record of stream %s has no data object and was skipped", key)
            return
        assert key is not None
        emitted_at = record.get("emitted_at")
        sink.add(data, emitted_at if isinstance(emitted_at, int) else None)
        self.counter.record(key)

    def _on_state(self, message: Message) -> None:
        state = message.body.get("state")
        state = state if isinstance(state, dict) else {}
        kind = state.get("type") or "LEGACY"
        if kind == "STREAM":
            stream = state.get("stream")
            stream = stream if isinstance(stream, dict) else {}
            key = self._stream_key_of_descriptor(stream.get("stream_descriptor"))
            sink = self.sinks.get(key) if key else None
            if sink is not None and key is not None:
                sink.flush()
                self._gate(message.raw, sink.outstanding(), self.counter.take_stream(key))
            else:
                self.gate.add(message.raw, [], None)
            return
        deps = []
        for sink in self.sinks.values():
            sink.flush()
            deps.extend(sink.outstanding())
        self._gate(message.raw, deps, self.counter.take_all())

    def _gate(self, raw: bytes, deps: list[Future[Any]], count: int | None) -> None:
        """Queue a STATE; one that waits for a queued documents clean-up starts its listing now."""
        cleanups = self.ctx.document_cleanups
        if cleanups.waits_for(deps):
            cleanups.start(gather=True)
        self.gate.add(raw, deps, count)

    def _stream_key_of_descriptor(self, descriptor: Any) -> StreamKey | None:
        if not isinstance(descriptor, dict) or not isinstance(descriptor.get("name"), str):
            return None
        namespace = descriptor.get("namespace") or None
        if namespace is not None and not isinstance(namespace, str):
            return None
        return StreamKey(namespace, descriptor["name"])

    def _on_trace(self, trace: Any) -> None:
        if not isinstance(trace, dict) or trace.get("type") != "STREAM_STATUS":
            return
        status = trace.get("stream_status")
        if not isinstance(status, dict) or status.get("status") != "COMPLETE":
            return
        key = self._stream_key_of_descriptor(status.get("stream_descriptor"))
        sink = self.sinks.get(key) if key else None
        if sink is not None:
            sink.on_stream_complete()
