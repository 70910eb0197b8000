"""The sinks of composed streams: a parent stream and the child streams whose `parent_stream` names it share
one `Composition`, which owns their documents (compose.py says what a composed document is).

Budget. Records do not become upserts one by one: each record changes its document's entry in a queue of
dirty documents (what changed since that document was last written), and a few lanes (long-running pipeline
jobs) write dirty documents whenever the rate limiter has a slot. Each write reads the stored document back
(GET, not rate limited), applies every change gathered so far, and upserts once; a document changed again
while it was queued costs nothing more. A document is ready to write once it has had no change for
QUIET_SECONDS, or has waited MAX_WAIT_SECONDS, or the input ended (or the reader waits for memory): a source
sends children in cursor order across parents, so a parent keeps changing while the source reads on, and
writing it at the first free slot would write it again for each later child. So each parent is written about
once when the source reads faster than the limit lets us write, whatever order its children arrive in; when
it is not rate-bound (a slow source), a parent is written after each pause of QUIET_SECONDS in its changes
(at most once per record, as uncomposed) and at least every MAX_WAIT_SECONDS, which also bounds how late a
checkpoint can be, beyond the rate limit's own queue.

The state gate. A STATE does not flush anything: it waits (StateGate) for one future (Barriers), done once
every change made before it has been upserted by the write that took it. A STATE is therefore echoed once every
document holding a record before it has been written with that record: late when rate-bound, never early.

Memory: pending changes are bounded by MAX_HELD_BYTES; past it the reader waits for the lanes.

Clean-ups (overwrite, refresh) run once, after every composed write, when the input ends: the parent stream's
sweep removes documents of parents this sync did not send or touch (sweep.py rules); a child stream's removes
the sections of its children this sync did not send, rewriting only the documents that change.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from destination_dust import ids
from destination_dust.barriers import Barriers
from destination_dust.catalog import StreamConfig, StreamKey
from destination_dust.compose import (
    TIME_LINES,
    Child,
    ComposedDocument,
    ParentPart,
    build_body,
    order_token,
    parent_part,
    parse_stored,
    placeholder,
    section_text,
    short_hash,
    stored_text,
    without_children_of,
)
from destination_dust.config import DustConfig
from destination_dust.documents import DocumentRenderer, created_field, lookup, timestamp_ms
from destination_dust.errors import ConfigError, DustRequestError
from destination_dust.sinks import SinkContext, StreamSink
from destination_dust.stream_settings import StreamSettings
from destination_dust.sweep import (
    DocumentCleanup,
    SweepRule,
    owns_document,
    read_documents,
    sweep_documents,
    sweep_rule,
)
from destination_dust.tags import (
    clean_tag,
    fingerprint_tags,
    generation_of,
    is_system_tag,
    marker_tags,
    stream_tag,
    stream_tags,
)
from destination_dust.text import REPLACEMENT, scalar_text, single_line

logger = logging.getLogger(__name__)

MAX_HELD_BYTES = 32 * 1024 * 1024  # pending changes held for dirty documents before the reader waits
MAX_HEADING = 160
QUIET_SECONDS = 1.0  # a dirty document with no change for this long is ready to write
MAX_WAIT_SECONDS = 30.0  # ...and one that keeps changing is written after this long anyway
READY_SCAN = 256  # dirty documents looked at (oldest first) when a lane picks one
LIST_PAGE = 100
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass
class Pending:
    """The changes to one document since it was last taken by a write."""

    number: int  # Barriers' number of these changes
    since: float = field(default_factory=time.monotonic)  # when the first of these changes came
    last: float = field(default_factory=time.monotonic)  # when the latest came
    reset: bool = False  # the parent was deleted: start from nothing, not from what Dust holds
    parent: ParentPart | None = None
    children: dict[str, Child | None] = field(default_factory=dict)  # None: the child was deleted
    placeholder_title: str | None = None
    records: int = 0
    size: int = 0


class Composition:
    """The documents of one parent stream, and the lanes that write them."""

    def __init__(
        self, ctx: SinkContext, parent_key: StreamKey, parent: StreamConfig | None, children: list[StreamKey]
    ) -> None:
        self.ctx = ctx
        self.parent_key = parent_key
        self.parent = parent
        self.generation = parent.generation_id if parent is not None else None
        self.system_tags = stream_tags(parent_key, one_line=True)
        self.system_tags += [stream_tag(clean_tag(c.name)) for c in children]
        self.child_label = " and ".join(c.name for c in children or [parent_key]) + " records"
        self.stream_line = f"$stream: {single_line(str(parent_key))[:48]}\n"
        self._dirty: dict[str, Pending] = {}  # oldest change first
        self._writing: set[str] = set()
        self.barriers = Barriers()
        self._cond = threading.Condition()
        self._lanes = 0
        self._max_lanes = max(1, ctx.config.max_concurrent_requests // 2)
        self._held = 0
        self._input_ended = False
        self.members: list[ComposedSink] = []
        self._finished = 0
        self.upserts = 0
        self.unchanged = 0
        self.deleted = 0
        self.documents: set[str] = set()  # ids touched by this sync (the parent's overwrite keeps them)
        self.keep_documents = parent is not None and sweep_rule(parent) is not None

    # --- the reader's side

    def change(self, document_id: str, records: int, size: int, apply: Any) -> None:
        """Apply `apply(pending)` to the document's pending changes, and make sure a lane will write it."""
        with self._cond:
            while self._held > MAX_HELD_BYTES and self.ctx.pipeline.failure is None and self._lanes:
                self._cond.wait(1.0)
            pending = self._dirty.get(document_id)
            if pending is None:
                pending = self._dirty[document_id] = Pending(self.barriers.open())
            apply(pending)
            pending.last = time.monotonic()
            pending.records += records
            pending.size += size
            self._held += size
            start = self._lanes < self._max_lanes
            if start:
                self._lanes += 1
        if start:
            self.ctx.pipeline.submit(self._lane)
        if self.keep_documents:
            self.documents.add(document_id)

    def outstanding(self) -> list[Future[Any]]:
        barrier = self.barriers.barrier()
        return [barrier] if barrier is not None else []

    # --- the lanes

    def _lane(self) -> None:
        limiter = self.ctx.client.limiter
        while True:
            with self._cond:
                idle = len(self._dirty) <= len(self._writing) and all(d in self._writing for d in self._dirty)
            # take the changes only once a slot is free, so they gather up to the last moment (but never wait
            # for a slot with nothing to write: the sync's end would wait for it)
            if limiter.enabled and not idle:
                limiter.acquire()
                limiter.give_back()
            with self._cond:
                document_id = self._next_ready()
                if document_id is None:
                    self._lanes -= 1
                    return
                pending = self._dirty.pop(document_id)
                self._writing.add(document_id)
                self._held -= pending.size
                self._cond.notify_all()
            try:
                self._write(document_id, pending)
            except BaseException as exc:
                self.barriers.fail(exc)
                with self._cond:
                    self._lanes -= 1
                raise
            finally:
                with self._cond:
                    self._writing.discard(document_id)
            self.ctx.stats.add(committed=pending.records)
            self.barriers.close(pending.number)
            if self.ctx.pipeline.on_done is not None:
                self.ctx.pipeline.on_done()  # the state gate: a barrier it waits for may be done now

    def _next_ready(self) -> str | None:
        """The oldest ready dirty document no lane is writing (see the module docstring), waiting until one
        is ready; None when there is nothing left to write. Called with the lock held."""
        while True:
            now = time.monotonic()
            hurry = self._input_ended or self._held > MAX_HELD_BYTES or self.ctx.pipeline.failure is not None
            soonest = None
            scanned = 0
            for document_id, pending in self._dirty.items():
                if document_id in self._writing:
                    continue
                ready_at = min(pending.last + QUIET_SECONDS, pending.since + MAX_WAIT_SECONDS)
                if hurry or ready_at <= now:
                    return document_id
                soonest = ready_at if soonest is None else min(soonest, ready_at)
                scanned += 1
                if scanned >= READY_SCAN:
                    break
            if soonest is None:
                return None
            self._cond.wait(min(QUIET_SECONDS, soonest - now))

    def _stored(self, document_id: str) -> Mapping[str, Any] | None:
        """The stored document, None when absent: looked up in the listing (which answers "absent" without an
        error), then read alone when the listing left its text out."""
        found = self.ctx.client.get_documents([document_id])
        stored = next((d for d in found if d.get("document_id") == document_id), None)
        if stored is not None and stored_text(stored) is None:
            return self.ctx.client.get_document(document_id)
        return stored

    def _write(self, document_id: str, pending: Pending) -> None:
        stored = self._stored(document_id)
        document = None if stored is None or pending.reset else self._read(document_id, stored)
        if pending.parent is not None:
            previous = document
            document = ComposedDocument(document_id, pending.parent)
            if previous is not None:
                document.children, document.omitted = previous.children, previous.omitted
        elif document is None:
            title = pending.placeholder_title or document_id
            document = placeholder(document_id, title, self.stream_line)
        for key, child in pending.children.items():
            if child is None:
                document.children.pop(key, None)
            else:
                document.children[key] = child
        self._put(document, stored)

    def _read(self, document_id: str, stored: Mapping[str, Any]) -> ComposedDocument:
        document = parse_stored(stored, is_system_tag)
        if document is None:
            raise DustRequestError(
                f"document {document_id!r}: Dust's answer to GET has no text to rebuild the composed document "
                "from; nothing was written, so no section was lost"
            )
        return document

    def _put(self, document: ComposedDocument, stored: Mapping[str, Any] | None) -> None:
        """Upsert the document, skip it when Dust holds it already, delete it when nothing is left."""
        if document.placeholder and not document.children:
            if stored is not None:
                self.ctx.client.delete_document(document.document_id)
                self._count("deleted")
                self.ctx.stats.count_deleted(self.parent_key, "documents", "CDC", 1)
            return
        built = build_body(
            document,
            self.system_tags,
            partial(marker_tags, self.generation),
            self.ctx.config.max_document_chars,
            self.child_label,
        )
        if built.left_out:
            logger.warning(
                "stream %s: composed document %r is over max_document_size_mb: %d older %s left out of it "
                "(the document says so)",
                self.parent_key,
                document.document_id,
                built.left_out,
                self.child_label,
            )
        if stored is not None and self._unchanged(built.body["tags"], stored):
            self._count("unchanged")
            self.ctx.stats.add(skipped_unchanged=1)
            return
        self.ctx.client.upsert_document(document.document_id, built.body)
        self._count("upserts")

    def _count(self, name: str) -> None:
        with self._cond:  # lanes count concurrently
            setattr(self, name, getattr(self, name) + 1)

    @staticmethod
    def _unchanged(tags: list[str], stored: Mapping[str, Any]) -> bool:
        stored_tags = {t for t in stored.get("tags") or () if isinstance(t, str)}
        return fingerprint_tags(tags) <= stored_tags and generation_of(tags) == generation_of(stored_tags)

    # --- end of input: clean-ups, once every member has finished

    def member_finished(self) -> None:
        self._finished += 1
        if self._finished < len(self.members):
            return
        with self._cond:
            self._input_ended = True  # nothing more will change: write what is left now
            self._cond.notify_all()
        sweeping = [m for m in self.members if m.rule is not None and m._completed]
        if sweeping:
            self.members[0].submit_tracked(lambda: self._clean_up(sweeping), after=self.outstanding())

    def _clean_up(self, members: list[ComposedSink]) -> None:
        for member in members:
            if isinstance(member, ChildSink):
                self._sweep_children(member)
        for member in members:
            if isinstance(member, ParentSink):
                member.sweep_parents()
        for member in members:
            if isinstance(member, ChildSink) and not isinstance(member, GroupSink):
                member.sweep_standalone()
        logger.info(
            "stream %s: composed documents: %d upserts, %d unchanged (skipped), %d deleted",
            self.parent_key,
            self.upserts,
            self.unchanged,
            self.deleted,
        )

    def _sweep_children(self, member: ChildSink) -> None:
        """Overwrite/refresh of a child stream: drop the sections of its children this sync did not send. The
        listing only collects ids: a rewrite can change a document's timestamp, hence its place in the listing,
        so documents are rewritten (from a fresh GET) once the listing is done."""
        doomed: dict[str, None] = {}  # ordered, and a document listed twice counts once

        def read(page: Sequence[Mapping[str, Any]]) -> None:
            for stored in page:
                if not owns_document(self.parent_key, stored.get("document_id"), stored.get("tags")):
                    continue
                if stored_text(stored) is None:  # a listing without text: read the document alone
                    stored = self.ctx.client.get_document(str(stored.get("document_id")))
                document = parse_stored(stored, is_system_tag)
                if document is not None and any(
                    c.source == member.source and k not in member.sent for k, c in document.children.items()
                ):
                    doomed[document.document_id] = None

        listing = read_documents(self.ctx.client, read, page_size=LIST_PAGE)
        if not listing.confirmed:
            logger.warning(
                "stream %s: the data source changed too much while its documents were listed; sections this "
                "sync did not send may remain in some documents: the next overwrite removes them",
                member.stream.key,
            )
        for document_id in doomed:
            fresh = self._stored(document_id)
            if fresh is not None:
                document = self._read(document_id, fresh)
                self._put(without_children_of(document, member.source, member.sent), fresh)
        logger.info(
            "stream %s: %s clean-up removed the sections this sync did not send from %d documents",
            member.stream.key,
            member.rule.describe() if member.rule else "",
            len(doomed),
        )


class ComposedSink(StreamSink):
    """A member of a composition: records change documents through it; its futures are the composition's."""

    def __init__(self, stream: StreamConfig, ctx: SinkContext, composition: Composition) -> None:
        super().__init__(stream, ctx)
        self.composition = composition
        self.renderer = DocumentRenderer(stream, ctx.config)
        composition.members.append(self)

    def _id_of(self, data: Mapping[str, Any]) -> str:
        return self.renderer.document_id(data)

    def outstanding(self) -> list[Future[Any]]:
        return [*super().outstanding(), *self.composition.outstanding()]

    def submit_tracked(self, fn: Any, after: list[Future[Any]]) -> None:
        self._submit(fn, after=after)

    def flush(self) -> None:
        """Nothing to flush: changes are in the composition's queue, which the lanes drain."""

    def on_stream_complete(self) -> None:
        self._completed = True  # the clean-up runs at the end of input, after every composed write

    def finish(self) -> None:
        super().finish()
        self.composition.member_finished()

    def _queue_cleanup(self, rule: SweepRule) -> None:  # never called: member_finished runs the clean-ups
        raise NotImplementedError

    def _check_other_format(self) -> None:  # never called: on_stream_complete is the composition's
        raise NotImplementedError

    def _time_of(self, body: Mapping[str, Any]) -> int | None:
        """The record's own time (a field), not the time it was read: it must not change between syncs."""
        prefix = body["section"]["prefix"] or ""
        timestamp = body.get("timestamp")
        has_field_time = any(line.startswith(TIME_LINES) for line in prefix.splitlines(keepends=True))
        return timestamp if has_field_time and isinstance(timestamp, int) else None

    def _report(self, warnings: tuple[str, ...], truncated: bool) -> None:
        for warning in warnings:
            logger.warning(warning)
        if truncated:
            self.ctx.stats.add(truncated=1)


class ParentSink(ComposedSink):
    def add(self, data: dict[str, Any], emitted_at: int | None) -> None:
        if self.is_deletion(data):
            document_id = self._deleted_id(data)
            if document_id is not None:
                self.composition.change(document_id, 1, 0, _reset)
            return
        document = self.renderer.render(data, emitted_at)
        if not self._admit(document.document_id, data):
            return
        self._report(document.warnings, document.truncated)
        part = parent_part(document.body, self._time_of(document.body))
        size = len(part.text) + 256
        self.composition.change(document.document_id, 1, size, lambda p: _set_parent(p, part))

    def sweep_parents(self) -> None:
        assert self.rule is not None
        for document_id in self.composition.documents:  # every document this sync wrote, children's too
            self.seen.add(document_id)
        self.seen.flush()
        result = sweep_documents(self.ctx.client, [DocumentCleanup(self.stream.key, self.rule, self.seen)])
        self.ctx.stats.count_deleted(self.stream.key, "documents", "clean-up", result.deleted)
        logger.info(
            "stream %s: %s clean-up removed %d composed documents this sync did not send",
            self.stream.key,
            self.rule.describe(),
            result.deleted,
        )


class ChildSink(ComposedSink):
    def __init__(
        self, stream: StreamConfig, ctx: SinkContext, composition: Composition, settings: StreamSettings
    ) -> None:
        super().__init__(stream, ctx, composition)
        self.settings = settings
        self.source = short_hash(str(stream.key), 8)
        self.sent: set[str] = set()  # child keys sent by this sync (overwrite/refresh keeps only these)
        self._warned_orphan = False
        self._order_by = tuple(settings.order_by.split(".")) if settings.order_by else stream.cursor_field

    def _parent_id(self, data: Mapping[str, Any], emitted_at: int | None) -> str | None:
        values = [lookup(data, path) for path in self.settings.parent_key]
        if all(value is None for value in values):
            self.ctx.stats.add(committed=1)
            if not self._warned_orphan:
                self._warned_orphan = True
                logger.warning(
                    "stream %s: a record without its parent key (%s) was skipped: it cannot be placed in a "
                    "document of %s (further ones not reported)",
                    self.stream.key,
                    ", ".join(self.settings.parent_key),
                    self.composition.parent_key,
                )
            return None
        return ids.document_id(self.composition.parent_key, values, data)

    def _placeholder_title(self, data: Mapping[str, Any], emitted_at: int | None) -> str:
        values = [lookup(data, path) for path in self.settings.parent_key]
        return f"{self.composition.parent_key.name} " + " ".join(map(_value_text, values))

    def add(self, data: dict[str, Any], emitted_at: int | None) -> None:
        if self.is_deletion(data):
            child_id = self._deleted_id(data)
            document_id = self._parent_id(data, None) if child_id is not None else None
            if child_id is None or document_id is None:
                return
            key = short_hash(child_id)
            self.sent.discard(key)
            self.composition.change(document_id, 1, 0, lambda p: _set_child(p, key, None))
            return
        document = self.renderer.render(data, emitted_at)
        if not self._admit(document.document_id, data):
            return
        document_id = self._parent_id(data, emitted_at)
        if document_id is None:
            return
        self._report(document.warnings, document.truncated)
        child = self._child(data, emitted_at, document.document_id, document.body)
        if self.rule is not None:
            self.sent.add(child.key)
        title = self._placeholder_title(data, emitted_at)
        self.composition.change(
            document_id, 1, len(child.text) + 128, lambda p: _set_child(p, child.key, child, title)
        )

    def _child(self, data: Mapping[str, Any], emitted_at: int | None, child_id: str, body: Any) -> Child:
        section = body["section"]
        fields = section_text(section)[len(section["prefix"] or "") :]
        heading = self._heading(data, body["title"])
        text = f"### {heading}\n{fields}".rstrip("\n") + "\n"
        path = self._order_by or ((created,) if (created := created_field(data)) else ())
        value = lookup(data, ".".join(path)) if path else None
        epoch = timestamp_ms(value) if isinstance(value, str) else None
        return Child(
            short_hash(child_id),
            self.source,
            order_token(value, epoch, emitted_at),
            self._time_of(body),
            text,
        )

    def _heading(self, data: Mapping[str, Any], title: str) -> str:
        template = self.settings.section_title
        if template and "{" in template:
            heading = _PLACEHOLDER.sub(lambda m: _text(lookup(data, m.group(1).strip())), template)
        elif template:
            heading = _text(lookup(data, template))
        else:
            heading = ""
        heading = single_line(heading) or title
        return heading if len(heading) <= MAX_HEADING else heading[: MAX_HEADING - 1] + "…"

    def sweep_standalone(self) -> None:
        """Documents of this stream of its own, from syncs before it was composed, go under its rule (its
        sections live in the parent's documents, whose ids never carry this stream's prefix)."""
        assert self.rule is not None
        result = sweep_documents(self.ctx.client, [DocumentCleanup(self.stream.key, self.rule, None)])
        self.ctx.stats.count_deleted(self.stream.key, "documents", "clean-up", result.deleted)
        if result.deleted:
            logger.info(
                "stream %s is composed into %s now: its %d documents of its own from earlier syncs were removed "
                "(%s clean-up)",
                self.stream.key,
                self.composition.parent_key,
                result.deleted,
                self.rule.describe(),
            )


class GroupSink(ChildSink):
    """A stream with `group_by` (and `group_period`): records sharing the group's values (and period of their
    time) are the sections of one document, e.g. a channel's messages of a day. The document has no parent
    record: its title names the group, and it disappears when its last record is deleted."""

    def _group(self, data: Mapping[str, Any], emitted_at: int | None) -> tuple[list[Any], str | None]:
        values = [lookup(data, path) for path in self.settings.group_by]
        period = self.settings.group_period
        if period is None:
            return values, None
        epoch = self.renderer.record_time(data, emitted_at)
        return values, (period_label(epoch, period) if epoch is not None else "undated")

    def _parent_id(self, data: Mapping[str, Any], emitted_at: int | None) -> str | None:
        values, period = self._group(data, emitted_at)
        key = [*values, period] if period is not None else values
        return ids.document_id(self.composition.parent_key, key, data)

    def _placeholder_title(self, data: Mapping[str, Any], emitted_at: int | None) -> str:
        values, period = self._group(data, emitted_at)
        named = ", ".join(
            f"{path} {_value_text(v)}" for path, v in zip(self.settings.group_by, values, strict=True)
        )
        return f"{self.stream.name}: {named}" + (f" ({period})" if period else "")


def period_label(epoch: int, period: str) -> str:
    """`2024-11-18` (day), `2024-W47` (ISO week) or `2024-11` (month) of an epoch-ms time, in UTC."""
    moment = dt.datetime.fromtimestamp(epoch / 1000, tz=dt.timezone.utc)
    if period == "day":
        return moment.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    return moment.strftime("%Y-%m")


def _value_text(value: Any) -> str:
    return single_line(scalar_text(value, REPLACEMENT)) if value is not None else "null"


def _text(value: Any) -> str:
    if value is None or isinstance(value, (Mapping, list, tuple)):
        return ""
    return scalar_text(value, REPLACEMENT)


def _reset(pending: Pending) -> None:
    pending.reset, pending.parent, pending.children = True, None, {}


def _set_parent(pending: Pending, part: ParentPart) -> None:
    pending.parent = part


def _set_child(pending: Pending, key: str, child: Child | None, title: str | None = None) -> None:
    pending.children.pop(key, None)
    pending.children[key] = child
    if title is not None and pending.placeholder_title is None:
        pending.placeholder_title = title


def composed_sinks(
    streams: Mapping[StreamKey, StreamConfig], ctx: SinkContext
) -> dict[StreamKey, StreamSink]:
    """The sinks of every composed stream and of their parents (none when no `streams` entry composes)."""
    groups, by_parent = compositions(streams, ctx.config)
    sinks: dict[StreamKey, StreamSink] = {}
    for stream, settings in groups:  # a group's document is its own stream's: no parent
        sinks[stream.key] = GroupSink(stream, ctx, Composition(ctx, stream.key, None, []), settings)
    for parent_key, members in by_parent.items():
        parent = streams.get(parent_key)
        composition = Composition(ctx, parent_key, parent, [s.key for s, _ in members])
        if parent is not None:
            sinks[parent_key] = ParentSink(parent, ctx, composition)
        for stream, settings in members:
            sinks[stream.key] = ChildSink(stream, ctx, composition, settings)
    return sinks


Members = list[tuple[StreamConfig, StreamSettings]]


def compositions(
    streams: Mapping[StreamKey, StreamConfig], config: DustConfig
) -> tuple[Members, dict[StreamKey, Members]]:
    """The catalog's grouped streams, and its composed streams by parent; ConfigError when a composition
    does not fit the catalog (`write` checks it before anything is sent, `check --catalog` too)."""
    groups: Members = []
    by_parent: dict[StreamKey, Members] = {}
    for key, stream in streams.items():
        settings = config.settings(key.namespace, key.name)
        if settings is None or not settings.composed:
            continue
        if settings.group_by:
            groups.append((stream, settings))
            continue
        parent_key = _parent_key(streams, str(settings.parent_stream))
        parent = streams.get(parent_key)
        if parent is not None:
            _check_parent(parent, stream, settings)
        by_parent.setdefault(parent_key, []).append((stream, settings))
    return groups, by_parent


def _parent_key(streams: Mapping[StreamKey, StreamConfig], name: str) -> StreamKey:
    """The catalog stream `name` designates (`namespace.stream` or a bare name); a stream not in the catalog
    keeps its name: its documents are made by the children alone until it is synced."""
    matches = [key for key in streams if str(key) == name] or [key for key in streams if key.name == name]
    return matches[0] if matches else StreamKey(None, name)


def _check_parent(parent: StreamConfig, child: StreamConfig, settings: StreamSettings) -> None:
    if not parent.primary_key:
        raise ConfigError(
            f"streams entry {settings.name!r}: its parent stream {str(parent.key)!r} has no primary key, so its "
            "documents cannot be found again. Set a primary key on the parent stream in the connection"
        )
    if len(parent.primary_key) != len(settings.parent_key):
        raise ConfigError(
            f"streams entry {settings.name!r}: parent_key has {len(settings.parent_key)} paths but the primary "
            f"key of {str(parent.key)!r} has {len(parent.primary_key)} "
            f"({', '.join('.'.join(p) for p in parent.primary_key)}). Give one path per parent key field, "
            "in the same order"
        )
    if parent.data_format != "documents" or child.data_format != "documents":
        raise ConfigError(
            f"streams entry {settings.name!r}: composed streams and their parent are written as documents. "
            "Remove data_format 'tables' from them"
        )
